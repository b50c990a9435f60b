"""OAuth against an OCI IAM identity domain, as plain data: RFC 8628 device login and refresh.

Every function here builds an :class:`~airflow_provider_oac._http.HTTPRequest`, reads an
:class:`~airflow_provider_oac._http.HTTPResponse`, or (:func:`refresh_flow`) is a step generator
that asks for the sends, sleeps and clock readings it needs; none does I/O or reads a clock.
:mod:`airflow_provider_oac.auth.flows` executes them with requests.

Error mapping, shared by every caller:

- ``invalid_grant`` / ``invalid_token`` / ``unauthorized_client`` on refresh → :class:`OACLoginRequired`.
- 429, 5xx, HTML pages, unreadable JSON → :class:`OACTokenEndpointUnavailable` (temporary).
- ``access_denied`` / ``expired_token`` / any other code while polling → :class:`OACDeviceFlowError`
  subclasses (RFC 8628 §3.5: stop polling).
- Other OAuth errors → :class:`OACAuthError` carrying IAM's ``error`` and ``error_description``.

Device codes and tokens never reach an exception message: IAM's description is cut to one line
and any secret the caller presented is blanked out of it.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Generator
from dataclasses import dataclass, field, replace
from typing import Any, TypeAlias

from airflow_provider_oac._http import (
    HTTPRequest,
    HTTPResponse,
    Now,
    Send,
    Sleep,
    backoff,
    parse_json,
    parse_retry_after,
)
from airflow_provider_oac.auth.tokens import (
    DEFAULT_REFRESH_TOKEN_LIFETIME,
    TokenSet,
    access_token_expiry,
    decode_jwt_claims,
)
from airflow_provider_oac.errors import (
    OACAccessDenied,
    OACAuthError,
    OACDeviceCodeExpired,
    OACDeviceFlowError,
    OACLoginRequired,
    OACResponseError,
    OACTokenEndpointUnavailable,
    OACTransportError,
)
from airflow_provider_oac.validation import (
    SCOPE_HINT,
    require_text,
    validate_client_id,
    validate_iam_url,
    validate_positive_number,
    validate_scope,
    validate_service_url,
)

DEVICE_CODE_GRANT_TYPE = "urn:ietf:params:oauth:grant-type:device_code"

#: RFC 8628 §3.2: "If no value is provided, clients MUST use 5 as the default."
DEFAULT_POLL_INTERVAL = 5.0
#: RFC 8628 §3.5: ``slow_down`` adds 5 seconds "for this and all subsequent requests".
SLOW_DOWN_STEP = 5.0
#: IAM documents ``expires_in`` as required and sends 300 in every example; used only if it is missing.
DEFAULT_DEVICE_CODE_LIFETIME = 300.0
#: Longest extra pause between device polls while IAM is unreachable (RFC 8628 §3.5: back off).
MAX_POLL_BACKOFF = 60.0
#: A refresh gives up instead of waiting longer than this for one retry (e.g. a long Retry-After):
#: the caller (a task, a trigger) is better placed to decide to wait that long.
MAX_REFRESH_DELAY = 60.0

DEVICE_PATH = "/oauth2/v1/device"
TOKEN_PATH = "/oauth2/v1/token"
REVOKE_PATH = "/oauth2/v1/revoke"

_DOMAIN_EXAMPLE = "https://idcs-0123456789abcdef.identity.oraclecloud.com"
_FORM_HEADERS = {"Accept": "application/json"}
_MAX_SECRET = 16384
_MAX_DESCRIPTION = 300

_CLIENT_FIX = (
    "check the client id, and that the IAM application is a public (mobile) application with the "
    "Device Code and Refresh Token grants allowed, and that it is activated"
)
_SCOPE_FIX = SCOPE_HINT
# Refresh errors that mean the refresh token itself is dead: only a new device login helps.
_LOGIN_GONE_ERRORS = frozenset({"invalid_grant", "invalid_token", "unauthorized_client"})


# --- endpoints -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IAMEndpoints:
    """Where an identity domain's device, token and revocation endpoints live."""

    device_url: str
    token_url: str
    revoke_url: str

    @classmethod
    def for_domain(
        cls,
        iam_url: str,
        *,
        device_url: str | None = None,
        token_url: str | None = None,
        revoke_url: str | None = None,
    ) -> IAMEndpoints:
        """Oracle's fixed paths under the identity domain URL; each one can be overridden.

        IAM's discovery document lacks the device endpoint and names a different issuer, so the
        URLs are built here instead of discovered. Raises :class:`OACConfigError` for bad URLs.
        """
        domain = validate_iam_url(iam_url)
        return cls(
            device_url=_override(device_url, "device endpoint URL") or domain + DEVICE_PATH,
            token_url=_override(token_url, "token endpoint URL") or domain + TOKEN_PATH,
            revoke_url=_override(revoke_url, "revocation endpoint URL") or domain + REVOKE_PATH,
        )


def _override(value: str | None, what: str) -> str | None:
    if value is None:
        return None
    return validate_service_url(value, what, _DOMAIN_EXAMPLE + TOKEN_PATH)


# --- device authorization (RFC 8628 §3.1-3.3) ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeviceAuthorization:
    """IAM's answer to a device login request: what to show the person and how to poll."""

    device_code: str = field(repr=False)
    #: The code the person types on :attr:`verification_uri`.
    user_code: str
    verification_uri: str
    #: The page with the code already filled in, when IAM sends one (it is not documented to).
    verification_uri_complete: str | None
    #: Epoch seconds after which the codes are dead.
    expires_at: float
    #: Seconds to wait between polls; 5 when IAM sent none (RFC 8628 §3.2).
    interval: float = DEFAULT_POLL_INTERVAL
    interval_was_sent: bool = False

    def seconds_left(self, now: float) -> float:
        return max(self.expires_at - now, 0.0)

    def poll_state(self) -> PollState:
        """The state to start polling with."""
        return PollState(interval=self.interval, deadline=self.expires_at)


def device_authorization_request(endpoints: IAMEndpoints, client_id: str, scope: str) -> HTTPRequest:
    """The request that starts a device login. Checks ``client_id`` and ``scope`` first
    (``offline_access`` is added to the scope when missing: refresh tokens need it)."""
    client_id = validate_client_id(client_id)
    scope = validate_scope(scope)
    return HTTPRequest(
        "POST",
        endpoints.device_url,
        headers=dict(_FORM_HEADERS),
        # response_type is IAM's own addition to RFC 8628, and required by it.
        form={"client_id": client_id, "response_type": "device_code", "scope": scope},
    )


def read_device_authorization(
    response: HTTPResponse, now: float, *, scope: str | None = None
) -> DeviceAuthorization:
    """IAM's device authorization answer, or the error that explains why there is none.

    ``now`` is the epoch time the request was sent; ``scope``, the scope it asked for (named in
    the ``invalid_scope`` message). Raises :class:`OACTokenEndpointUnavailable`
    (429, 5xx), :class:`OACAuthError` (IAM's OAuth error, with a hint for ``invalid_client`` and
    ``invalid_scope``) or :class:`OACResponseError` (HTML or unreadable answer).
    """
    what = "IAM's device login answer"
    _raise_if_unavailable(response, what, now)
    payload = parse_json(response, what)
    if not isinstance(payload, dict):
        raise OACResponseError(
            f"{what} was not a JSON object (HTTP {response.status}).", status=response.status
        )
    if not 200 <= response.status < 300 or "error" in payload:
        raise _device_authorization_error(response, payload, scope)

    device_code = payload.get("device_code")
    user_code = payload.get("user_code")
    # "verification_url" is an older draft's (and Google's) spelling; accepting it costs nothing.
    verification_uri = payload.get("verification_uri") or payload.get("verification_url")
    for name, value in (
        ("device_code", device_code),
        ("user_code", user_code),
        ("verification_uri", verification_uri),
    ):
        if not isinstance(value, str) or not value.strip():
            raise OACResponseError(f"{what} has no {name} (HTTP {response.status}).", status=response.status)
    assert isinstance(device_code, str) and isinstance(user_code, str) and isinstance(verification_uri, str)

    complete = payload.get("verification_uri_complete")
    expires_in = _positive_seconds(payload.get("expires_in"))
    interval = _positive_seconds(payload.get("interval"))
    return DeviceAuthorization(
        device_code=device_code,
        user_code=user_code.strip(),
        verification_uri=verification_uri.strip(),
        verification_uri_complete=complete.strip()
        if isinstance(complete, str) and complete.strip()
        else None,
        expires_at=now + (expires_in if expires_in is not None else DEFAULT_DEVICE_CODE_LIFETIME),
        interval=interval if interval is not None else DEFAULT_POLL_INTERVAL,
        interval_was_sent=interval is not None,
    )


def _device_authorization_error(
    response: HTTPResponse, payload: dict[str, Any], scope: str | None = None
) -> OACAuthError:
    error, description = _oauth_error(payload)
    said = _iam_said(error, description, response.status)
    if error == "invalid_client":
        message = f"IAM rejected the client ({said}): {_CLIENT_FIX}."
    elif error == "unauthorized_client":
        message = (
            f"IAM does not let this client use the device login ({said}): allow the Device Code "
            "grant in the IAM application's OAuth configuration."
        )
    elif error == "invalid_scope":
        asked = f" {scope!r}" if scope else ""
        message = f"IAM rejected the scope{asked} ({said}): {_SCOPE_FIX}."
    else:
        message = f"IAM refused to start the device login ({said})."
    return OACAuthError(message, error=error, error_description=description, status=response.status)


# --- polling (RFC 8628 §3.4-3.5) -----------------------------------------------------------------


def device_token_request(endpoints: IAMEndpoints, client_id: str, device_code: str) -> HTTPRequest:
    """One poll of the token endpoint for a device login."""
    client_id = validate_client_id(client_id)
    device_code = require_text(device_code, "device code", "start a new device login", max_length=_MAX_SECRET)
    return HTTPRequest(
        "POST",
        endpoints.token_url,
        headers=dict(_FORM_HEADERS),
        form={"grant_type": DEVICE_CODE_GRANT_TYPE, "device_code": device_code, "client_id": client_id},
    )


@dataclass(frozen=True, slots=True)
class PollState:
    """What a poller must remember between polls: the current interval and when the code dies."""

    #: Seconds to wait before the next poll; only ever grows (``slow_down``).
    interval: float
    #: Epoch seconds when the device code expires.
    deadline: float

    def slowed_down(self) -> PollState:
        return replace(self, interval=self.interval + SLOW_DOWN_STEP)


@dataclass(frozen=True, slots=True)
class Pending:
    """The person has not approved yet (``authorization_pending``): poll again after ``state.interval``."""

    state: PollState


@dataclass(frozen=True, slots=True)
class SlowDown:
    """IAM asked to poll less often (``slow_down``): ``state.interval`` already includes the extra
    5 seconds, and every later poll must keep it."""

    state: PollState


@dataclass(frozen=True, slots=True)
class Granted:
    """The person approved: the tokens."""

    tokens: TokenSet


PollResult: TypeAlias = Pending | SlowDown | Granted


def read_device_poll(
    response: HTTPResponse,
    state: PollState,
    now: float,
    *,
    refresh_token_lifetime: float = DEFAULT_REFRESH_TOKEN_LIFETIME,
    device_code: str | None = None,
) -> PollResult:
    """What one poll answer means, per RFC 8628 §3.5.

    ``now`` is the epoch time the poll was sent. Returns :class:`Pending`, :class:`SlowDown` or
    :class:`Granted`. Raises :class:`OACAccessDenied`, :class:`OACDeviceCodeExpired` (also when
    ``now`` is past ``state.deadline``), :class:`OACDeviceFlowError` for any other OAuth error
    (the RFC says stop polling) and :class:`OACTokenEndpointUnavailable` for 429, 5xx and
    unreadable answers (poll less often, RFC 8628 §3.5). ``device_code``, when given, is
    blanked out of any IAM text that would otherwise reach an error message.

    IAM does not document its polling statuses; the RFC's codes are accepted with any 4xx.
    """
    secrets = (device_code,)
    what = "IAM's answer to the device login poll"
    _raise_if_unavailable(response, what, now)
    payload = _token_endpoint_json(response, what)
    if 200 <= response.status < 300 and "error" not in payload:
        tokens = _token_set(response, payload, now, None, refresh_token_lifetime)
        return Granted(tokens)

    error, description = _oauth_error(payload, secrets)
    said = _iam_said(error, description, response.status)
    if error in ("authorization_pending", "slow_down"):
        if now >= state.deadline:
            raise _expired(said, error, description, response.status)
        return Pending(state) if error == "authorization_pending" else SlowDown(state.slowed_down())
    if error == "access_denied":
        raise OACAccessDenied(
            f"The device login was declined in the browser ({said}): run the login again to retry.",
            error=error,
            error_description=description,
            status=response.status,
        )
    if error == "expired_token":
        raise _expired(said, error, description, response.status)
    raise OACDeviceFlowError(
        f"IAM ended the device login ({said}): start a new login.",
        error=error,
        error_description=description,
        status=response.status,
    )


def _expired(
    said: str, error: str | None, description: str | None, status: int | None
) -> OACDeviceCodeExpired:
    return OACDeviceCodeExpired(
        f"The login code expired before it was approved ({said}): run the login again and enter the "
        "new code within its lifetime.",
        error=error,
        error_description=description,
        status=status,
    )


def device_poll_delay(
    interval: float,
    failures: int = 0,
    retry_after: float | None = None,
    *,
    rand: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait before the next device poll.

    ``interval`` is the poll state's (IAM's, plus 5 s for every ``slow_down``: RFC 8628 §3.5).
    While IAM answers, that is the wait. After ``failures`` failed polls in a row (IAM
    unreachable, 429, 5xx) it is the interval plus a jittered backoff that starts at the interval
    and grows up to :data:`MAX_POLL_BACKOFF` (or IAM's ``Retry-After``): backing off only ever
    makes polls rarer, never more frequent than the interval.
    """
    if failures <= 0:
        return interval
    return interval + token_endpoint_backoff(
        failures, retry_after, base=interval, cap=MAX_POLL_BACKOFF, rand=rand
    )


def device_code_expired() -> OACDeviceCodeExpired:
    """The error a poller raises when it reaches its deadline without an answer."""
    return OACDeviceCodeExpired(
        "The login code expired before it was approved: run the login again and enter the new code "
        "within its lifetime.",
        error="expired_token",
    )


# --- refresh (RFC 6749 §6) and token responses ---------------------------------------------------


def refresh_request(
    endpoints: IAMEndpoints, client_id: str, refresh_token: str, scope: str | None = None
) -> HTTPRequest:
    """The refresh-token grant. IAM's refresh tokens are one-time: see
    :func:`~airflow_provider_oac.auth.flows.refresh_tokens` before sending this twice."""
    client_id = validate_client_id(client_id)
    refresh_token = require_text(
        refresh_token, "refresh token", "run the device login again", max_length=_MAX_SECRET
    )
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": client_id}
    if scope is not None:
        form["scope"] = validate_scope(scope)
    return HTTPRequest("POST", endpoints.token_url, headers=dict(_FORM_HEADERS), form=form)


def refresh_flow(
    endpoints: IAMEndpoints,
    client_id: str,
    refresh_token: str,
    *,
    scope: str | None = None,
    max_attempts: int = 5,
    refresh_token_lifetime: float = DEFAULT_REFRESH_TOKEN_LIFETIME,
    rand: Callable[[], float] = random.random,
) -> Generator[Send | Sleep | Now, Any, TokenSet]:
    """The steps of one refresh (:class:`Now` is epoch seconds); returns the new tokens.

    Retries, with :func:`token_endpoint_backoff`, only failures that prove IAM did not consume
    the one-time refresh token (:func:`refresh_failure`), and never waits longer than
    :data:`MAX_REFRESH_DELAY`; otherwise raises as
    :func:`~airflow_provider_oac.auth.flows.refresh_tokens` documents. Bad input raises
    :class:`OACConfigError` before the first step.
    """
    request = refresh_request(endpoints, client_id, refresh_token, scope)
    for attempt in range(1, max_attempts + 1):
        sent_at = yield Now()
        try:
            response = yield Send(request)
            return read_token_response(
                response,
                sent_at,
                previous_refresh_token=refresh_token,
                refresh_token_lifetime=refresh_token_lifetime,
            )
        except (OACTokenEndpointUnavailable, OACTransportError) as exc:
            error = refresh_failure(exc)
            delay = None
            if not error.refresh_token_maybe_spent and attempt < max_attempts:
                delay = token_endpoint_backoff(attempt, error.retry_after, rand=rand)
            if delay is None or delay > MAX_REFRESH_DELAY:
                if error is exc:
                    raise
                raise error from exc
            yield Sleep(delay)
    raise AssertionError("unreachable: the last attempt returns or raises")


def read_token_response(
    response: HTTPResponse,
    now: float,
    *,
    previous_refresh_token: str | None = None,
    refresh_token_lifetime: float = DEFAULT_REFRESH_TOKEN_LIFETIME,
) -> TokenSet:
    """The tokens in a token endpoint answer (refresh, or a granted device poll).

    ``now`` is the epoch time the request was sent. The access token's expiry comes from
    ``expires_in``, else the JWT ``exp``. The refresh token is the new one when IAM sent one,
    else ``previous_refresh_token`` (RFC 6749 §6); its expiry is estimated as ``now +
    refresh_token_lifetime`` because IAM restarts the lifetime at each refresh and never says.

    Raises :class:`OACLoginRequired` (``invalid_grant``, ``invalid_token``,
    ``unauthorized_client``: IAM's text is on ``error_description``),
    :class:`OACTokenEndpointUnavailable` (429 with ``retry_after``, 5xx, HTML, unreadable JSON:
    temporary, never a dead login) or :class:`OACAuthError` for other OAuth errors.
    """
    secrets = (previous_refresh_token,)
    what = "IAM's token answer"
    _raise_if_unavailable(response, what, now)
    payload = _token_endpoint_json(response, what)
    if 200 <= response.status < 300 and "error" not in payload:
        return _token_set(response, payload, now, previous_refresh_token, refresh_token_lifetime)

    error, description = _oauth_error(payload, secrets)
    said = _iam_said(error, description, response.status)
    kwargs: dict[str, Any] = {"error": error, "error_description": description, "status": response.status}
    if error in _LOGIN_GONE_ERRORS:
        raise OACLoginRequired(f"The IAM login has expired or was revoked ({said}).", **kwargs)
    if error == "invalid_client":
        raise OACAuthError(f"IAM rejected the client ({said}): {_CLIENT_FIX}.", **kwargs)
    if error == "invalid_scope":
        raise OACAuthError(
            f"IAM rejected the login's scope ({said}): {_SCOPE_FIX}; if the OAC app's audience changed, "
            "log in again with the new scope (airflow-oac login --scope ...).",
            **kwargs,
        )
    if error is None and response.status in (404, 405):
        raise OACAuthError(
            f"IAM has no token endpoint at this URL (HTTP {response.status}): check the IAM URL and "
            "any token endpoint override.",
            **kwargs,
        )
    raise OACAuthError(f"IAM refused the token request ({said}).", **kwargs)


def _token_set(
    response: HTTPResponse,
    payload: dict[str, Any],
    now: float,
    previous_refresh_token: str | None,
    refresh_token_lifetime: float,
) -> TokenSet:
    lifetime = validate_positive_number(refresh_token_lifetime, "refresh token lifetime")
    access_token = payload.get("access_token")
    if not isinstance(access_token, str) or not access_token.strip():
        # A 200 without a token: IAM (or a proxy) answered oddly. Treated as temporary, never as
        # a dead login; the refresh driver treats the presented refresh token as maybe spent.
        raise OACTokenEndpointUnavailable(
            f"IAM's token answer has no access_token (HTTP {response.status}).", status=response.status
        )
    new_refresh_token = payload.get("refresh_token")
    refresh_token = (
        new_refresh_token
        if isinstance(new_refresh_token, str) and new_refresh_token.strip()
        else previous_refresh_token
    )
    # IAM does not send this; some servers do, and then it beats our estimate.
    sent_lifetime = _positive_seconds(payload.get("refresh_token_expires_in"))
    subject = decode_jwt_claims(access_token).get("sub")
    return TokenSet(
        access_token=access_token,
        access_token_expires_at=access_token_expiry(access_token, payload.get("expires_in"), now),
        issued_at=now,
        refresh_token=refresh_token,
        refresh_token_expires_at=(
            None if refresh_token is None else now + (sent_lifetime if sent_lifetime else lifetime)
        ),
        subject=subject if isinstance(subject, str) and subject else None,
    )


# --- revocation (RFC 7009) -----------------------------------------------------------------------


def revoke_request(endpoints: IAMEndpoints, client_id: str, refresh_token: str) -> HTTPRequest:
    """RFC 7009 revocation of a refresh token. IAM's accepted form is unconfirmed; this is the RFC's."""
    client_id = validate_client_id(client_id)
    refresh_token = require_text(refresh_token, "refresh token", "nothing to revoke", max_length=_MAX_SECRET)
    return HTTPRequest(
        "POST",
        endpoints.revoke_url,
        headers=dict(_FORM_HEADERS),
        form={"token": refresh_token, "token_type_hint": "refresh_token", "client_id": client_id},
    )


def read_revoke_response(response: HTTPResponse) -> bool:
    """True when IAM confirmed the revocation (any 2xx). Anything else is reported, not raised:
    a failed revocation must not stop a logout, which deletes the local tokens anyway."""
    return 200 <= response.status < 300


# --- retry rules ---------------------------------------------------------------------------------


def token_endpoint_backoff(
    attempt: int,
    retry_after: float | None = None,
    *,
    base: float = 1.0,
    cap: float = 60.0,
    rand: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait after the ``attempt``-th failed call (1 for the first failure).

    Full jitter: a random time up to ``base * 2**(attempt-1)``, at most ``cap``, so workers that
    failed together do not retry together. A server ``Retry-After`` is honoured as a floor (plus
    up to ``base`` of jitter), even above ``cap``: callers that cannot wait that long give up.
    """
    if retry_after is not None and retry_after > 0:
        return retry_after + rand() * base
    return backoff(attempt, base=base, cap=cap, random=rand)


def refresh_failure(error: OACTokenEndpointUnavailable | OACTransportError) -> OACTokenEndpointUnavailable:
    """The temporary error a failed refresh raises, marked with whether the refresh token may be spent.

    IAM's refresh tokens are one-time. Only three failures prove IAM did not take the token: 429
    (rate limited before any work), 503 (IAM's documented overload answer), and a connection
    that never carried the request (``request_sent=False``). Anything else — 500, 502, 504, an
    unreadable 200, a timeout after sending — may have consumed it, and replaying a consumed
    token can make IAM revoke the whole login (RFC 9700 §4.14.2), so it is marked
    ``refresh_token_maybe_spent=True`` and must not be sent again blindly.
    """
    if isinstance(error, OACTransportError):
        return OACTokenEndpointUnavailable(
            f"IAM's token endpoint could not be reached: {error}",
            refresh_token_maybe_spent=error.request_sent,
        )
    error.refresh_token_maybe_spent = error.status not in (429, 503)
    return error


# --- shared reading helpers ----------------------------------------------------------------------


def _raise_if_unavailable(response: HTTPResponse, what: str, now: float) -> None:
    """429 and 5xx mean "not now", whatever the body says."""
    status = response.status
    if status == 429:
        retry_after = parse_retry_after(response.header("retry-after"), now)
        wait = f"; retry after {retry_after:.0f} s" if retry_after is not None else ""
        raise OACTokenEndpointUnavailable(
            f"IAM is rate limiting token requests (HTTP 429{wait}).", retry_after=retry_after, status=status
        )
    if status >= 500:
        raise OACTokenEndpointUnavailable(
            f"IAM's token service failed (HTTP {status}) on {what}: try again shortly.",
            retry_after=parse_retry_after(response.header("retry-after"), now),
            status=status,
        )


def _token_endpoint_json(response: HTTPResponse, what: str) -> dict[str, Any]:
    """The JSON object of a token endpoint answer. HTML pages and broken JSON come from proxies
    and overloaded front ends, so they are temporary here, not a reason to give up a login."""
    try:
        payload = parse_json(response, what)
    except OACResponseError as exc:
        raise OACTokenEndpointUnavailable(str(exc), status=response.status) from None
    if not isinstance(payload, dict):
        raise OACTokenEndpointUnavailable(
            f"{what} was not a JSON object (HTTP {response.status}).", status=response.status
        )
    return payload


def _oauth_error(
    payload: dict[str, Any], secrets: tuple[str | None, ...] = ()
) -> tuple[str | None, str | None]:
    error = payload.get("error")
    description = payload.get("error_description")
    return _clean(error, secrets, 100), _clean(description, secrets, _MAX_DESCRIPTION)


def _clean(value: object, secrets: tuple[str | None, ...], limit: int) -> str | None:
    if not isinstance(value, str):
        return None
    text = " ".join(value.split())
    for secret in secrets:
        if secret:
            text = text.replace(secret, "<redacted>")
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text or None


def _iam_said(error: str | None, description: str | None, status: int) -> str:
    if error and description:
        return f"HTTP {status}, {error}: {description}"
    if error or description:
        return f"HTTP {status}, {error or description}"
    return f"HTTP {status}, no OAuth error code"


def _positive_seconds(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if isinstance(value, (int, float)) and value > 0 and value != float("inf"):
        return float(value)
    return None


__all__ = [
    "DEFAULT_DEVICE_CODE_LIFETIME",
    "DEFAULT_POLL_INTERVAL",
    "DEVICE_CODE_GRANT_TYPE",
    "MAX_POLL_BACKOFF",
    "MAX_REFRESH_DELAY",
    "SLOW_DOWN_STEP",
    "DeviceAuthorization",
    "Granted",
    "IAMEndpoints",
    "Pending",
    "PollResult",
    "PollState",
    "SlowDown",
    "device_authorization_request",
    "device_code_expired",
    "device_poll_delay",
    "device_token_request",
    "parse_retry_after",
    "read_device_authorization",
    "read_device_poll",
    "read_revoke_response",
    "read_token_response",
    "refresh_failure",
    "refresh_flow",
    "refresh_request",
    "revoke_request",
    "token_endpoint_backoff",
]
