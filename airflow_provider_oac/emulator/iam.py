"""The emulated OCI IAM identity domain: device authorization (RFC 8628), the token endpoint
(device grant, refresh with rotation and reuse detection), revocation (RFC 7009), and the check of
an access token that an OAC instance asks of it.

One domain can serve several OAC apps (instances): a login names one app's audience in its scope,
and its access tokens carry that audience. Plain Python with no web framework.
"""

from __future__ import annotations

import math
import secrets
import string
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_oac.emulator import _jwt
from airflow_provider_oac.emulator.common import Clock, Counters, OAuthProblem, whole_seconds
from airflow_provider_oac.emulator.config import OAC_RESOURCE_SCOPE, OFFLINE_ACCESS, EmulatorConfig

DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
ISSUER = "https://identity.oraclecloud.com/"
#: RFC 8628 §3.2: clients poll every 5 s when the server sends no interval.
DEFAULT_POLL_INTERVAL = 5
#: A poll this much early still counts as on time (client sleep jitter, request latency).
POLL_TOLERANCE = 0.5

_USER_CODE_ALPHABET = string.ascii_uppercase


class InvalidAccessToken(Exception):
    """A bearer token this domain does not vouch for; the message says why (never the token)."""


def display_name(username: str) -> str:
    """``data.engineer@example.com`` → ``Data Engineer``."""
    local = username.split("@", 1)[0]
    words = [word for word in local.replace("_", ".").replace("-", ".").split(".") if word]
    return " ".join(word.capitalize() for word in words) or username


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
    #: the audience of an OAC app this domain serves).
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


class IdentityDomain:
    """Device codes, logins, refresh and access tokens of one identity domain.

    ``config`` supplies the client id, the user, the lifetimes and the refresh-token policy
    (``EmulatorConfig``'s IAM fields). Methods raise :class:`OAuthProblem` for error answers.
    """

    def __init__(
        self,
        config: EmulatorConfig,
        clock: Clock,
        counters: Counters,
        lock: threading.RLock,
        *,
        signing_key: bytes | None = None,
    ):
        self.config = config
        self._clock = clock
        self._counters = counters
        self._lock = lock
        # Tokens of another domain fail the signature check. An emulator passes its key on across
        # resets: tokens from before a reset are then rejected because their ids are forgotten.
        self._signing_key = signing_key if signing_key is not None else secrets.token_bytes(32)
        #: The current audience of every OAC app this domain serves (read at each check, so an
        #: app's audience can change at runtime).
        self._audiences: list[Callable[[], str]] = []
        self._devices: dict[str, _DeviceAuthorization] = {}
        self._logins: dict[str, _Login] = {}
        self._refresh_tokens: dict[str, _RefreshToken] = {}
        self._access_tokens: dict[str, _AccessToken] = {}
        #: Every access token as issued (``_access_tokens`` keeps only their ids), for leak checks.
        self._issued_access_tokens: list[str] = []

    def serve(self, audience: Callable[[], str]) -> None:
        """Accept logins for the OAC app whose audience ``audience()`` returns."""
        self._audiences.append(audience)

    def now(self) -> float:
        return self._clock.now()

    def _audience_for(self, scope: str) -> str | None:
        """The audience of the first served app whose resource scope ``scope`` names."""
        granted = scope.split()
        for audience in (current() for current in self._audiences):
            if f"{audience}{OAC_RESOURCE_SCOPE}" in granted:
                return audience
        return None

    # --- device authorization --------------------------------------------------------------------

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
            if self._audience_for(scope) is None:
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
            self._counters.add("device_authorizations")
            verification_uri = f"{iam_url}/ui/v1/device"
            answer: dict[str, Any] = {
                "device_code": device_code,
                "user_code": user_code,
                "verification_uri": verification_uri,
                "expires_in": whole_seconds(config.device_code_ttl),
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

    # --- token and revoke ------------------------------------------------------------------------

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
        self._counters.add("device_polls")
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
            self._counters.add("slow_downs")
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
        self._counters.add("device_grants")
        answer = self._access_token_answer(login, self._audience_for(device.scope) or "", now)
        if OFFLINE_ACCESS in device.scope.split():
            refresh_token = self._issue_refresh_token(login, now)
            answer["refresh_token"] = refresh_token
        return answer

    def _refresh_grant(self, form: dict[str, str], client_id: str) -> dict:
        presented = form.get("refresh_token")
        if not presented:
            self._counters.add("refresh_failures")
            raise OAuthProblem(400, "invalid_request", "The refresh_token parameter is required.")
        now = self.now()
        record = self._refresh_tokens.get(presented)
        if record is None or record.client_id != client_id:
            self._counters.add("refresh_failures")
            raise OAuthProblem(400, "invalid_grant", "The refresh token is invalid.")
        login = self._logins[record.family_id]
        if record.spent:
            self._counters.add("spent_refresh_token_presentations")
            self._counters.add("refresh_failures")
            if self.config.reuse_detection and login.revoked_reason is None:
                self._revoke_login(login, "refresh token reuse detected")
            raise OAuthProblem(400, "invalid_grant", "The refresh token has already been used.")
        if login.revoked_reason is not None:
            self._counters.add("refresh_failures")
            raise OAuthProblem(400, "invalid_grant", "The refresh token has been revoked.")
        if now >= record.expires_at:
            self._counters.add("refresh_failures")
            raise OAuthProblem(400, "invalid_grant", "The refresh token has expired.")
        audience = self._audience_for(login.scope)
        if audience is None:
            # The OAC app's audience changed since the login: the token is not spent.
            self._counters.add("refresh_failures")
            raise OAuthProblem(400, "invalid_scope", "The requested scope is invalid, unknown, or malformed.")
        login.refresh_count += 1
        self._counters.add("refreshes")
        if self.config.rotate_refresh_tokens:
            record.spent = True
            refresh_token = self._issue_refresh_token(login, now)
        else:
            # Lifetime restarts at every refresh, as IAM documents for rotating tokens too.
            record.expires_at = now + self.config.refresh_token_ttl
            refresh_token = presented
        answer = self._access_token_answer(login, audience, now)
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

    def _access_token_answer(self, login: _Login, audience: str, now: float) -> dict[str, Any]:
        config = self.config
        ttl = config.access_token_ttl
        jti = uuid.uuid4().hex
        claims = {
            "iss": ISSUER,
            "sub": login.subject,
            "user_displayname": display_name(login.subject),
            "sub_type": "user",
            "aud": [audience],
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
            "expires_in": whole_seconds(ttl),
        }

    def _revoke_login(self, login: _Login, reason: str) -> None:
        login.revoked_reason = reason
        self._counters.add("revoked_logins")

    def revoke(self, form: dict[str, str], basic_client_id: str | None) -> None:
        with self._lock:
            self._check_client(form.get("client_id") or basic_client_id)
            token = form.get("token")
            if not token:
                raise OAuthProblem(400, "invalid_request", "The token parameter is required.")
            self._counters.add("revocations")
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

    # --- what an OAC instance asks -----------------------------------------------------------------

    def _bearer_jti(self, authorization: str | None) -> tuple[str | None, dict[str, Any]]:
        """(jti, claims) of an Authorization header; :class:`InvalidAccessToken` if it does not verify."""
        if not authorization or authorization[:7].lower() != "bearer ":
            raise InvalidAccessToken("Missing Authorization: Bearer <access token> header.")
        token = authorization[7:].strip()
        try:
            claims = _jwt.verify(token, self._signing_key)
        except _jwt.InvalidToken:
            raise InvalidAccessToken(
                "The access token is invalid (not signed by this identity domain)."
            ) from None
        jti = claims.get("jti")
        return (jti if isinstance(jti, str) else None), claims

    def access_claims(self, authorization: str | None) -> dict[str, Any]:
        """The claims of a live access token this domain issued; :class:`InvalidAccessToken` (its
        message is the reason) for a missing, foreign, unknown, expired or invalidated one.
        The audience is the instance's to check."""
        with self._lock:
            jti, claims = self._bearer_jti(authorization)
            record = self._access_tokens.get(jti or "")
            if record is None:
                raise InvalidAccessToken("The access token is not recognised.")
            if record.invalidated or self.now() >= record.expires_at:
                raise InvalidAccessToken("The access token has expired.")
            return claims

    def invalidate_bearer(self, authorization: str | None) -> None:
        with self._lock:
            try:
                jti, _claims = self._bearer_jti(authorization)
            except InvalidAccessToken:
                return
            record = self._access_tokens.get(jti or "")
            if record is not None:
                record.invalidated = True
