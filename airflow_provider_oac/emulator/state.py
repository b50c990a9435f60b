"""Everything the emulator remembers and decides: device codes, logins, tokens, snapshots, the
emulated object store, work requests, faults and counters.

Plain Python with no web framework: ``app.py`` turns HTTP into calls here and answers back.
Time is emulator time (real time plus an offset that ``advance_clock`` moves), so tests can make
tokens, device codes and work requests age without sleeping. Work requests progress lazily:
every call first settles those whose time has come, applying their effects in finishing order.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import math
import re
import secrets
import string
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from airflow_provider_oac.emulator import _jwt
from airflow_provider_oac.emulator.config import OAC_RESOURCE_SCOPE, OFFLINE_ACCESS, EmulatorConfig

DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
ISSUER = "https://identity.oraclecloud.com/"
#: RFC 8628 §3.2: clients poll every 5 s when the server sends no interval.
DEFAULT_POLL_INTERVAL = 5
#: A poll this much early still counts as on time (client sleep jitter, request latency).
POLL_TOLERANCE = 0.5
#: The share of a work request's duration spent ACCEPTED before it turns IN_PROGRESS.
ACCEPTED_SHARE = 0.1

COUNTER_NAMES = (
    "device_authorizations",
    "device_polls",
    "device_grants",
    "slow_downs",
    "refreshes",
    "refresh_failures",
    "spent_refresh_token_presentations",
    "revoked_logins",
    "revocations",
    "snapshots_created",
    "snapshots_registered",
    "snapshots_deleted",
    "restores_started",
    "work_requests_created",
    "oac_requests",
    "oac_unauthorized",
    "token_requests",
    "rate_limited",
)

FAULT_ACTIONS = (
    "status",
    "html",
    "malformed",
    "delay",
    "accept_then_hang",
    "accept_then_error",
    "fail_work_request",
    "stuck_work_request",
    "expire_token",
    # Only behind the TLS front (emulator/tls.py): the emulator acts, then the answer's TLS breaks.
    "tls_garbage_after_request",
    "tls_close_after_request",
)

_REQUEST_LOG_SIZE = 10_000
_USER_CODE_ALPHABET = string.ascii_uppercase


class OAuthProblem(Exception):
    """An IAM error answer: ``{"error", "error_description"}`` with ``status``."""

    def __init__(self, status: int, error: str, description: str):
        super().__init__(f"{error}: {description}")
        self.status = status
        self.error = error
        self.description = description

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


class APIProblem(Exception):
    """An OAC error answer: ``{"code", "message"}`` with ``status``."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message

    def body(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


class ControlProblem(Exception):
    """A bad control-API call (unknown user code, unknown setting, bad fault)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def rfc3339(epoch: float) -> str:
    """``2026-11-25T02:47:10.123Z``: the form OAC uses."""
    moment = datetime.fromtimestamp(epoch, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def display_name(username: str) -> str:
    """``data.engineer@example.com`` → ``Data Engineer``."""
    local = username.split("@", 1)[0]
    words = [word for word in local.replace("_", ".").replace("-", ".").split(".") if word]
    return " ".join(word.capitalize() for word in words) or username


# --- records -------------------------------------------------------------------------------------


@dataclass(slots=True)
class _DeviceAuthorization:
    device_code: str = field(repr=False)
    user_code: str
    client_id: str
    scope: str
    expires_at: float
    #: The interval the client must respect now (sent or the RFC default), raised by slow_down.
    interval: int
    last_poll_at: float | None = None
    decision: str = "pending"  # pending | approved | denied
    redeemed: bool = False


@dataclass(slots=True)
class _Login:
    """One device login and every token refreshed from it (a refresh-token family)."""

    family_id: str
    subject: str
    client_id: str
    created_at: float
    #: The scope the login was granted (a refresh answers invalid_scope once it no longer names
    #: the OAC app's current audience).
    scope: str = ""
    refresh_count: int = 0
    revoked_reason: str | None = None
    current_refresh_token: str | None = field(default=None, repr=False)


@dataclass(slots=True)
class _RefreshToken:
    family_id: str
    client_id: str
    expires_at: float
    spent: bool = False


@dataclass(slots=True)
class _AccessToken:
    family_id: str
    expires_at: float
    invalidated: bool = False


@dataclass(slots=True)
class _BarObject:
    password: str | None = field(repr=False)
    time_created: float
    written_by: str


@dataclass(slots=True)
class _Snapshot:
    id: str
    name: str
    kind: str  # CREATE | REGISTER
    created_by: str
    bucket: str
    object_name: str
    storage: dict[str, Any]
    password: str | None = field(repr=False)
    work_request_id: str
    time_created: float | None = None
    #: Listed by OAC only once its work request SUCCEEDED.
    registered: bool = False


@dataclass(slots=True)
class _Restore:
    work_request_id: str
    snapshot_id: str
    snapshot_name: str
    password: str = field(repr=False)
    time_accepted: float
    status: str = "ACCEPTED"
    time_finished: float | None = None


@dataclass(slots=True)
class _WorkRequest:
    id: str
    operation_type: str  # CREATE_SNAPSHOT | RESTORE_SNAPSHOT
    resource_type: str  # SNAPSHOT | SYSTEM
    snapshot_id: str
    time_accepted: float
    finish_at: float
    stuck: bool = False
    forced_failure: tuple[str, str] | None = None
    final_status: str | None = None
    time_finished: float | None = None
    errors: list[dict[str, str]] = field(default_factory=list)

    @property
    def duration(self) -> float:
        return self.finish_at - self.time_accepted


@dataclass(slots=True)
class Fault:
    id: str
    method: str
    path_glob: str
    action: str
    times_left: int
    status: int | None = None
    retry_after: float | None = None
    body: str | None = None
    delay: float | None = None
    code: str | None = None
    message: str | None = None

    @property
    def route(self) -> str:
        return f"{self.method} {self.path_glob}"

    def matches(self, method: str, path: str) -> bool:
        if self.method not in ("*", method.upper()):
            return False
        # OAC's own script spells the work-request path in lowercase; one glob serves both.
        candidates = {path, path.replace("/workrequests/", "/workRequests/")}
        return any(fnmatch.fnmatchcase(candidate, self.path_glob) for candidate in candidates)


# --- the state -----------------------------------------------------------------------------------


class EmulatorState:
    """All emulator state behind one lock. Methods raise :class:`OAuthProblem`, :class:`APIProblem`
    or :class:`ControlProblem` for error answers."""

    def __init__(self, config: EmulatorConfig):
        self._lock = threading.RLock()
        self._initial_config = config
        # One signing key per emulator, kept across resets: tokens from before a reset are
        # rejected because their ids are forgotten, not because the key changed.
        self._signing_key = secrets.token_bytes(32)
        #: Bumped by reset(); requests held by accept_then_hang give up early when it changes.
        self.generation = 0
        self._clear(config)

    def _clear(self, config: EmulatorConfig) -> None:
        self.config = config
        self._clock_offset = 0.0
        self._devices: dict[str, _DeviceAuthorization] = {}
        self._logins: dict[str, _Login] = {}
        self._refresh_tokens: dict[str, _RefreshToken] = {}
        self._access_tokens: dict[str, _AccessToken] = {}
        #: Every access token as issued (``_access_tokens`` keeps only their ids), for leak checks.
        self._issued_access_tokens: list[str] = []
        self._snapshots: dict[str, _Snapshot] = {}
        self._buckets: dict[str, dict[str, _BarObject]] = {}
        self._restores: list[_Restore] = []
        self._work_requests: dict[str, _WorkRequest] = {}
        self._faults: list[Fault] = []
        #: Upstream client ports whose answer the TLS front must break, and how.
        self._tls_breaks: dict[int, str] = {}
        self._counters: dict[str, int] = dict.fromkeys(COUNTER_NAMES, 0)
        self._request_log: deque[dict[str, Any]] = deque(maxlen=_REQUEST_LOG_SIZE)

    # --- clock and control -----------------------------------------------------------------------

    def now(self) -> float:
        return time.time() + self._clock_offset

    def reset(self) -> None:
        with self._lock:
            self.generation += 1
            self._clear(self._initial_config)

    def configure(self, changes: dict[str, Any]) -> EmulatorConfig:
        with self._lock:
            try:
                self.config = self.config.with_changes(**changes)
            except (TypeError, ValueError) as exc:
                raise ControlProblem(400, str(exc)) from None
            return self.config

    def advance_clock(self, seconds: Any) -> float:
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not math.isfinite(seconds):
            raise ControlProblem(400, "seconds must be a number")
        if seconds < 0:
            raise ControlProblem(400, "the emulator clock only moves forward")
        with self._lock:
            self._clock_offset += float(seconds)
            return self._clock_offset

    def info(self) -> dict[str, Any]:
        with self._lock:
            now = self.now()
            self._settle(now)
            return {
                "config": self.config.to_dict(),
                "scope": self.config.scope,
                "clock_offset": self._clock_offset,
                "now": rfc3339(now),
                "pending_user_codes": self._pending_user_codes(now),
                "logins": len(self._logins),
                "snapshots": sum(1 for s in self._snapshots.values() if s.registered),
                "work_requests": len(self._work_requests),
                "faults": [self._fault_info(f) for f in self._faults],
            }

    def counters(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counters)

    def count(self, name: str, amount: int = 1) -> None:
        with self._lock:
            self._counters[name] = self._counters.get(name, 0) + amount

    def record_response(self, method: str, path: str, status: int) -> None:
        with self._lock:
            self._request_log.append({"method": method, "path": path, "status": status})
            if status == 429:
                self._counters["rate_limited"] += 1
            if status == 401 and path.startswith("/api/"):
                self._counters["oac_unauthorized"] += 1

    def request_log(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._request_log)

    # --- faults ----------------------------------------------------------------------------------

    def add_fault(self, spec: dict[str, Any]) -> Fault:
        route = spec.get("route")
        action = spec.get("action")
        if not isinstance(route, str) or len(route.split()) != 2:
            raise ControlProblem(
                400, 'route must be "METHOD /path-glob", e.g. "POST /api/20210901/snapshots"'
            )
        method, path_glob = route.split()
        if not path_glob.startswith("/"):
            raise ControlProblem(400, "the route's path must start with / (relative to the server root)")
        if action not in FAULT_ACTIONS:
            raise ControlProblem(400, f"unknown fault action {action!r}; one of: {', '.join(FAULT_ACTIONS)}")
        times = spec.get("times", 1)
        if isinstance(times, bool) or not isinstance(times, int) or times < 1:
            raise ControlProblem(400, "times must be a whole number, 1 or more")
        fault = Fault(
            id=uuid.uuid4().hex[:12],
            method=method.upper(),
            path_glob=path_glob,
            action=action,
            times_left=times,
            status=_optional(spec, "status", int),
            retry_after=_optional(spec, "retry_after", float),
            body=_optional(spec, "body", str),
            delay=_optional(spec, "delay", float),
            code=_optional(spec, "code", str),
            message=_optional(spec, "message", str),
        )
        with self._lock:
            self._faults.append(fault)
        return fault

    def mark_tls_break(self, client_port: int, how: str) -> None:
        with self._lock:
            self._tls_breaks[client_port] = how

    def take_tls_break(self, client_port: int) -> str | None:
        """How the TLS front must break the answer on the connection from ``client_port``, once."""
        with self._lock:
            return self._tls_breaks.pop(client_port, None)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def faults(self) -> list[dict[str, Any]]:
        with self._lock:
            return [self._fault_info(f) for f in self._faults]

    @staticmethod
    def _fault_info(fault: Fault) -> dict[str, Any]:
        return {"id": fault.id, "route": fault.route, "action": fault.action, "times_left": fault.times_left}

    def take_fault(self, method: str, path: str) -> Fault | None:
        """The first armed fault for this request, used up once; faults apply in the order added."""
        with self._lock:
            for fault in self._faults:
                if fault.times_left > 0 and fault.matches(method, path):
                    fault.times_left -= 1
                    if fault.times_left == 0:
                        self._faults.remove(fault)
                    return dataclasses.replace(fault)
            return None

    # --- IAM: device authorization ---------------------------------------------------------------

    def _check_client(self, client_id: str | None) -> str:
        if not client_id or client_id != self.config.client_id:
            raise OAuthProblem(401, "invalid_client", "Client authentication failed: unknown client_id.")
        return client_id

    def device_authorize(self, form: dict[str, str], basic_client_id: str | None, iam_url: str) -> dict:
        with self._lock:
            config = self.config
            client_id = self._check_client(form.get("client_id") or basic_client_id)
            response_type = form.get("response_type")
            if not response_type:
                raise OAuthProblem(400, "invalid_request", "The response_type parameter is required.")
            if response_type != "device_code":
                raise OAuthProblem(400, "invalid_request", "The response_type must be device_code.")
            scope = form.get("scope", "")
            if config.resource_scope not in scope.split():
                raise OAuthProblem(
                    400,
                    "invalid_scope",
                    "The requested scope is invalid: it must include the OAC resource "
                    "<primary audience>urn:opc:resource:consumer::all.",
                )
            now = self.now()
            device_code = secrets.token_urlsafe(32)
            user_code = self._new_user_code(now)
            interval = config.device_interval if config.device_interval is not None else DEFAULT_POLL_INTERVAL
            device = _DeviceAuthorization(
                device_code=device_code,
                user_code=user_code,
                client_id=client_id,
                scope=scope,
                expires_at=now + config.device_code_ttl,
                interval=interval,
                decision="approved" if config.auto_approve else "pending",
            )
            self._devices[device_code] = device
            self._counters["device_authorizations"] += 1
            verification_uri = f"{iam_url}/ui/v1/device"
            answer: dict[str, Any] = {
                "device_code": device_code,
                "user_code": user_code,
                "verification_uri": verification_uri,
                "expires_in": _whole_seconds(config.device_code_ttl),
            }
            if config.device_interval is not None:
                answer["interval"] = config.device_interval
            if config.include_verification_uri_complete:
                answer["verification_uri_complete"] = f"{verification_uri}?user_code={user_code}"
            return answer

    def _new_user_code(self, now: float) -> str:
        live = {d.user_code for d in self._devices.values() if d.expires_at > now}
        while True:
            code = "".join(secrets.choice(_USER_CODE_ALPHABET) for _ in range(8))
            if code not in live:
                return code

    def _find_pending(self, user_code: str, now: float) -> _DeviceAuthorization | None:
        wanted = user_code.strip().upper().replace("-", "").replace(" ", "")
        for device in self._devices.values():
            if (
                device.user_code == wanted
                and device.decision == "pending"
                and not device.redeemed
                and device.expires_at > now
            ):
                return device
        return None

    def decide(self, user_code: str, approve: bool) -> bool:
        """Approve or deny a pending user code; False when no such code is pending."""
        with self._lock:
            device = self._find_pending(user_code, self.now())
            if device is None:
                return False
            device.decision = "approved" if approve else "denied"
            return True

    def _pending_user_codes(self, now: float) -> list[str]:
        return [
            d.user_code
            for d in self._devices.values()
            if d.decision == "pending" and not d.redeemed and d.expires_at > now
        ]

    def pending_user_codes(self) -> list[str]:
        with self._lock:
            return self._pending_user_codes(self.now())

    # --- IAM: token and revoke -------------------------------------------------------------------

    def token(self, form: dict[str, str], basic_client_id: str | None) -> dict:
        with self._lock:
            client_id = self._check_client(form.get("client_id") or basic_client_id)
            grant_type = form.get("grant_type")
            if grant_type == DEVICE_CODE_GRANT:
                return self._device_grant(form, client_id)
            if grant_type == "refresh_token":
                return self._refresh_grant(form, client_id)
            if not grant_type:
                raise OAuthProblem(400, "invalid_request", "The grant_type parameter is required.")
            raise OAuthProblem(
                400, "unsupported_grant_type", "The grant_type is not supported for this client."
            )

    def _device_grant(self, form: dict[str, str], client_id: str) -> dict:
        device_code = form.get("device_code")
        if not device_code:
            raise OAuthProblem(400, "invalid_request", "The device_code parameter is required.")
        self._counters["device_polls"] += 1
        now = self.now()
        device = self._devices.get(device_code)
        if device is None or device.client_id != client_id:
            raise OAuthProblem(400, "invalid_grant", "The device code is invalid.")
        if device.redeemed:
            raise OAuthProblem(400, "invalid_grant", "The device code has already been used.")
        if now >= device.expires_at:
            raise OAuthProblem(400, "expired_token", "The device code has expired.")
        if device.decision == "denied":
            raise OAuthProblem(400, "access_denied", "The user denied the authorization request.")
        previous_poll, device.last_poll_at = device.last_poll_at, now
        if (
            self.config.enforce_poll_interval
            and previous_poll is not None
            and now - previous_poll < device.interval - POLL_TOLERANCE
        ):
            # RFC 8628 §3.5: the interval grows by 5 s for this and all later polls.
            device.interval += 5
            self._counters["slow_downs"] += 1
            raise OAuthProblem(400, "slow_down", "Polling too often: wait longer between requests.")
        if device.decision == "pending":
            raise OAuthProblem(400, "authorization_pending", "The user has not yet approved the request.")
        device.redeemed = True
        login = _Login(
            family_id=uuid.uuid4().hex,
            subject=self.config.username,
            client_id=client_id,
            created_at=now,
            scope=device.scope,
        )
        self._logins[login.family_id] = login
        self._counters["device_grants"] += 1
        answer = self._access_token_answer(login, now)
        if OFFLINE_ACCESS in device.scope.split():
            refresh_token = self._issue_refresh_token(login, now)
            answer["refresh_token"] = refresh_token
        return answer

    def _refresh_grant(self, form: dict[str, str], client_id: str) -> dict:
        presented = form.get("refresh_token")
        if not presented:
            self._counters["refresh_failures"] += 1
            raise OAuthProblem(400, "invalid_request", "The refresh_token parameter is required.")
        now = self.now()
        record = self._refresh_tokens.get(presented)
        if record is None or record.client_id != client_id:
            self._counters["refresh_failures"] += 1
            raise OAuthProblem(400, "invalid_grant", "The refresh token is invalid.")
        login = self._logins[record.family_id]
        if record.spent:
            self._counters["spent_refresh_token_presentations"] += 1
            self._counters["refresh_failures"] += 1
            if self.config.reuse_detection and login.revoked_reason is None:
                self._revoke_login(login, "refresh token reuse detected")
            raise OAuthProblem(400, "invalid_grant", "The refresh token has already been used.")
        if login.revoked_reason is not None:
            self._counters["refresh_failures"] += 1
            raise OAuthProblem(400, "invalid_grant", "The refresh token has been revoked.")
        if now >= record.expires_at:
            self._counters["refresh_failures"] += 1
            raise OAuthProblem(400, "invalid_grant", "The refresh token has expired.")
        if self.config.resource_scope not in login.scope.split():
            # The OAC app's audience changed since the login: the token is not spent.
            self._counters["refresh_failures"] += 1
            raise OAuthProblem(400, "invalid_scope", "The requested scope is invalid, unknown, or malformed.")
        login.refresh_count += 1
        self._counters["refreshes"] += 1
        if self.config.rotate_refresh_tokens:
            record.spent = True
            refresh_token = self._issue_refresh_token(login, now)
        else:
            # Lifetime restarts at every refresh, as IAM documents for rotating tokens too.
            record.expires_at = now + self.config.refresh_token_ttl
            refresh_token = presented
        answer = self._access_token_answer(login, now)
        if self.config.return_refresh_token_on_refresh:
            answer["refresh_token"] = refresh_token
        return answer

    def _issue_refresh_token(self, login: _Login, now: float) -> str:
        refresh_token = secrets.token_urlsafe(48)
        self._refresh_tokens[refresh_token] = _RefreshToken(
            family_id=login.family_id,
            client_id=login.client_id,
            expires_at=now + self.config.refresh_token_ttl,
        )
        login.current_refresh_token = refresh_token
        return refresh_token

    def _access_token_answer(self, login: _Login, now: float) -> dict[str, Any]:
        config = self.config
        ttl = config.access_token_ttl
        jti = uuid.uuid4().hex
        claims = {
            "iss": ISSUER,
            "sub": login.subject,
            "user_displayname": display_name(login.subject),
            "sub_type": "user",
            "aud": [config.audience],
            "scope": OAC_RESOURCE_SCOPE,
            "client_id": login.client_id,
            "iat": int(now),
            "exp": math.ceil(now + ttl),
            "jti": jti,
            "tok_type": "AT",
        }
        # The precise expiry stays here: ``exp`` is whole seconds, sub-second test lifetimes are not.
        self._access_tokens[jti] = _AccessToken(family_id=login.family_id, expires_at=now + ttl)
        access_token = _jwt.encode(claims, self._signing_key)
        self._issued_access_tokens.append(access_token)
        return {
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": _whole_seconds(ttl),
        }

    def _revoke_login(self, login: _Login, reason: str) -> None:
        login.revoked_reason = reason
        self._counters["revoked_logins"] += 1

    def revoke(self, form: dict[str, str], basic_client_id: str | None) -> None:
        with self._lock:
            self._check_client(form.get("client_id") or basic_client_id)
            token = form.get("token")
            if not token:
                raise OAuthProblem(400, "invalid_request", "The token parameter is required.")
            self._counters["revocations"] += 1
            family_id: str | None = None
            record = self._refresh_tokens.get(token)
            if record is not None:
                family_id = record.family_id
            else:
                try:
                    jti = _jwt.verify(token, self._signing_key).get("jti")
                except _jwt.InvalidToken:
                    jti = None
                access = self._access_tokens.get(jti) if isinstance(jti, str) else None
                family_id = access.family_id if access is not None else None
            # RFC 7009 §2.2: an unknown token is not an error.
            login = self._logins.get(family_id) if family_id else None
            if login is not None and login.revoked_reason is None:
                self._revoke_login(login, "revoked")

    def logins(self) -> list[dict[str, Any]]:
        with self._lock:
            now = self.now()
            result = []
            for login in self._logins.values():
                current = self._refresh_tokens.get(login.current_refresh_token or "")
                result.append(
                    {
                        "family_id": login.family_id,
                        "subject": login.subject,
                        "active": login.revoked_reason is None
                        and current is not None
                        and not current.spent
                        and current.expires_at > now,
                        "revoked_reason": login.revoked_reason,
                        "refresh_count": login.refresh_count,
                    }
                )
            return result

    def issued_tokens(self) -> dict[str, list[str]]:
        """Every access and refresh token issued since the last reset, oldest first: what a leak
        check searches logs for (the emulator's tokens open nothing but the emulator)."""
        with self._lock:
            return {
                "access_tokens": list(self._issued_access_tokens),
                "refresh_tokens": list(self._refresh_tokens),
            }

    def expire_access_tokens(self) -> int:
        with self._lock:
            for record in self._access_tokens.values():
                record.invalidated = True
            return len(self._access_tokens)

    # --- OAC: authentication ---------------------------------------------------------------------

    def _bearer_jti(self, authorization: str | None) -> tuple[str | None, dict[str, Any] | None, str]:
        """(jti, claims, problem) for an Authorization header; problem is "" when the token verifies."""
        if not authorization or authorization[:7].lower() != "bearer ":
            return None, None, "Missing Authorization: Bearer <access token> header."
        token = authorization[7:].strip()
        try:
            claims = _jwt.verify(token, self._signing_key)
        except _jwt.InvalidToken:
            return None, None, "The access token is invalid (not signed by this identity domain)."
        jti = claims.get("jti")
        return (jti if isinstance(jti, str) else None), claims, ""

    def authenticate(self, authorization: str | None) -> str:
        """The user behind a valid bearer token, or a 401 :class:`APIProblem`."""
        with self._lock:
            jti, claims, problem = self._bearer_jti(authorization)
            if problem:
                raise APIProblem(401, "Unauthorized", problem)
            record = self._access_tokens.get(jti or "")
            if record is None or claims is None:
                raise APIProblem(401, "Unauthorized", "The access token is not recognised.")
            if record.invalidated or self.now() >= record.expires_at:
                raise APIProblem(401, "Unauthorized", "The access token has expired.")
            audience = claims.get("aud")
            audiences = audience if isinstance(audience, list) else [audience]
            if self.config.audience not in audiences:
                raise APIProblem(
                    401,
                    "Unauthorized",
                    "The access token was not issued for this Oracle Analytics Cloud instance.",
                )
            return str(claims.get("sub", ""))

    def invalidate_bearer(self, authorization: str | None) -> None:
        with self._lock:
            jti, _claims, _problem = self._bearer_jti(authorization)
            record = self._access_tokens.get(jti or "")
            if record is not None:
                record.invalidated = True

    # --- OAC: snapshots --------------------------------------------------------------------------

    def list_snapshots(self) -> list[dict[str, Any]]:
        with self._lock:
            self._settle(self.now())
            return [self._render_snapshot(s) for s in self._snapshots.values() if s.registered]

    def get_snapshot(self, snapshot_id: str) -> dict[str, Any]:
        with self._lock:
            self._settle(self.now())
            return self._render_snapshot(self._registered_snapshot(snapshot_id))

    def _registered_snapshot(self, snapshot_id: str) -> _Snapshot:
        snapshot = self._snapshots.get(snapshot_id)
        if snapshot is None or not snapshot.registered:
            raise APIProblem(404, "NotFound", f"Snapshot {snapshot_id} was not found.")
        return snapshot

    def _render_snapshot(self, snapshot: _Snapshot) -> dict[str, Any]:
        return {
            "id": snapshot.id,
            "name": snapshot.name,
            "createdByUser": snapshot.created_by,
            "timeCreated": rfc3339(snapshot.time_created or 0.0),
            "bar": {"uri": f"file:///{snapshot.object_name}"},
            "storage": snapshot.storage,
        }

    def create_snapshot(self, payload: Any, subject: str, fault: Fault | None) -> str:
        """Validate a CREATE/REGISTER body, start its work request, return the work request id."""
        request = _validate_snapshot_request(payload)
        if (
            request.type == "CREATE"
            and self.config.enforce_snapshot_password_rule
            and not _meets_password_rule(request.password or "")
        ):
            raise _bad(SNAPSHOT_PASSWORD_MESSAGE)
        with self._lock:
            now = self.now()
            self._settle(now)
            snapshot_id = str(uuid.uuid4())
            work_request = self._new_work_request("CREATE_SNAPSHOT", "SNAPSHOT", snapshot_id, now, fault)
            object_name = request.object_name or f"{_safe_object_stem(request.name)}-{int(now)}.bar"
            self._snapshots[snapshot_id] = _Snapshot(
                id=snapshot_id,
                name=request.name,
                kind=request.type,
                created_by=subject,
                bucket=request.bucket,
                object_name=object_name,
                storage=request.storage,
                password=request.password,
                work_request_id=work_request.id,
            )
            self._counters["snapshots_created" if request.type == "CREATE" else "snapshots_registered"] += 1
            self._settle(now)
            return work_request.id

    def delete_snapshot(self, snapshot_id: str, delete_storage: bool) -> None:
        with self._lock:
            self._settle(self.now())
            snapshot = self._registered_snapshot(snapshot_id)
            del self._snapshots[snapshot_id]
            if delete_storage:
                self._buckets.get(snapshot.bucket, {}).pop(snapshot.object_name, None)
            self._counters["snapshots_deleted"] += 1

    def restore_snapshot(self, payload: Any, fault: Fault | None) -> str:
        snapshot_part = payload.get("snapshot") if isinstance(payload, dict) else None
        if not isinstance(snapshot_part, dict):
            raise APIProblem(400, "BadRequest", "The request body must contain a snapshot object.")
        snapshot_id = snapshot_part.get("id")
        password = snapshot_part.get("password")
        if not isinstance(snapshot_id, str) or not snapshot_id:
            raise APIProblem(400, "BadRequest", "snapshot.id is required.")
        if not isinstance(password, str) or not password:
            raise APIProblem(400, "BadRequest", "snapshot.password is required.")
        with self._lock:
            now = self.now()
            self._settle(now)
            snapshot = self._registered_snapshot(snapshot_id)
            work_request = self._new_work_request("RESTORE_SNAPSHOT", "SYSTEM", snapshot_id, now, fault)
            self._restores.append(
                _Restore(
                    work_request_id=work_request.id,
                    snapshot_id=snapshot_id,
                    snapshot_name=snapshot.name,
                    password=password,
                    time_accepted=now,
                )
            )
            self._counters["restores_started"] += 1
            self._settle(now)
            return work_request.id

    def system(self) -> dict[str, Any]:
        with self._lock:
            now = self.now()
            self._settle(now)
            last = next((r for r in reversed(self._restores) if r.status == "SUCCEEDED"), None)
            return {
                "name": "oac-emulator",
                "description": "Local emulator of Oracle Analytics Cloud (REST API 20210901).",
                "apiVersion": "20210901",
                "emulator": True,
                "timeNow": rfc3339(now),
                "lastRestoredSnapshotId": last.snapshot_id if last else None,
            }

    # --- work requests ---------------------------------------------------------------------------

    def _new_work_request(
        self, operation: str, resource_type: str, snapshot_id: str, now: float, fault: Fault | None
    ) -> _WorkRequest:
        work_request = _WorkRequest(
            id=str(uuid.uuid4()),
            operation_type=operation,
            resource_type=resource_type,
            snapshot_id=snapshot_id,
            time_accepted=now,
            finish_at=now + self.config.work_request_seconds,
        )
        if fault is not None and fault.action == "stuck_work_request":
            work_request.stuck = True
        if fault is not None and fault.action == "fail_work_request":
            work_request.forced_failure = (
                fault.code or "InternalServerError",
                fault.message or "The operation failed (fault injected by the emulator).",
            )
        self._work_requests[work_request.id] = work_request
        self._counters["work_requests_created"] += 1
        return work_request

    def get_work_request(self, work_request_id: str) -> dict[str, Any]:
        with self._lock:
            now = self.now()
            self._settle(now)
            work_request = self._work_requests.get(work_request_id)
            if work_request is None:
                raise APIProblem(404, "NotFound", f"Work request {work_request_id} was not found.")
            return self._render_work_request(work_request, now)

    def release_work_requests(self) -> int:
        with self._lock:
            now = self.now()
            released = 0
            for work_request in self._work_requests.values():
                if work_request.stuck:
                    work_request.stuck = False
                    work_request.finish_at = max(work_request.finish_at, now)
                    released += 1
            self._settle(now)
            return released

    def work_requests(self) -> list[dict[str, Any]]:
        with self._lock:
            now = self.now()
            self._settle(now)
            return [self._render_work_request(w, now) for w in self._work_requests.values()]

    def _status(self, work_request: _WorkRequest, now: float) -> tuple[str, float]:
        if work_request.final_status is not None:
            return work_request.final_status, 100.0
        elapsed = now - work_request.time_accepted
        duration = max(work_request.duration, 1e-9)
        if elapsed < ACCEPTED_SHARE * duration:
            return "ACCEPTED", 0.0
        percent = min(elapsed / duration * 100.0, 99.0)
        if work_request.stuck:
            percent = min(percent, 50.0)
        return "IN_PROGRESS", round(percent, 1)

    def _render_work_request(self, work_request: _WorkRequest, now: float) -> dict[str, Any]:
        status, percent = self._status(work_request, now)
        if status == "SUCCEEDED":
            action = "UPDATED" if work_request.operation_type == "RESTORE_SNAPSHOT" else "CREATED"
        elif status == "FAILED":
            action = "FAILED"
        else:
            action = "IN_PROGRESS"
        rendered: dict[str, Any] = {
            "id": work_request.id,
            "operationType": work_request.operation_type,
            "status": status,
            "percentComplete": percent,
            "timeAccepted": rfc3339(work_request.time_accepted),
        }
        if status != "ACCEPTED":
            started = work_request.time_accepted + ACCEPTED_SHARE * work_request.duration
            rendered["timeStarted"] = rfc3339(started)
        if work_request.time_finished is not None:
            rendered["timeFinished"] = rfc3339(work_request.time_finished)
        rendered["resourceType"] = work_request.resource_type
        rendered["resources"] = [{"actionResult": action, "id": work_request.snapshot_id, "metadata": {}}]
        if work_request.errors:
            rendered[self.config.work_request_errors_key] = list(work_request.errors)
        return rendered

    def _settle(self, now: float) -> None:
        """Finish every work request whose time has come, in the order they finish."""
        due = sorted(
            (
                w
                for w in self._work_requests.values()
                if w.final_status is None and not w.stuck and w.finish_at <= now
            ),
            key=lambda w: w.finish_at,
        )
        for work_request in due:
            self._finish(work_request, work_request.finish_at)

    def _finish(self, work_request: _WorkRequest, at: float) -> None:
        work_request.time_finished = at
        failure = work_request.forced_failure or self._apply_effects(work_request, at)
        if failure is None:
            work_request.final_status = "SUCCEEDED"
        else:
            work_request.final_status = "FAILED"
            code, message = failure
            work_request.errors = [{"code": code, "message": message, "timestamp": rfc3339(at)}]
            if work_request.operation_type == "CREATE_SNAPSHOT":
                # A failed create or register leaves nothing behind.
                self._snapshots.pop(work_request.snapshot_id, None)
        if work_request.operation_type == "RESTORE_SNAPSHOT":
            for restore in self._restores:
                if restore.work_request_id == work_request.id:
                    restore.status = work_request.final_status
                    restore.time_finished = at

    def _apply_effects(self, work_request: _WorkRequest, at: float) -> tuple[str, str] | None:
        """Do what the work request does; (code, message) when it fails."""
        if work_request.operation_type == "CREATE_SNAPSHOT":
            snapshot = self._snapshots.get(work_request.snapshot_id)
            if snapshot is None:
                return ("NotFound", "The snapshot was removed before its work request finished.")
            bucket = self._buckets.setdefault(snapshot.bucket, {})
            if snapshot.kind == "CREATE":
                bucket[snapshot.object_name] = _BarObject(
                    password=snapshot.password, time_created=at, written_by=snapshot.name
                )
            else:
                bar = bucket.get(snapshot.object_name)
                if bar is None:
                    return (
                        "BarFileNotFound",
                        f"The snapshot BAR file {snapshot.object_name} was not found in bucket "
                        f"{snapshot.bucket}.",
                    )
                if (
                    snapshot.password is not None
                    and bar.password is not None
                    and snapshot.password != bar.password
                ):
                    return ("InvalidPassword", f"The password for snapshot {snapshot.name} is incorrect.")
                if snapshot.password is None:
                    snapshot.password = bar.password
            snapshot.time_created = at
            snapshot.registered = True
            return None
        restore = next(r for r in self._restores if r.work_request_id == work_request.id)
        snapshot = self._snapshots.get(restore.snapshot_id)
        if snapshot is None:
            return ("NotFound", f"Snapshot {restore.snapshot_id} was deleted before the restore ran.")
        bar = self._buckets.get(snapshot.bucket, {}).get(snapshot.object_name)
        if bar is None:
            return (
                "BarFileNotFound",
                f"The snapshot BAR file {snapshot.object_name} was not found in bucket {snapshot.bucket}.",
            )
        if restore.password != bar.password:
            return ("InvalidPassword", f"The password for snapshot {snapshot.name} is incorrect.")
        return None

    # --- inspection for tests --------------------------------------------------------------------

    def snapshots_info(self) -> list[dict[str, Any]]:
        with self._lock:
            self._settle(self.now())
            result = []
            for snapshot in self._snapshots.values():
                bar_exists = snapshot.object_name in self._buckets.get(snapshot.bucket, {})
                result.append(
                    {
                        "id": snapshot.id,
                        "name": snapshot.name,
                        "type": snapshot.kind,
                        "registered": snapshot.registered,
                        "work_request_id": snapshot.work_request_id,
                        "created_by": snapshot.created_by,
                        "time_created": rfc3339(snapshot.time_created) if snapshot.time_created else None,
                        "bucket": snapshot.bucket,
                        "object": snapshot.object_name,
                        "bar_uri": f"file:///{snapshot.object_name}",
                        "bar_exists": bar_exists,
                    }
                )
            return result

    def bar_objects(self) -> list[dict[str, Any]]:
        with self._lock:
            self._settle(self.now())
            return [
                {
                    "bucket": bucket_name,
                    "object": object_name,
                    "time_created": rfc3339(bar.time_created),
                    "written_by": bar.written_by,
                    "has_password": bar.password is not None,
                }
                for bucket_name, bucket in self._buckets.items()
                for object_name, bar in bucket.items()
            ]

    def put_bar_object(self, bucket: Any, object_name: Any, password: Any) -> None:
        if not isinstance(bucket, str) or not bucket or not isinstance(object_name, str) or not object_name:
            raise ControlProblem(400, "bucket and object must be non-empty text")
        if password is not None and not isinstance(password, str):
            raise ControlProblem(400, "password must be text or null")
        with self._lock:
            self._buckets.setdefault(bucket, {})[object_name.removeprefix("file:///")] = _BarObject(
                password=password, time_created=self.now(), written_by="control"
            )

    def restores(self) -> list[dict[str, Any]]:
        with self._lock:
            self._settle(self.now())
            return [
                {
                    "work_request_id": r.work_request_id,
                    "snapshot_id": r.snapshot_id,
                    "snapshot_name": r.snapshot_name,
                    "status": r.status,
                    "time_accepted": rfc3339(r.time_accepted),
                    "time_finished": rfc3339(r.time_finished) if r.time_finished else None,
                }
                for r in self._restores
            ]


# --- request validation --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _SnapshotRequest:
    type: str
    name: str
    bucket: str
    object_name: str | None
    password: str | None = field(repr=False)
    #: What OAC echoes back: never the auth secrets.
    storage: dict[str, Any]


_USER_PRINCIPAL_FIELDS = (
    "ociRegion",
    "ociTenancyId",
    "ociUserId",
    "ociKeyFingerprint",
    "ociPrivateKeyWrapped",
)


def _bad(message: str) -> APIProblem:
    return APIProblem(400, "BadRequest", message)


def _validate_snapshot_request(payload: Any) -> _SnapshotRequest:
    if not isinstance(payload, dict):
        raise _bad("The request body must be a JSON object.")
    kind = payload.get("type")
    if kind not in ("CREATE", "REGISTER"):
        raise _bad(f"Invalid snapshot type {kind!r}: expected CREATE or REGISTER.")
    name = payload.get("name")
    if not isinstance(name, str) or not name.strip():
        raise _bad("name is required.")
    storage = payload.get("storage")
    if not isinstance(storage, dict):
        raise _bad("storage is required.")
    if storage.get("type") != "OCI_NATIVE":
        raise _bad(f"Invalid storage type {storage.get('type')!r}: expected OCI_NATIVE.")
    bucket = storage.get("bucket")
    if not isinstance(bucket, str) or not bucket:
        raise _bad("storage.bucket is required.")
    auth = storage.get("auth")
    if not isinstance(auth, dict):
        raise _bad("storage.auth is required.")
    auth_type = auth.get("type")
    if auth_type not in ("OCI_RESOURCE_PRINCIPAL", "OSS_AUTH_OCI_USER_ID"):
        raise _bad(
            f"Invalid storage.auth.type {auth_type!r}: "
            "expected OCI_RESOURCE_PRINCIPAL or OSS_AUTH_OCI_USER_ID."
        )
    if auth_type == "OSS_AUTH_OCI_USER_ID":
        missing = [f for f in _USER_PRINCIPAL_FIELDS if not isinstance(auth.get(f), str) or not auth.get(f)]
        if missing:
            raise _bad(f"storage.auth is missing {', '.join('storage.auth.' + f for f in missing)}.")
    bar = payload.get("bar")
    if bar is not None and not isinstance(bar, dict):
        raise _bad("bar must be an object.")
    bar = bar or {}
    uri = bar.get("uri")
    object_name: str | None = None
    if uri is not None:
        if not isinstance(uri, str) or not uri.startswith("file:///") or len(uri) == len("file:///"):
            raise _bad("Invalid Snapshot BAR URI: expected file:///<object name in the bucket>.")
        object_name = uri.removeprefix("file:///")
    password = bar.get("password")
    if password is not None and (not isinstance(password, str) or not password):
        raise _bad("bar.password must be non-empty text.")
    if kind == "CREATE" and password is None:
        raise _bad("bar.password is required to create a snapshot.")
    if kind == "REGISTER" and object_name is None:
        raise _bad("bar.uri is required to register a snapshot.")
    echoed: dict[str, Any] = {"type": "OCI_NATIVE", "bucket": bucket}
    for optional in ("bucketOciNamespace", "bucketOciRegion"):
        if isinstance(storage.get(optional), str) and storage[optional]:
            echoed[optional] = storage[optional]
    echoed["auth"] = {"type": auth_type}
    return _SnapshotRequest(
        type=kind, name=name, bucket=bucket, object_name=object_name, password=password, storage=echoed
    )


#: The emulator's answer to a weak CREATE password. OAC's exact status and text are unconfirmed;
#: the rule itself is Oracle's (What's New, March 2025).
SNAPSHOT_PASSWORD_MESSAGE = (
    "Invalid snapshot password: use 14 to 50 characters with at least one number, one uppercase "
    "letter, one lowercase letter and one special character."
)


def _meets_password_rule(password: str) -> bool:
    return (
        14 <= len(password) <= 50
        and re.search(r"[0-9]", password) is not None
        and re.search(r"[A-Z]", password) is not None
        and re.search(r"[a-z]", password) is not None
        and re.search(r"[^A-Za-z0-9]", password) is not None
    )


def _safe_object_stem(name: str) -> str:
    stem = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)
    return stem or "snapshot"


def _whole_seconds(seconds: float) -> int | float:
    """Whole seconds as an int, like IAM; a sub-second test lifetime stays a float."""
    return int(seconds) if float(seconds).is_integer() else seconds


def _optional(spec: dict[str, Any], key: str, kind: type) -> Any:
    value = spec.get(key)
    if value is None:
        return None
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise ControlProblem(400, f"{key} must be {kind.__name__}")
    return value
