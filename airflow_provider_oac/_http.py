"""Plain-data HTTP messages, the steps of a sans-I/O flow, and the thin transports that execute them.

Protocol code in ``auth/`` and ``client/`` builds :class:`HTTPRequest` values and reads
:class:`HTTPResponse` values; it never touches a socket. Where a rule spans several requests
(retries, a refresh, waiting for a work request), it is a *flow*: a generator that yields steps
(:class:`Send`, :class:`Sleep`, :class:`Now`, ...) and receives their results. :func:`run_flow`
and :func:`arun_flow` drive one; :func:`send` (requests, used by the hook and CLI) and
:func:`asend` (httpx, used by triggers) are the only places that do I/O, so the sync and async
paths share every rule.

Requests and responses hide headers and bodies from ``repr``: they carry tokens and passwords.
"""

from __future__ import annotations

import email.utils
import json
import random as _random
import ssl
import time
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass, field
from datetime import timezone
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from airflow_provider_oac import __version__
from airflow_provider_oac.errors import OACResponseError, OACTimeoutError, OACTransportError

if TYPE_CHECKING:
    import httpx
    import requests

USER_AGENT = f"airflow-provider-oac/{__version__}"

#: (connect, read) seconds. Every call has a timeout; none waits forever.
DEFAULT_TIMEOUT: tuple[float, float] = (10.0, 60.0)


@dataclass(frozen=True, slots=True)
class HTTPRequest:
    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict, repr=False)
    #: Form fields (``application/x-www-form-urlencoded``), for IAM.
    form: dict[str, str] | None = field(default=None, repr=False)
    #: JSON body, for OAC.
    json: Any = field(default=None, repr=False)
    #: Query parameters.
    params: dict[str, str] | None = None

    def with_header(self, name: str, value: str) -> HTTPRequest:
        return HTTPRequest(
            self.method, self.url, {**self.headers, name: value}, self.form, self.json, self.params
        )


@dataclass(frozen=True, slots=True)
class HTTPResponse:
    status: int
    #: Header names lower-cased.
    headers: dict[str, str] = field(default_factory=dict, repr=False)
    body: bytes = field(default=b"", repr=False)

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    @property
    def opc_request_id(self) -> str | None:
        return self.header("opc-request-id")


def parse_json(response: HTTPResponse, what: str) -> Any:
    """The response body as JSON, or :class:`OACResponseError` saying what came instead.

    ``what`` names the answer for the message, e.g. ``"OAC's snapshot list"``.
    """
    text = response.body.decode("utf-8", errors="replace").strip()
    if not text:
        raise OACResponseError(
            f"{what} was empty (HTTP {response.status}); expected JSON.",
            status=response.status,
            opc_request_id=response.opc_request_id,
        )
    content_type = (response.header("content-type") or "").lower()
    if "html" in content_type or text.lstrip().lower().startswith(("<!doctype", "<html")):
        raise OACResponseError(
            f"{what} was an HTML page (HTTP {response.status}), not JSON: check that the URL points at "
            "the service itself and not at a login page or proxy.",
            status=response.status,
            opc_request_id=response.opc_request_id,
        )
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise OACResponseError(
            f"{what} was not valid JSON (HTTP {response.status}, {len(text)} bytes: {exc.msg} at "
            f"position {exc.pos}).",
            status=response.status,
            opc_request_id=response.opc_request_id,
        ) from None


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delay-seconds or an HTTP-date (GMT);
    None when absent or unreadable. ``now`` is epoch seconds (default: the clock)."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:  # HTTP-dates are GMT
            when = when.replace(tzinfo=timezone.utc)
        return max(when.timestamp() - (time.time() if now is None else now), 0.0)
    if seconds != seconds or seconds in (float("inf"), float("-inf")):
        return None
    return max(seconds, 0.0)


def backoff(attempt: int, *, base: float, cap: float, random: Callable[[], float] = _random.random) -> float:
    """Seconds to wait after the ``attempt``-th failure in a row (1 for the first): exponential
    backoff with full jitter, a random time up to ``min(cap, base * 2**(attempt-1))``, so callers
    that failed together do not retry together. The one formula behind every retry here (OAC
    calls, IAM calls, device polls while IAM is down)."""
    return random() * min(cap, base * 2 ** min(max(attempt - 1, 0), 62))


# --- steps: what a flow asks its driver to do ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class Send:
    """Step: send ``request``; reply with the HTTPResponse or throw the OACTransportError."""

    request: HTTPRequest


@dataclass(frozen=True, slots=True)
class Sleep:
    """Step: wait ``seconds``; reply with nothing."""

    seconds: float


@dataclass(frozen=True, slots=True)
class Now:
    """Step: reply with the driver's clock in seconds (the flow's docstring says which clock)."""


_Step = TypeVar("_Step")
_Result = TypeVar("_Result")


def run_flow(flow: Generator[_Step, Any, _Result], execute: Callable[[_Step], Any]) -> _Result:
    """Drive ``flow`` to its return value: ``execute`` each step and send its result back. An
    OACTransportError from executing a :class:`Send` is thrown into the flow, which decides
    whether to try again; any other exception ends the flow."""
    reply: Any = None
    error: OACTransportError | None = None
    while True:
        try:
            step = flow.throw(error) if error is not None else flow.send(reply)
        except StopIteration as done:
            return done.value
        reply, error = None, None
        try:
            reply = execute(step)
        except OACTransportError as exc:
            if not isinstance(step, Send):
                raise
            error = exc


async def arun_flow(
    flow: Generator[_Step, Any, _Result], execute: Callable[[_Step], Awaitable[Any]]
) -> _Result:
    """:func:`run_flow` for a coroutine ``execute``."""
    reply: Any = None
    error: OACTransportError | None = None
    while True:
        try:
            step = flow.throw(error) if error is not None else flow.send(reply)
        except StopIteration as done:
            return done.value
        reply, error = None, None
        try:
            reply = await execute(step)
        except OACTransportError as exc:
            if not isinstance(step, Send):
                raise
            error = exc


# --- transports ----------------------------------------------------------------------------------


def _lower_headers(headers: Any) -> dict[str, str]:
    return {str(k).lower(): str(v) for k, v in headers.items()}


def send(
    session: requests.Session,
    request: HTTPRequest,
    *,
    timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
    verify: bool | str = True,
) -> HTTPResponse:
    """Execute ``request`` with ``requests``; map failures to :class:`OACTransportError`."""
    # lazy: this module loads with the hook and at CLI start-up; see bench/parse_cost.py
    import requests

    # Every ``from None`` below is deliberate: library exceptions can embed the request (with its
    # Authorization header or form body) and would carry it into tracebacks and logs.
    try:
        response = session.request(
            request.method,
            request.url,
            headers={"User-Agent": USER_AGENT, **request.headers},
            data=request.form,
            json=request.json,
            params=request.params,
            timeout=timeout,
            verify=verify,
            allow_redirects=False,
        )
    except requests.exceptions.ConnectTimeout:
        raise _failure(request, _CONNECT_TIMEOUT) from None
    except requests.exceptions.Timeout as exc:
        # urllib3 reports a TLS handshake that timed out as a read timeout: nothing was sent.
        raise _failure(request, _HANDSHAKE_TIMEOUT if _in_handshake(exc) else _READ_TIMEOUT) from None
    except requests.exceptions.SSLError as exc:
        raise _tls_failure(request, exc) from None
    except requests.exceptions.ConnectionError as exc:
        reason = _connection_reason(exc)
        raise _failure(request, f"Could not reach {{origin}}: {reason}", sent=_maybe_sent(reason)) from None
    except requests.exceptions.RequestException as exc:
        raise _failure(request, f"HTTP request to {{origin}} failed: {type(exc).__name__}") from None
    return HTTPResponse(response.status_code, _lower_headers(response.headers), response.content)


async def asend(
    client: httpx.AsyncClient,
    request: HTTPRequest,
    *,
    timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
) -> HTTPResponse:
    """Execute ``request`` with ``httpx``; map failures to :class:`OACTransportError`."""
    # lazy: this module loads with the hook and at CLI start-up; see bench/parse_cost.py
    import httpx

    connect, read = timeout if isinstance(timeout, tuple) else (timeout, timeout)
    try:
        response = await client.request(
            request.method,
            request.url,
            headers={"User-Agent": USER_AGENT, **request.headers},
            data=request.form,
            json=request.json,
            params=request.params,
            timeout=httpx.Timeout(read, connect=connect),
            follow_redirects=False,
        )
    except httpx.ConnectTimeout:
        raise _failure(request, _CONNECT_TIMEOUT) from None
    except httpx.TimeoutException:
        raise _failure(request, _READ_TIMEOUT) from None
    except httpx.ConnectError as exc:
        # httpx raises ConnectError only while connecting and in the TLS handshake: never sent.
        if _tls_error(exc) is not None:
            raise _tls_failure(request, exc) from None
        reason = _first_line(exc) or "connection failed"
        raise _failure(request, f"Could not reach {{origin}}: {reason}", sent=False) from None
    except httpx.HTTPError as exc:
        raise _failure(request, f"HTTP request to {{origin}} failed: {type(exc).__name__}") from None
    except ssl.SSLError as exc:
        # A broken TLS record while reading the answer escapes httpx unwrapped (anyio re-raises it).
        raise _tls_failure(request, exc) from None
    return HTTPResponse(response.status_code, _lower_headers(response.headers), response.content)


_CONNECT_TIMEOUT = "Timed out connecting to {origin}."
_READ_TIMEOUT = "No answer from {origin} within the timeout."
_HANDSHAKE_TIMEOUT = "The TLS handshake with {origin} timed out."


def _failure(request: HTTPRequest, template: str, *, sent: bool | None = None) -> OACTransportError:
    """The transport error for ``request``; ``sent`` says whether the server may have received it
    (a connect timeout never sent it; a read timeout may have)."""
    message = template.format(origin=_origin(request.url))
    if template in (_CONNECT_TIMEOUT, _HANDSHAKE_TIMEOUT, _READ_TIMEOUT):
        return OACTimeoutError(
            message, method=request.method, url=request.url, request_sent=template == _READ_TIMEOUT
        )
    return OACTransportError(
        message, method=request.method, url=request.url, request_sent=True if sent is None else sent
    )


def _tls_failure(request: HTTPRequest, exc: BaseException) -> OACTransportError:
    """A TLS error: never sent only if the handshake failed; after it, the request went out and the
    server may have acted on it (a broken or cut TLS record while reading the answer)."""
    cause = _tls_error(exc)
    reason = _first_line(cause) if cause is not None else _first_line(exc)
    if isinstance(cause, ssl.SSLCertVerificationError) or _is_certificate_error(cause):
        return _failure(
            request,
            f"TLS verification failed for {{origin}}: {reason}. If the server's certificate comes from "
            "a private CA, set the connection's ca_bundle extra to that CA's PEM file.",
            sent=False,
        )
    if _in_handshake(exc):
        return _failure(request, f"The TLS handshake with {{origin}} failed: {reason}", sent=False)
    return _failure(
        request,
        f"The TLS connection to {{origin}} broke after the request was sent (the server may have acted on "
        f"it): {reason}",
        sent=True,
    )


def _causes(exc: BaseException) -> list[BaseException]:
    """``exc`` and what it wraps: causes, contexts, urllib3's ``reason`` and exceptions in args."""
    seen: list[BaseException] = []
    todo = [exc]
    while todo:
        current = todo.pop()
        if current is None or any(current is s for s in seen) or len(seen) > 20:
            continue
        seen.append(current)
        todo.extend(x for x in (current.__cause__, current.__context__) if x is not None)
        reason = getattr(current, "reason", None)
        if isinstance(reason, BaseException):
            todo.append(reason)
        todo.extend(arg for arg in getattr(current, "args", ()) if isinstance(arg, BaseException))
    return seen


def _tls_error(exc: BaseException) -> BaseException | None:
    """The innermost TLS error inside ``exc`` (ssl's, or a certificate mismatch), if any."""
    found = None
    for item in _causes(exc):
        if isinstance(item, ssl.SSLError) or _is_certificate_error(item):
            found = item
    return found


def _is_certificate_error(exc: BaseException | None) -> bool:
    return exc is not None and type(exc).__name__ == "CertificateError"


def _in_handshake(exc: BaseException) -> bool:
    """Whether a TLS error inside ``exc`` was raised by the handshake (before any request byte)."""
    for item in _causes(exc):
        tb = item.__traceback__
        while tb is not None:
            if tb.tb_frame.f_code.co_name in ("do_handshake", "start_tls", "_ssl_wrap_socket_impl"):
                return True
            tb = tb.tb_next
    return False


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else ""


def _connection_reason(exc: BaseException) -> str:
    text = str(exc)
    for marker, reason in (
        ("Connection refused", "connection refused"),
        ("Name or service not known", "host name not found"),
        ("nodename nor servname", "host name not found"),
        ("Temporary failure in name resolution", "host name not found"),
        ("Connection reset", "connection reset"),
        ("RemoteDisconnected", "the server closed the connection without answering"),
        ("Connection aborted", "the connection was dropped"),
    ):
        if marker in text:
            return reason
    return "connection failed"


def _maybe_sent(reason: str) -> bool:
    """A refused or unresolvable connection never carried the request; a dropped one may have."""
    return reason not in ("connection refused", "host name not found")
