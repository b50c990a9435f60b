"""The ``oac`` connection's fields, checked and typed.

Plain data: the hook, the CLI and the UI page all read a connection through
:func:`connection_config`, so every one of them gives the same one-line error for the same
mistake. No Airflow imports.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from airflow_provider_oac.auth.protocol import IAMEndpoints
from airflow_provider_oac.auth.tokens import DEFAULT_REFRESH_TOKEN_LIFETIME
from airflow_provider_oac.errors import OACConfigError
from airflow_provider_oac.validation import (
    client_id_warning,
    scope_warning,
    validate_client_id,
    validate_iam_url,
    validate_oac_url,
    validate_positive_number,
    validate_scope,
    validate_service_url,
)

CONN_TYPE = "oac"
DEFAULT_CONN_ID = "oac_default"

STORAGE_AUTH_TYPES = ("OCI_RESOURCE_PRINCIPAL", "OSS_AUTH_OCI_USER_ID")
#: API-key ("user principal") storage auth, deprecated by Oracle. OAC needs the user's API-key
#: fields with it, which no connection field or operator argument carries: a connection may
#: still hold it (list, delete and keep-alive work), but nothing offers it and a snapshot with it
#: stops before any call with :func:`api_key_storage_auth_message`.
API_KEY_STORAGE_AUTH = "OSS_AUTH_OCI_USER_ID"


def api_key_storage_auth_message(where: str) -> str:
    return (
        f"{where} is {API_KEY_STORAGE_AUTH} (API-key auth, deprecated by Oracle), which needs API-key "
        "fields this provider cannot pass, so every snapshot with it fails: use OCI_RESOURCE_PRINCIPAL "
        "(the default) with an OCI policy for OAC's resource principal."
    )


#: Connection extras we read. Anything else in ``extra`` is an error (a typo would otherwise be
#: silently ignored).
KNOWN_EXTRAS = frozenset(
    {
        "iam_url",
        "scope",
        "bucket",
        "storage_auth_type",
        "bucket_namespace",
        "bucket_region",
        "refresh_token_lifetime",
        "lock_conn_id",
        "device_url",
        "token_url",
        "revoke_url",
        "ca_bundle",
        "timeout",
        "login_at",
        "subject",
    }
)


@dataclass(frozen=True, slots=True)
class OACConnectionConfig:
    conn_id: str
    oac_url: str
    iam_url: str
    client_id: str
    scope: str
    refresh_token: str | None = field(default=None, repr=False)
    refresh_token_lifetime: float = DEFAULT_REFRESH_TOKEN_LIFETIME
    bucket: str | None = None
    storage_auth_type: str = "OCI_RESOURCE_PRINCIPAL"
    bucket_namespace: str | None = None
    bucket_region: str | None = None
    #: An Airflow connection (postgres or redis) whose server serializes refreshes across hosts.
    lock_conn_id: str | None = None
    device_url: str | None = None
    token_url: str | None = None
    revoke_url: str | None = None
    #: A CA bundle path for TLS verification (verification itself cannot be turned off).
    ca_bundle: str | None = None
    timeout: float = 60.0
    #: When ``airflow-oac login`` wrote this refresh token (epoch seconds), and for whom.
    login_at: float | None = None
    subject: str | None = None
    #: One-line warnings about accepted values that look like typos (e.g. the scope), for the
    #: hook's log, the CLI and the UI page to show.
    warnings: tuple[str, ...] = field(default=(), compare=False)
    #: The identity domain's device, token and revocation endpoints, overrides applied: built here
    #: once, so the hook, the CLI and the UI page all talk to the same URLs.
    iam_endpoints: IAMEndpoints = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        endpoints = IAMEndpoints.for_domain(
            self.iam_url, device_url=self.device_url, token_url=self.token_url, revoke_url=self.revoke_url
        )
        object.__setattr__(self, "iam_endpoints", endpoints)  # frozen: set once, here

    @property
    def login_key(self) -> str:
        """Names the login this connection holds: it changes whenever a new login writes a new
        refresh token, so tokens stored for an older login are never used again."""
        return login_key(self.conn_id, self.refresh_token or "")

    @property
    def verify(self) -> bool | str:
        return self.ca_bundle or True


def login_key(conn_id: str, refresh_token: str) -> str:
    # A one-way digest: it names the login without revealing the token.
    return hashlib.sha256(f"{conn_id}\0{refresh_token}".encode()).hexdigest()[:16]


def connection_extra(conn: Any, conn_id: str) -> str | None:
    """``conn.extra``, or the one-line OACConfigError when it is not JSON: Airflow's own getter
    raises a bare ValueError for an Extra edited by hand into something else."""
    try:
        return conn.extra
    except ValueError:
        raise OACConfigError(
            f"Connection {conn_id!r}: Extra is not valid JSON: fix it or re-create the connection with "
            f"airflow-oac login --conn-id {conn_id}."
        ) from None


def parse_extra(extra: str | dict[str, Any] | None, conn_id: str) -> dict[str, Any]:
    if extra is None or extra == "":
        return {}
    if isinstance(extra, dict):
        return dict(extra)
    try:
        value = json.loads(extra)
    except ValueError:
        raise OACConfigError(
            f"Connection {conn_id!r}: Extra is not valid JSON: fix it or re-create the connection with "
            f"airflow-oac login --conn-id {conn_id}."
        ) from None
    if not isinstance(value, dict):
        raise OACConfigError(f"Connection {conn_id!r}: Extra must be a JSON object ({{...}}).")
    return value


def connection_config(
    conn_id: str,
    *,
    host: str | None,
    login: str | None,
    password: str | None,
    extra: str | dict[str, Any] | None,
    conn_type: str | None = CONN_TYPE,
    require_refresh_token: bool = True,
) -> OACConnectionConfig:
    """Check the connection's fields and return them typed; errors name the field and the fix."""
    prefix = f"Connection {conn_id!r}:"
    relogin = f"run airflow-oac login --conn-id {conn_id}"
    if conn_type not in (None, "", CONN_TYPE):
        raise OACConfigError(f"{prefix} type is {conn_type!r}, expected {CONN_TYPE!r}: {relogin}.")
    extras = parse_extra(extra, conn_id)
    unknown = sorted(set(extras) - KNOWN_EXTRAS)
    if unknown:
        raise OACConfigError(
            f"{prefix} unknown Extra field(s) {', '.join(unknown)}; known fields: "
            f"{', '.join(sorted(KNOWN_EXTRAS))}."
        )

    def checked(fn, value, what):
        try:
            return fn(value, f"{prefix} {what}")
        except OACConfigError as exc:
            raise OACConfigError(str(exc)) from None

    oac_url = checked(validate_oac_url, host, "Host (OAC URL)")
    iam_url = checked(validate_iam_url, extras.get("iam_url"), "Extra 'iam_url' (IAM identity domain URL)")
    client_id = checked(validate_client_id, login, "Login (IAM client id)")
    scope = checked(validate_scope, extras.get("scope"), "Extra 'scope'")
    warnings = tuple(
        w
        for w in (
            client_id_warning(client_id, f"{prefix} Login (IAM client id)"),
            scope_warning(scope, f"{prefix} Extra 'scope'"),
        )
        if w
    )

    if require_refresh_token and not password:
        raise OACConfigError(f"{prefix} has no refresh token (Password is empty): {relogin}.")
    if password is not None and password != password.strip():
        raise OACConfigError(f"{prefix} Password (refresh token) has surrounding spaces: {relogin}.")

    storage_auth_type = extras.get("storage_auth_type") or "OCI_RESOURCE_PRINCIPAL"
    if storage_auth_type not in STORAGE_AUTH_TYPES:
        raise OACConfigError(
            f"{prefix} Extra 'storage_auth_type' is {storage_auth_type!r}: use OCI_RESOURCE_PRINCIPAL "
            "(the default; or leave it empty)."
        )
    lifetime = extras.get("refresh_token_lifetime", DEFAULT_REFRESH_TOKEN_LIFETIME)
    lifetime = checked(validate_positive_number, lifetime, "Extra 'refresh_token_lifetime' (seconds)")
    timeout = checked(validate_positive_number, extras.get("timeout", 60.0), "Extra 'timeout' (seconds)")

    endpoints = {}
    for name in ("device_url", "token_url", "revoke_url"):
        if extras.get(name):
            endpoints[name] = checked(
                lambda v, f: validate_service_url(v, f, f"{iam_url}/oauth2/v1/..."),
                extras[name],
                f"Extra {name!r}",
            )

    for name in ("bucket", "bucket_namespace", "bucket_region", "lock_conn_id", "ca_bundle", "subject"):
        value = extras.get(name)
        if value is not None and (not isinstance(value, str) or value != value.strip()):
            raise OACConfigError(f"{prefix} Extra {name!r} must be text without surrounding spaces.")
        # OCI bucket, namespace and region names and Airflow connection ids are short; a path may be longer.
        limit = 4096 if name == "ca_bundle" else 256
        if isinstance(value, str) and len(value) > limit:
            raise OACConfigError(
                f"{prefix} Extra {name!r} is {len(value)} characters long (at most {limit})."
            )

    return OACConnectionConfig(
        conn_id=conn_id,
        oac_url=oac_url,
        iam_url=iam_url,
        client_id=client_id,
        scope=scope,
        refresh_token=password or None,
        refresh_token_lifetime=lifetime,
        bucket=extras.get("bucket") or None,
        storage_auth_type=storage_auth_type,
        bucket_namespace=extras.get("bucket_namespace") or None,
        bucket_region=extras.get("bucket_region") or None,
        lock_conn_id=extras.get("lock_conn_id") or None,
        ca_bundle=extras.get("ca_bundle") or None,
        timeout=timeout,
        login_at=_parse_time(extras.get("login_at")),
        subject=extras.get("subject") or None,
        warnings=warnings,
        **endpoints,
    )


def _parse_time(value: Any) -> float | None:
    if value in (None, ""):
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None
    return None
