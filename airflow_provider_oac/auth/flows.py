"""Drivers that execute :mod:`~airflow_provider_oac.auth.protocol` over HTTP with requests.

They take a ``requests.Session`` and go through :func:`airflow_provider_oac._http.send` (the hook,
the CLI and the UI page; a trigger refreshes through the hook's token manager in a thread). Every
decision is made in ``protocol``; these only send, wait and loop. Clocks and sleeps are
injectable so tests take no real time.

Nothing here logs or raises a device code or a token.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from airflow_provider_oac._http import DEFAULT_TIMEOUT, Now, Send, run_flow, send
from airflow_provider_oac.auth.protocol import (
    MAX_POLL_BACKOFF,
    MAX_REFRESH_DELAY,
    DeviceAuthorization,
    Granted,
    IAMEndpoints,
    PollResult,
    PollState,
    device_authorization_request,
    device_code_expired,
    device_poll_delay,
    device_token_request,
    read_device_authorization,
    read_device_poll,
    read_revoke_response,
    refresh_flow,
    revoke_request,
    token_endpoint_backoff,
)
from airflow_provider_oac.auth.tokens import DEFAULT_REFRESH_TOKEN_LIFETIME, TokenSet
from airflow_provider_oac.errors import (
    OACDeviceFlowError,
    OACTokenEndpointUnavailable,
    OACTransportError,
)

if TYPE_CHECKING:
    import requests

Timeout = float | tuple[float, float]

__all__ = [
    "MAX_POLL_BACKOFF",
    "MAX_REFRESH_DELAY",
    "device_poll_backoff",
    "poll_device_login",
    "poll_once",
    "refresh_tokens",
    "revoke_refresh_token",
    "start_device_login",
]


# --- device login --------------------------------------------------------------------------------


def start_device_login(
    session: requests.Session,
    endpoints: IAMEndpoints,
    client_id: str,
    scope: str,
    *,
    now: Callable[[], float] = time.time,
    timeout: Timeout = DEFAULT_TIMEOUT,
    max_attempts: int = 5,
    sleep: Callable[[float], None] = time.sleep,
) -> DeviceAuthorization:
    """Ask IAM for a device login: show the person ``user_code`` and ``verification_uri``, then
    call :func:`poll_device_login`. Bad ``client_id``/``scope`` raise :class:`OACConfigError`
    before anything is sent.

    IAM overloaded or unreachable (429, 5xx, a failed connection) is retried with jittered
    backoff (``Retry-After`` honoured), up to ``max_attempts``: asking again is harmless, an
    unanswered request leaves at most an unused code at IAM."""
    request = device_authorization_request(endpoints, client_id, scope)
    for attempt in range(1, max_attempts + 1):
        sent_at = now()
        try:
            return read_device_authorization(
                send(session, request, timeout=timeout), sent_at, scope=(request.form or {}).get("scope")
            )
        except (OACTokenEndpointUnavailable, OACTransportError) as exc:
            retry_after = exc.retry_after if isinstance(exc, OACTokenEndpointUnavailable) else None
            delay = token_endpoint_backoff(attempt, retry_after)
            if attempt >= max_attempts or delay > MAX_REFRESH_DELAY:
                raise
            sleep(delay)
    raise AssertionError("unreachable: the last attempt returns or raises")


def poll_once(
    session: requests.Session,
    endpoints: IAMEndpoints,
    client_id: str,
    device_code: str,
    state: PollState,
    *,
    now: Callable[[], float] = time.time,
    refresh_token_lifetime: float = DEFAULT_REFRESH_TOKEN_LIFETIME,
    timeout: Timeout = DEFAULT_TIMEOUT,
) -> PollResult:
    """Exactly one poll, for callers that keep :class:`PollState` themselves (a web page that
    polls on each request). The caller must wait ``result.state.interval`` before the next poll;
    errors are those of :func:`~airflow_provider_oac.auth.protocol.read_device_poll`, plus
    :class:`OACTransportError`."""
    request = device_token_request(endpoints, client_id, device_code)
    sent_at = now()
    if sent_at >= state.deadline:
        raise device_code_expired()
    response = send(session, request, timeout=timeout)
    return read_device_poll(
        response, state, sent_at, refresh_token_lifetime=refresh_token_lifetime, device_code=device_code
    )


def poll_device_login(
    session: requests.Session,
    endpoints: IAMEndpoints,
    client_id: str,
    authorization: DeviceAuthorization,
    *,
    sleep: Callable[[float], None] = time.sleep,
    now: Callable[[], float] = time.time,
    on_tick: Callable[[float], None] | None = None,
    cancel: threading.Event | None = None,
    refresh_token_lifetime: float = DEFAULT_REFRESH_TOKEN_LIFETIME,
    timeout: Timeout = DEFAULT_TIMEOUT,
) -> TokenSet:
    """Poll until the person approves, declines, or the code expires; return the tokens.

    Waits ``authorization.interval`` before every poll (the first one too); a ``slow_down``
    adds 5 s to that for good. While IAM is unreachable, rate limiting or failing, the pause
    grows exponentially (RFC 8628 §3.5), up to a minute. ``on_tick(seconds_left)`` is called
    at least once a second while waiting, with the seconds until the code expires, so a CLI can
    draw a countdown. Setting ``cancel`` stops within a second.

    Raises :class:`OACAccessDenied`, :class:`OACDeviceCodeExpired`, :class:`OACDeviceFlowError`
    (IAM said stop, or cancelled), :class:`OACAuthError`.
    """
    state = authorization.poll_state()
    failures = 0
    delay = state.interval
    while True:
        _wait(delay, state.deadline, sleep=sleep, now=now, on_tick=on_tick, cancel=cancel)
        try:
            result = poll_once(
                session,
                endpoints,
                client_id,
                authorization.device_code,
                state,
                now=now,
                refresh_token_lifetime=refresh_token_lifetime,
                timeout=timeout,
            )
        except (OACTokenEndpointUnavailable, OACTransportError) as exc:
            failures += 1
            delay = device_poll_backoff(state.interval, failures, exc)
            continue
        if isinstance(result, Granted):
            return result.tokens
        failures = 0
        state = result.state
        delay = device_poll_delay(state.interval)


def device_poll_backoff(
    interval: float, failures: int, error: OACTokenEndpointUnavailable | OACTransportError
) -> float:
    """Seconds until the next device poll after ``failures`` polls in a row that IAM did not
    answer (``error``: the last one). RFC 8628 §3.5: back off exponentially, up to
    :data:`MAX_POLL_BACKOFF` beyond the interval, honouring ``Retry-After``; the interval stays the
    floor, so backing off only ever makes polls rarer."""
    retry_after = error.retry_after if isinstance(error, OACTokenEndpointUnavailable) else None
    return device_poll_delay(interval, failures, retry_after)


def _wait(
    seconds: float,
    deadline: float,
    *,
    sleep: Callable[[float], None],
    now: Callable[[], float],
    on_tick: Callable[[float], None] | None,
    cancel: threading.Event | None,
) -> None:
    """Sleep ``seconds`` in slices of at most one second, ticking and watching ``cancel``;
    raise :class:`OACDeviceCodeExpired` if ``deadline`` comes first."""
    until = now() + seconds
    while True:
        if cancel is not None and cancel.is_set():
            raise OACDeviceFlowError("The device login was cancelled before it was approved.")
        current = now()
        if current >= deadline:
            raise device_code_expired()
        if current >= until:
            return
        if on_tick is not None:
            on_tick(deadline - current)
        sleep(min(1.0, until - current, deadline - current))


# --- refresh -------------------------------------------------------------------------------------


def refresh_tokens(
    session: requests.Session,
    endpoints: IAMEndpoints,
    client_id: str,
    refresh_token: str,
    *,
    scope: str | None = None,
    max_attempts: int = 5,
    sleep: Callable[[float], None] = time.sleep,
    now: Callable[[], float] = time.time,
    refresh_token_lifetime: float = DEFAULT_REFRESH_TOKEN_LIFETIME,
    timeout: Timeout = DEFAULT_TIMEOUT,
    before_attempt: Callable[[], object] | None = None,
) -> TokenSet:
    """Trade ``refresh_token`` for new tokens. Store the returned ``refresh_token`` before using
    the access token: IAM's refresh tokens are one-time, the old one is dead once this returns.

    Retries, with jittered exponential backoff (and ``Retry-After``), only failures that prove
    IAM did not consume the refresh token: HTTP 429, HTTP 503, and connections that never
    carried the request. Any other failure — 500, 502, 504, an unreadable answer, a timeout
    after sending — may have spent the token, so it is NOT sent again: the raised
    :class:`OACTokenEndpointUnavailable` has ``refresh_token_maybe_spent=True`` and the caller
    (the token store) decides. It is also raised, with ``refresh_token_maybe_spent=False``,
    after ``max_attempts`` or when the server asks to wait longer than a minute.

    Raises :class:`OACLoginRequired` when the login is gone (``invalid_grant``...: a new device
    login is needed), :class:`OACAuthError` for other IAM refusals, :class:`OACConfigError` for
    bad input before anything is sent.

    ``before_attempt``, if given, is called before *every* attempt (a retry too: the backoff can
    be long) and may raise to stop before the token is presented again, e.g. when the caller no
    longer holds the lock that makes it the only one allowed to present this token.
    """
    flow = refresh_flow(
        endpoints,
        client_id,
        refresh_token,
        scope=scope,
        max_attempts=max_attempts,
        refresh_token_lifetime=refresh_token_lifetime,
    )

    def execute(step: Any) -> Any:
        if isinstance(step, Send):
            if before_attempt is not None:
                before_attempt()
            return send(session, step.request, timeout=timeout)
        if isinstance(step, Now):
            return now()
        return sleep(step.seconds)

    return run_flow(flow, execute)


# --- revocation ----------------------------------------------------------------------------------


def revoke_refresh_token(
    session: requests.Session,
    endpoints: IAMEndpoints,
    client_id: str,
    refresh_token: str,
    *,
    timeout: Timeout = DEFAULT_TIMEOUT,
) -> bool:
    """Ask IAM to revoke ``refresh_token``; True when it confirmed. Never raises for IAM's answer
    or the network: a logout deletes the local tokens whatever this returns."""
    request = revoke_request(endpoints, client_id, refresh_token)
    try:
        return read_revoke_response(send(session, request, timeout=timeout))
    except OACTransportError:
        return False
