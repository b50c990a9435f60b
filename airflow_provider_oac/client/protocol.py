"""The OAC REST protocol without I/O: build requests, read responses, map errors, decide retries.

Everything here is plain data in, plain data out. :func:`call_flow` is the one place where the
rules of a call live (bearer token per attempt, one token refresh on 401, which failures are
retried and when a POST's outcome is unknown); :class:`~airflow_provider_oac.client.sync.OACClient`
and :class:`~airflow_provider_oac.client.aio.AsyncOACClient` only execute its steps.

Request builders take ``base_url`` as returned by :func:`~airflow_provider_oac.validation.validate_oac_url`
and return requests without ``Authorization``: the client adds the token.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random as _random
import re
from collections.abc import Callable, Generator, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote, urlsplit

from airflow_provider_oac import validation
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
from airflow_provider_oac.client.models import Accepted, Snapshot, SnapshotStorageSpec, WorkRequest
from airflow_provider_oac.errors import (
    OACAPIError,
    OACConfigError,
    OACConflictError,
    OACError,
    OACForbiddenError,
    OACNotFoundError,
    OACOutcomeUnknownError,
    OACRateLimitedError,
    OACResponseError,
    OACServerError,
    OACTransportError,
    OACUnauthorizedError,
    OACWorkRequestFailed,
    OACWorkRequestTimeout,
)

log = logging.getLogger(__name__)

API_PATH = "/api/20210901"

_JSON = {"Accept": "application/json"}

# --- request builders --------------------------------------------------------------------------


def list_snapshots(base_url: str) -> HTTPRequest:
    """``GET /snapshots``: every snapshot created or registered through the REST API."""
    return HTTPRequest("GET", f"{base_url}{API_PATH}/snapshots", dict(_JSON))


def get_snapshot(base_url: str, snapshot_id: str) -> HTTPRequest:
    return HTTPRequest("GET", _snapshot_url(base_url, snapshot_id), dict(_JSON))


def create_snapshot(
    base_url: str,
    name: str,
    password: str,
    storage: SnapshotStorageSpec,
    *,
    bar_uri: str | None = None,
    description: str | None = None,
) -> HTTPRequest:
    """``POST /snapshots`` with ``type=CREATE``: OAC writes a new BAR file to ``storage``.

    ``bar_uri`` defaults to :func:`default_bar_uri` of ``name``. Reusing a name therefore
    overwrites that BAR object in the bucket: give each snapshot its own name (or ``bar_uri``).
    The password must meet Oracle's rule (:data:`~airflow_provider_oac.validation.SNAPSHOT_PASSWORD_RULE`).
    """
    name = validation.validate_snapshot_name(name)
    password = validation.validate_new_snapshot_password(password)
    body: dict[str, Any] = {"type": "CREATE", "name": name}
    if description is not None:
        # Sent by Oracle's own scripts, though absent from the published schema.
        body["description"] = validation.require_text(
            description, "snapshot description", "give one line of text", max_length=1024
        )
    body["storage"] = _storage_json(storage)
    uri = default_bar_uri(name) if bar_uri is None else validation.validate_bar_uri(bar_uri)
    body["bar"] = {"uri": uri, "password": password}
    return HTTPRequest("POST", f"{base_url}{API_PATH}/snapshots", dict(_JSON), json=body)


def register_snapshot(
    base_url: str,
    name: str,
    bar_uri: str,
    storage: SnapshotStorageSpec,
    *,
    password: str | None = None,
) -> HTTPRequest:
    """``POST /snapshots`` with ``type=REGISTER``: make an existing BAR file in ``storage`` known
    to OAC. The password may be left out here and given at restore (as Oracle's script does)."""
    name = validation.validate_snapshot_name(name)
    bar: dict[str, str] = {"uri": validation.validate_bar_uri(bar_uri)}
    if password is not None:
        bar["password"] = validation.validate_password(password)
    body = {"type": "REGISTER", "name": name, "storage": _storage_json(storage), "bar": bar}
    return HTTPRequest("POST", f"{base_url}{API_PATH}/snapshots", dict(_JSON), json=body)


def delete_snapshot(base_url: str, snapshot_id: str, *, delete_storage: bool = False) -> HTTPRequest:
    """``DELETE /snapshots/{id}``: deregister; with ``delete_storage`` also delete the BAR file."""
    if not isinstance(delete_storage, bool):
        raise OACConfigError(f"delete_storage must be True or False, not {type(delete_storage).__name__}.")
    params = {"deleteStorage": "true"} if delete_storage else None
    return HTTPRequest("DELETE", _snapshot_url(base_url, snapshot_id), dict(_JSON), params=params)


def restore_snapshot(base_url: str, snapshot_id: str, password: str) -> HTTPRequest:
    """``POST /system/actions/restoreSnapshot``: replace the instance's content with a snapshot."""
    snapshot_id = validation.validate_resource_id(snapshot_id, "snapshot id")
    password = validation.validate_password(password)
    body = {"snapshot": {"id": snapshot_id, "password": password}}
    return HTTPRequest("POST", f"{base_url}{API_PATH}/system/actions/restoreSnapshot", dict(_JSON), json=body)


def get_work_request(base_url: str, work_request_id: str) -> HTTPRequest:
    work_request_id = validation.validate_resource_id(work_request_id, "work request id")
    return HTTPRequest("GET", f"{base_url}{API_PATH}/workRequests/{quote(work_request_id)}", dict(_JSON))


def get_system(base_url: str) -> HTTPRequest:
    """``GET /system``: instance details; also a cheap check that URL, token and role work."""
    return HTTPRequest("GET", f"{base_url}{API_PATH}/system", dict(_JSON))


def default_bar_uri(name: str) -> str:
    """``file:///<object>.bar`` for a snapshot name: letters, digits, ``-``, ``_`` and ``.`` kept,
    anything else replaced by ``_``. When the name had to change, a short hash of it is appended
    so that, say, ``"nightly 1"`` and ``"nightly_1"`` never overwrite each other's BAR file."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._-")[:200] or "snapshot"
    if safe != name:
        safe = f"{safe}-{hashlib.sha256(name.encode('utf-8')).hexdigest()[:8]}"
    return f"file:///{safe}.bar"


def _snapshot_url(base_url: str, snapshot_id: str) -> str:
    snapshot_id = validation.validate_resource_id(snapshot_id, "snapshot id")
    return f"{base_url}{API_PATH}/snapshots/{quote(snapshot_id)}"


def _storage_json(storage: SnapshotStorageSpec) -> dict[str, Any]:
    if not isinstance(storage, SnapshotStorageSpec):
        raise OACConfigError(
            f"storage must be a SnapshotStorageSpec(bucket=...), not {type(storage).__name__}."
        )
    return storage.to_json()


# --- response readers --------------------------------------------------------------------------


def read_snapshots(response: HTTPResponse) -> list[Snapshot]:
    """The snapshots in a ``GET /snapshots`` answer (``{"items": [...]}``; a bare list is accepted)."""
    data = parse_json(response, "OAC's snapshot list")
    items = data.get("items") if isinstance(data, Mapping) else data
    if not isinstance(items, list):
        raise OACResponseError(
            "OAC's snapshot list has no 'items' list.",
            status=response.status,
            opc_request_id=response.opc_request_id,
        )
    return [_with_context(Snapshot.from_json, item, response) for item in items]


def read_snapshot(response: HTTPResponse) -> Snapshot:
    return _with_context(Snapshot.from_json, parse_json(response, "OAC's snapshot"), response)


def read_work_request(response: HTTPResponse) -> WorkRequest:
    return _with_context(WorkRequest.from_json, parse_json(response, "OAC's work request"), response)


def read_system(response: HTTPResponse) -> dict[str, Any]:
    data = parse_json(response, "OAC's system details")
    if not isinstance(data, dict):
        raise OACResponseError(
            "OAC's system details were not a JSON object.",
            status=response.status,
            opc_request_id=response.opc_request_id,
        )
    return data


def read_accepted(response: HTTPResponse) -> Accepted:
    """The work request id of an accepted create, register or restore.

    Looks in the ``oa-work-request-id`` header first, then the body's ``workRequestId`` (also
    ``workRequest.id`` or ``id``), then the last path segment of ``Location``. Raises
    :class:`OACResponseError` when none names one.
    """
    body_error: OACResponseError | None = None
    data: Any = None
    if response.body.strip():
        try:
            data = parse_json(response, "OAC's answer to the request")
        except OACResponseError as exc:
            body_error = exc
    candidates = [response.header("oa-work-request-id"), *_body_work_request_ids(data)]
    location = response.header("location")
    if location:
        candidates.append(urlsplit(location).path.rstrip("/").rsplit("/", 1)[-1])
    for candidate in candidates:
        if isinstance(candidate, (str, int)) and not isinstance(candidate, bool) and str(candidate).strip():
            work_request_id = str(candidate).strip()
            try:
                validation.validate_resource_id(work_request_id, "work request id")
            except OACConfigError:
                raise OACResponseError(
                    f"OAC named a work request id that is not an id: {work_request_id[:80]!r}.",
                    status=response.status,
                    opc_request_id=response.opc_request_id,
                ) from None
            return Accepted(work_request_id, response.opc_request_id)
    if body_error is not None:
        raise body_error
    raise OACResponseError(
        f"OAC accepted the request (HTTP {response.status}) but named no work request: no "
        "oa-work-request-id header, no workRequestId in the body, no Location header.",
        status=response.status,
        opc_request_id=response.opc_request_id,
    )


def _body_work_request_ids(data: Any) -> list[Any]:
    if not isinstance(data, Mapping):
        return []
    nested = data.get("workRequest")
    return [
        data.get("workRequestId"),
        nested.get("id") if isinstance(nested, Mapping) else None,
        data.get("id"),
    ]


def _with_context(parse: Callable[[Any], Any], data: Any, response: HTTPResponse) -> Any:
    # Model parsers know nothing of HTTP; add the status and opc-request-id for support cases.
    try:
        return parse(data)
    except OACResponseError as exc:
        raise OACResponseError(
            str(exc), status=response.status, opc_request_id=response.opc_request_id
        ) from None


# --- errors ------------------------------------------------------------------------------------

_MAX_MESSAGE = 500


def raise_for_status(response: HTTPResponse, method: str, url: str) -> None:
    """Raise the matching :class:`OACAPIError` subclass unless ``response`` is a 2xx.

    The message is one line: ``OAC rejected POST /api/20210901/snapshots (HTTP 400 BadRequest):
    <OAC's message> [opc-request-id: x]``. It names the method and path only: never a header or
    the request body.
    """
    status = response.status
    if 200 <= status < 300:
        return
    code, oac_message, what_came = _read_error_body(response)
    retry_after = parse_retry_after(response.header("retry-after"))
    error_class: type[OACAPIError]
    hint = ""
    if status == 401:
        error_class = OACUnauthorizedError
        hint = (
            "the access token was refused (expired, revoked, or issued for another OAC instance's audience)"
        )
    elif status == 403:
        error_class = OACForbiddenError
        hint = "the signed-in user needs the BI Service Administrator application role on this OAC instance"
    elif status == 404:
        error_class = OACNotFoundError
    elif status in (409, 412):
        error_class = OACConflictError
        hint = "OAC may be busy with another snapshot or restore"
    elif status == 429:
        error_class = OACRateLimitedError
        hint = (
            f"rate limited; OAC asked to wait {retry_after:g} s"
            if retry_after is not None
            else "rate limited"
        )
    elif status >= 500:
        error_class = OACServerError
    else:
        error_class = OACAPIError
        if 300 <= status < 400:
            location = response.header("location")
            target = _origin_and_path(location) if location else "nowhere"
            hint = f"redirected to {target}: check the OAC URL (a login page or proxy may have answered)"
    path = urlsplit(url).path or "/"
    verb = "failed" if status >= 500 else "rejected"
    reason = f"HTTP {status} {code}" if code else f"HTTP {status}"
    message = f"OAC {verb} {method} {path} ({reason}): {oac_message or what_came}"
    if hint:
        message += f"; {hint}"
    if response.opc_request_id:
        message += f" [opc-request-id: {_one_line(response.opc_request_id, 100)}]"
    raise error_class(
        message,
        status=status,
        code=code,
        oac_message=oac_message,
        opc_request_id=response.opc_request_id,
        method=method,
        url=url,
        retry_after=retry_after,
    )


def _read_error_body(response: HTTPResponse) -> tuple[str | None, str | None, str]:
    """OAC's ``code`` and ``message`` when the body is OAC JSON, and a description of what came."""
    text = response.body.decode("utf-8", errors="replace").strip()
    if not text:
        return None, None, "no response body"
    content_type = (response.header("content-type") or "").lower()
    if "html" in content_type or text.lower().startswith(("<!doctype", "<html")):
        return (
            None,
            None,
            "an HTML page instead of OAC's JSON error (a proxy or login page may have answered)",
        )
    try:
        data = json.loads(text)
    except ValueError:
        return None, None, f"a non-JSON body: {_one_line(text, 200)!r}"
    if not isinstance(data, Mapping):
        return None, None, "a JSON body without OAC's code and message"
    # OAC sends {"code", "message"}; tolerate OAuth-style and nested shapes from proxies.
    nested = data.get("error")
    if isinstance(nested, Mapping):
        data = nested
    code = data.get("code", data.get("error"))
    message = data.get("message", data.get("error_description", data.get("detail")))
    code_text = _one_line(str(code), 100) if isinstance(code, (str, int)) and str(code).strip() else None
    message_text = _one_line(message, _MAX_MESSAGE) if isinstance(message, str) and message.strip() else None
    fields = ", ".join(sorted(str(key) for key in data)[:8]) or "none"
    return code_text, message_text, f"a JSON body without OAC's message (fields: {fields})"


def _one_line(text: str, limit: int) -> str:
    collapsed = " ".join(text.split())
    return collapsed if len(collapsed) <= limit else collapsed[: limit - 1] + "…"


def _origin_and_path(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}" if parts.netloc else parts.path or "/"


# --- retries -----------------------------------------------------------------------------------

#: Methods that may be repeated after an unclear failure. DELETE counts: deleting a snapshot
#: twice leaves the same state (the second answer may be 404, which the flow treats as done).
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "DELETE"})

#: Statuses a safe method retries. 501 and other 4xx are final.
_RETRY_SAFE_STATUSES = frozenset({429, 500, 502, 503, 504})
#: Statuses that prove the server did not act on the request, so even a POST may be repeated.
_NOT_PROCESSED_STATUSES = frozenset({429, 503})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how long to retry. ``max_attempts`` counts the first try.

    Backoff is exponential with full jitter: attempt *n* waits a random time up to
    ``min(max_delay, base_delay * 2**(n-1))``. A ``Retry-After`` on 429/503 is honoured instead,
    capped at ``max_retry_after``.
    """

    max_attempts: int = 5
    base_delay: float = 1.0
    max_delay: float = 30.0
    max_retry_after: float = 300.0

    def __post_init__(self) -> None:
        if (
            isinstance(self.max_attempts, bool)
            or not isinstance(self.max_attempts, int)
            or self.max_attempts < 1
        ):
            raise OACConfigError(
                f"max_attempts must be a whole number of at least 1 (got {self.max_attempts!r})."
            )
        validation.validate_positive_number(self.base_delay, "base_delay", allow_zero=True)
        validation.validate_positive_number(self.max_delay, "max_delay", allow_zero=True)
        validation.validate_positive_number(self.max_retry_after, "max_retry_after", allow_zero=True)

    def backoff(self, attempt: int, random: Callable[[], float] = _random.random) -> float:
        """A jittered delay before the attempt after ``attempt`` (1-based)."""
        return backoff(attempt, base=self.base_delay, cap=self.max_delay, random=random)


def decide_retry(
    policy: RetryPolicy,
    method: str,
    attempt: int,
    *,
    error: OACError,
    random: Callable[[], float] = _random.random,
) -> float | None:
    """Seconds to wait before trying again after ``error`` on attempt ``attempt`` (1-based), or
    ``None`` to stop.

    GET and DELETE retry transport failures, 429, 500, 502, 503 and 504. POST retries only when
    the request certainly was not processed: 429, 503, or a transport failure before the request
    was sent. Turn a final error into what the caller sees with :func:`final_error`.
    """
    if attempt >= policy.max_attempts:
        return None
    idempotent = method.upper() in IDEMPOTENT_METHODS
    if isinstance(error, OACTransportError):
        if idempotent or not error.request_sent:
            return policy.backoff(attempt, random)
        return None
    if isinstance(error, OACAPIError):
        allowed = _RETRY_SAFE_STATUSES if idempotent else _NOT_PROCESSED_STATUSES
        if error.status not in allowed:
            return None
        if error.status in (429, 503) and error.retry_after is not None:
            return min(error.retry_after, policy.max_retry_after)
        return policy.backoff(attempt, random)
    return None


def outcome_is_unknown(method: str, error: OACError) -> bool:
    """True when a state-changing request failed in a way that leaves its effect unknown: a
    timeout or dropped connection after sending, or a 5xx other than 501/503."""
    return method.upper() not in IDEMPOTENT_METHODS and _may_have_acted(error)


def _may_have_acted(error: OACError) -> bool:
    if isinstance(error, OACTransportError):
        return error.request_sent
    if isinstance(error, OACAPIError):
        return error.status >= 500 and error.status not in (501, 503)
    return False


def final_error(method: str, error: OACError, operation: str | None) -> OACError:
    """The error to raise once retrying stopped: ``error`` itself, or for a POST whose effect is
    unknown, :class:`OACOutcomeUnknownError` (``operation`` names it, e.g. ``"create_snapshot"``)."""
    if not outcome_is_unknown(method, error):
        return error
    name = operation or f"{method.upper()} request"
    return OACOutcomeUnknownError(
        f"OAC may or may not have started {name.replace('_', ' ')}: {error} Do not send it again; "
        "look for its work first (a snapshot with the same name, or the recorded work request).",
        operation=name,
        cause=error,
    )


# --- one call: token, send, refresh once on 401, retry ------------------------------------------


@dataclass(frozen=True, slots=True)
class GetToken:
    """Step: reply with a current access token (``TokenSource.get_access_token``)."""


@dataclass(frozen=True, slots=True)
class InvalidateToken:
    """Step: OAC refused ``access_token`` (``TokenSource.invalidate``); reply with nothing."""

    access_token: str = field(repr=False)


#: What the client's flows ask of a transport. ``Send``, ``Sleep`` and ``Now`` (a monotonic
#: clock, for wait deadlines) are the shared steps of :mod:`airflow_provider_oac._http`.
Step = GetToken | Send | InvalidateToken | Sleep | Now


def call_flow(
    request: HTTPRequest,
    *,
    policy: RetryPolicy,
    operation: str | None = None,
    random: Callable[[], float] = _random.random,
) -> Generator[Step, Any, HTTPResponse]:
    """The steps of one API call. Returns the 2xx response or raises the final error.

    A transport drives it: ``send()`` the reply to each step, ``throw()`` an OACTransportError
    raised by :class:`Send`. The flow asks for a token before every attempt; on the first 401 it
    invalidates that token and tries once more (not counted as a retry); a second 401 is final.
    """
    method = request.method.upper()
    path = urlsplit(request.url).path
    attempt = 0
    refreshed = False
    ambiguous_before = False
    while True:
        attempt += 1
        access_token = yield GetToken()
        failure: OACError
        try:
            response = yield Send(request.with_header("Authorization", f"Bearer {access_token}"))
        except OACTransportError as exc:
            failure = exc
        else:
            if response.status == 401 and not refreshed:
                refreshed = True
                attempt -= 1
                log.info(
                    "OAC refused the access token for %s %s; retrying once with a fresh one.", method, path
                )
                yield InvalidateToken(access_token)
                continue
            if response.status == 404 and method == "DELETE" and ambiguous_before:
                # An earlier DELETE may have worked before its answer was lost: gone is done.
                log.info(
                    "%s %s: not found after an unclear earlier attempt; treating as deleted.", method, path
                )
                return response
            try:
                raise_for_status(response, method, request.url)
            except OACAPIError as exc:
                failure = exc
            else:
                return response
        ambiguous_before = ambiguous_before or _may_have_acted(failure)
        delay = decide_retry(policy, method, attempt, error=failure, random=random)
        if delay is None:
            raise final_error(method, failure, operation)
        log.warning(
            "%s %s failed (%s); retrying in %.1f s (attempt %d of %d).",
            method,
            path,
            _failure_summary(failure),
            delay,
            attempt + 1,
            policy.max_attempts,
        )
        yield Sleep(delay)


def _failure_summary(error: OACError) -> str:
    if isinstance(error, OACAPIError):
        return f"HTTP {error.status}"
    return type(error).__name__


# --- work requests and snapshots -----------------------------------------------------------------


def check_work_request(work_request: WorkRequest) -> bool:
    """True when the work request SUCCEEDED, False while it runs; raises
    :class:`OACWorkRequestFailed` with OAC's own error text when it ended FAILED or CANCELED."""
    if not work_request.status.is_terminal:
        return False
    if work_request.status.is_success:
        return True
    what = f" ({work_request.operation_type})" if work_request.operation_type else ""
    reason = work_request.error_text or "OAC gave no error message"
    raise OACWorkRequestFailed(
        f"OAC work request {work_request.id}{what} ended {work_request.status.value}: {reason}",
        work_request_id=work_request.id,
        status=work_request.status.value,
        errors=work_request.errors,
    )


def next_poll_delay(
    work_request: WorkRequest, *, poll_interval: float, deadline: float | None, now: float
) -> float:
    """Seconds until the next poll of a running work request; raises
    :class:`OACWorkRequestTimeout` once ``deadline`` (monotonic seconds) has passed."""
    if deadline is None:
        return poll_interval
    remaining = deadline - now
    if remaining <= 0:
        progress = (
            f", {work_request.percent_complete:g}% complete"
            if work_request.percent_complete is not None
            else ""
        )
        state = work_request.status_text or work_request.status.value
        raise OACWorkRequestTimeout(
            f"OAC work request {work_request.id} is still {state}"
            f"{progress} after the wait timeout; OAC keeps working on it: wait again for this work request.",
            work_request_id=work_request.id,
        )
    return min(poll_interval, remaining)


def snapshot_from_work_request(work_request: WorkRequest) -> str | None:
    """The id of the snapshot a work request names in its ``resources``, if any."""
    return work_request.snapshot_id


def newest_first(snapshots: Iterable[Snapshot]) -> list[Snapshot]:
    """Snapshots sorted newest first by ``time_created``; those without a time come last."""
    oldest = datetime.min.replace(tzinfo=timezone.utc)
    return sorted(
        snapshots, key=lambda s: (s.time_created is not None, s.time_created or oldest), reverse=True
    )


def snapshots_named(snapshots: Iterable[Snapshot], name: str) -> list[Snapshot]:
    """The snapshots called exactly ``name``, newest first."""
    return newest_first(s for s in snapshots if s.name == name)


#: OAC stamps ``timeCreated`` and ``timeAccepted`` with its own clock but may round either one.
_CREATION_SLACK = timedelta(seconds=60)


def pick_created_snapshot(
    snapshots: Iterable[Snapshot], name: str, work_request: WorkRequest
) -> Snapshot | None:
    """The snapshot a succeeded create work request made: the one its resources name, else the
    newest called ``name`` that is not clearly older than the work request."""
    candidates = list(snapshots)
    wanted_id = work_request.snapshot_id
    if wanted_id:
        for snapshot in candidates:
            if snapshot.id == wanted_id:
                return snapshot
    named = snapshots_named(candidates, name)
    if work_request.time_accepted is not None:
        earliest = work_request.time_accepted - _CREATION_SLACK
        named = [s for s in named if s.time_created is None or s.time_created >= earliest]
    return named[0] if named else None


def require_succeeded(work_request: WorkRequest) -> None:
    """Raise :class:`OACConfigError` unless the work request SUCCEEDED."""
    if not work_request.status.is_success:
        raise OACConfigError(
            f"work request {work_request.id} is {work_request.status.value}, not SUCCEEDED: wait for it "
            "(wait_for_work_request) before looking for its snapshot."
        )


def no_created_snapshot_error(name: str, work_request: WorkRequest) -> OACResponseError:
    return OACResponseError(
        f"OAC work request {work_request.id} succeeded but OAC lists no new snapshot named {name!r}."
    )


def read_accepted_or_unknown(response: HTTPResponse, operation: str) -> Accepted:
    """:func:`read_accepted` for a 2xx answer to a state-changing POST. OAC accepted the work, so
    an unreadable answer means the work runs with an id we do not know:
    :class:`OACOutcomeUnknownError`, never a reason to send the request again."""
    try:
        return read_accepted(response)
    except OACResponseError as exc:
        raise OACOutcomeUnknownError(
            f"OAC accepted {operation.replace('_', ' ')} (HTTP {response.status}) but its answer could "
            f"not be read: {exc} Do not send it again; look for its work first.",
            operation=operation,
            cause=exc,
        ) from None
