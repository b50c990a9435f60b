"""Drivers that execute :mod:`~airflow_provider_oac.auth.protocol` over HTTP.

Sync functions take a ``requests.Session`` and go through :func:`airflow_provider_oac._http.send`
(the hook and the CLI); ``a``-prefixed ones take an ``httpx.AsyncClient`` and go through
:func:`~airflow_provider_oac._http.asend` (triggers). Every decision is made in ``protocol``;
these only send, wait and loop. Clocks and sleeps are injectable so tests take no real time.

Nothing here logs or raises a device code or a token.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from airflow_provider_oac._http import DEFAULT_TIMEOUT, asend, send
from airflow_provider_oac.auth.protocol import (
    DeviceAuthorization,
    Granted,
    IAMEndpoints,
    PollResult,
    PollState,
    device_authorization_request,
    device_code_expired,
    device_token_request,
    read_device_authorization,
    read_device_poll,
    read_revoke_response,
    read_token_response,
    refresh_failure,
    refresh_request,
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
    import httpx
    import requests

Timeout = float | tuple[float, float]

#: Longest pause between device polls while IAM is unreachable (RFC 8628 §3.5: back off).
MAX_POLL_BACKOFF = 60.0
#: A refresh gives up instead of waiting longer than this for one retry (e.g. a long Retry-After):
#: the caller (a task, a trigger) is better placed to decide to wait that long.
MAX_REFRESH_DELAY = 60.0


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
        delay = state.interval


def device_poll_backoff(
    interval: float, failures: int, error: OACTokenEndpointUnavailable | OACTransportError
) -> float:
    """Seconds until the next device poll after ``failures`` polls in a row that IAM did not
    answer (``error``: the last one). RFC 8628 §3.5: back off exponentially, up to
    :data:`MAX_POLL_BACKOFF` beyond the interval, honouring ``Retry-After``; the interval stays the
    floor, so backing off only ever makes polls rarer."""
    retry_after = error.retry_after if isinstance(error, OACTokenEndpointUnavailable) else None
    return interval + token_endpoint_backoff(failures, retry_after, base=interval, cap=MAX_POLL_BACKOFF)


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
    request = refresh_request(endpoints, client_id, refresh_token, scope)
    for attempt in range(1, max_attempts + 1):
        if before_attempt is not None:
            before_attempt()
        sent_at = now()
        try:
            response = send(session, request, timeout=timeout)
            return read_token_response(
                response,
                sent_at,
                previous_refresh_token=refresh_token,
                refresh_token_lifetime=refresh_token_lifetime,
            )
        except (OACTokenEndpointUnavailable, OACTransportError) as exc:
            error = refresh_failure(exc)
            delay = _refresh_retry_delay(error, attempt, max_attempts)
            if delay is None:
                if error is exc:
                    raise
                raise error from exc
            sleep(delay)
    raise AssertionError("unreachable: the last attempt returns or raises")


async def arefresh_tokens(
    client: httpx.AsyncClient,
    endpoints: IAMEndpoints,
    client_id: str,
    refresh_token: str,
    *,
    scope: str | None = None,
    max_attempts: int = 5,
    sleep: Callable[[float], Awaitable[object]] | None = None,
    now: Callable[[], float] = time.time,
    refresh_token_lifetime: float = DEFAULT_REFRESH_TOKEN_LIFETIME,
    timeout: Timeout = DEFAULT_TIMEOUT,
    before_attempt: Callable[[], object] | None = None,
) -> TokenSet:
    """:func:`refresh_tokens` for async code, with httpx; ``sleep`` defaults to ``asyncio.sleep``.
    The same retry rule applies: a refresh token that may have been spent is never replayed."""
    if sleep is None:
        import asyncio

        sleep = asyncio.sleep
    request = refresh_request(endpoints, client_id, refresh_token, scope)
    for attempt in range(1, max_attempts + 1):
        if before_attempt is not None:
            before_attempt()
        sent_at = now()
        try:
            response = await asend(client, request, timeout=timeout)
            return read_token_response(
                response,
                sent_at,
                previous_refresh_token=refresh_token,
                refresh_token_lifetime=refresh_token_lifetime,
            )
        except (OACTokenEndpointUnavailable, OACTransportError) as exc:
            error = refresh_failure(exc)
            delay = _refresh_retry_delay(error, attempt, max_attempts)
            if delay is None:
                if error is exc:
                    raise
                raise error from exc
            await sleep(delay)
    raise AssertionError("unreachable: the last attempt returns or raises")


def _refresh_retry_delay(error: OACTokenEndpointUnavailable, attempt: int, max_attempts: int) -> float | None:
    """Seconds before the next refresh attempt, or None to raise ``error`` now."""
    if error.refresh_token_maybe_spent or attempt >= max_attempts:
        return None
    delay = token_endpoint_backoff(attempt, error.retry_after)
    return delay if delay <= MAX_REFRESH_DELAY else None


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


async def arevoke_refresh_token(
    client: httpx.AsyncClient,
    endpoints: IAMEndpoints,
    client_id: str,
    refresh_token: str,
    *,
    timeout: Timeout = DEFAULT_TIMEOUT,
) -> bool:
    """:func:`revoke_refresh_token` for async code, with httpx."""
    request = revoke_request(endpoints, client_id, refresh_token)
    try:
        return read_revoke_response(await asend(client, request, timeout=timeout))
    except OACTransportError:
        return False


__all__ = [
    "arefresh_tokens",
    "arevoke_refresh_token",
    "device_poll_backoff",
    "poll_device_login",
    "poll_once",
    "refresh_tokens",
    "revoke_refresh_token",
    "start_device_login",
]
