"""Writing the ``oac`` connection after a login: one code path for the CLI and the UI page.

:class:`NewLogin` decides what a successful login puts in the connection; three writers apply it
with the same semantics:

- :func:`save_login`: the metadata database of the current AIRFLOW_HOME (as ``airflow
  connections`` does); the CLI's default and the UI page;
- :func:`save_login_via_api`: Airflow's REST API (``airflow-oac login --api-url``);
- :func:`login_connection`: the connection as JSON, printed for a secrets backend or an
  ``AIRFLOW_CONN_<ID>`` variable (``--print-env`` / ``--print-json``).

A new login supersedes every refresh token stored for an earlier one: the connection gets the new
token (so its ``login_key`` changes) and the old store records and host journal are deleted (the
printed form cannot delete anything; the old records are simply never read again).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from airflow_provider_oac.auth.tokens import TokenSet
from airflow_provider_oac.errors import OACAuthError
from airflow_provider_oac.hooks.config import CONN_TYPE, KNOWN_EXTRAS, parse_extra

if TYPE_CHECKING:
    from airflow_provider_oac.cli.airflow_api import AirflowAPI


@dataclass(frozen=True, slots=True)
class LoginResult:
    conn_id: str
    oac_url: str
    subject: str | None
    login_at: float
    login_expires_at: float
    created: bool
    #: Where else a connection of that id is defined (it would hide the one written here).
    shadowed_by: str | None = None
    forgotten_records: int = 0
    extra: dict[str, Any] = field(default_factory=dict, repr=False)
    #: Why old token-store records could not be deleted (REST API writer only), else None.
    cleanup_error: str | None = None


def existing_connection(conn_id: str) -> Any | None:
    """The connection as stored in the metadata database, or None."""
    from airflow.models.connection import Connection
    from airflow.utils.session import create_session

    with create_session() as session:
        conn = session.query(Connection).filter(Connection.conn_id == conn_id).one_or_none()
        if conn is not None:
            session.expunge(conn)
        return conn


def shadowing_source(conn_id: str) -> str | None:
    """Where a connection of this id would be found before the metadata database, if anywhere."""
    env_name = f"AIRFLOW_CONN_{conn_id.upper()}"
    if os.environ.get(env_name):
        return f"the environment variable {env_name}"
    from airflow.configuration import ensure_secrets_loaded
    from airflow.secrets.environment_variables import EnvironmentVariablesBackend
    from airflow.secrets.metastore import MetastoreBackend

    for backend in ensure_secrets_loaded():
        if isinstance(backend, (EnvironmentVariablesBackend, MetastoreBackend)):
            continue
        try:
            if backend.get_connection(conn_id) is not None:
                return f"the secrets backend {type(backend).__name__}"
        except Exception:  # noqa: S112 - a backend we cannot reach hides nothing we can prove
            continue
    return None


#: The description a login gives a connection that has none.
DEFAULT_DESCRIPTION = "Oracle Analytics Cloud (written by airflow-oac login)"


@dataclass(frozen=True, slots=True)
class NewLogin:
    """A device login that succeeded, and what it puts in the connection: the same for every
    writer (the metadata database, Airflow's REST API, printed for a secrets backend)."""

    conn_id: str
    oac_url: str
    iam_url: str
    client_id: str
    scope: str
    tokens: TokenSet = field(repr=False)
    refresh_token_lifetime: float
    extra_updates: dict[str, Any] = field(default_factory=dict)
    at: float = field(default_factory=time.time)

    def __post_init__(self) -> None:
        if not self.tokens.refresh_token:
            raise OACAuthError(
                "IAM returned no refresh token: add offline_access to the scope and allow the Refresh Token "
                "grant on the IAM app (and 'Allow token refresh' on the OAC resource app)."
            )

    @property
    def refresh_token(self) -> str:
        assert self.tokens.refresh_token  # checked in __post_init__
        return self.tokens.refresh_token

    def connection_extra(self, previous: dict[str, Any] | None = None) -> dict[str, Any]:
        """The connection's Extra: the known fields of ``previous`` kept, the flags given applied,
        then ``iam_url``, ``scope``, ``login_at`` and ``subject`` of this login."""
        extra = {k: v for k, v in (previous or {}).items() if k in KNOWN_EXTRAS}
        extra.update({k: v for k, v in self.extra_updates.items() if v is not None})
        extra.update(
            {
                "iam_url": self.iam_url,
                "scope": self.scope,
                "login_at": datetime.fromtimestamp(self.at, timezone.utc).isoformat(timespec="seconds"),
                "subject": self.tokens.subject,
            }
        )
        return {k: v for k, v in extra.items() if v is not None}

    def result(self, *, created: bool, extra: dict[str, Any], **details: Any) -> LoginResult:
        return LoginResult(
            conn_id=self.conn_id,
            oac_url=self.oac_url,
            subject=self.tokens.subject,
            login_at=self.at,
            login_expires_at=self.at + self.refresh_token_lifetime,
            created=created,
            extra=extra,
            **details,
        )


def save_login(
    conn_id: str,
    *,
    oac_url: str,
    iam_url: str,
    client_id: str,
    scope: str,
    tokens: TokenSet,
    refresh_token_lifetime: float,
    extra_updates: dict[str, Any] | None = None,
) -> LoginResult:
    """Create or update ``conn_id`` in the metadata database with a fresh login, and forget tokens
    of earlier logins (the CLI and the UI page)."""
    from airflow.models.connection import Connection
    from airflow.utils.session import create_session

    from airflow_provider_oac.hooks.token_store import VariableTokenStore

    login = NewLogin(
        conn_id, oac_url, iam_url, client_id, scope, tokens, refresh_token_lifetime, dict(extra_updates or {})
    )
    with create_session() as session:
        conn = session.query(Connection).filter(Connection.conn_id == conn_id).one_or_none()
        created = conn is None
        extra = login.connection_extra(parse_extra(conn.extra, conn_id) if conn is not None else None)
        if conn is None:
            conn = Connection(conn_id=conn_id, conn_type=CONN_TYPE)
            session.add(conn)
        conn.conn_type = CONN_TYPE
        conn.host = oac_url
        conn.login = client_id
        conn.password = login.refresh_token
        conn.extra = json.dumps(extra)
        conn.description = conn.description or DEFAULT_DESCRIPTION
    forgotten = VariableTokenStore().forget_login(conn_id)
    _forget_on_this_host(conn_id)
    return login.result(
        created=created, extra=extra, shadowed_by=shadowing_source(conn_id), forgotten_records=forgotten
    )


def save_login_via_api(
    api: AirflowAPI,
    conn_id: str,
    *,
    oac_url: str,
    iam_url: str,
    client_id: str,
    scope: str,
    tokens: TokenSet,
    refresh_token_lifetime: float,
    extra_updates: dict[str, Any] | None = None,
) -> LoginResult:
    """:func:`save_login` through Airflow's REST API, for deployments whose metadata database is
    out of reach: creates or updates ``conn_id`` (``POST``, else ``PATCH`` with the full body),
    then deletes the token-store Variables of earlier logins (``oac_token__<conn_id>__*``).

    The connection is written first: if the Variable clean-up then fails, the new login works
    anyway (its Variables have a new name) and ``LoginResult.cleanup_error`` says what is left.
    """
    from airflow_provider_oac.errors import OACError
    from airflow_provider_oac.hooks.token_store import VARIABLE_PREFIX

    login = NewLogin(
        conn_id, oac_url, iam_url, client_id, scope, tokens, refresh_token_lifetime, dict(extra_updates or {})
    )
    existing = api.get_connection(conn_id)
    # Secret-looking extras come back as "***"; sent back unchanged, the API keeps the stored value.
    extra = login.connection_extra(_api_extra(existing, conn_id) if existing is not None else None)
    body: dict[str, Any] = {
        "connection_id": conn_id,
        "conn_type": CONN_TYPE,
        "host": oac_url,
        "login": client_id,
        "password": login.refresh_token,
        "extra": json.dumps(extra),
    }
    if existing is None or not existing.get("description"):
        body["description"] = DEFAULT_DESCRIPTION
    created = existing is None and api.create_connection(body)
    if not created and not api.update_connection(conn_id, body):
        created = api.create_connection(body)  # deleted meanwhile
        if not created:
            raise OACError(f"Connection {conn_id!r} changed while it was being written: run the login again.")
    forgotten, cleanup_error = 0, None
    try:
        for key in api.variable_keys(f"{VARIABLE_PREFIX}{conn_id}__"):
            forgotten += api.delete_variable(key)
    except OACError as exc:
        cleanup_error = str(exc)
    _forget_on_this_host(conn_id)
    return login.result(
        created=created, extra=extra, forgotten_records=forgotten, cleanup_error=cleanup_error
    )


def login_connection(
    conn_id: str,
    *,
    oac_url: str,
    iam_url: str,
    client_id: str,
    scope: str,
    refresh_token_lifetime: float,
    tokens: TokenSet | None = None,
    extra_updates: dict[str, Any] | None = None,
    include_refresh_token: bool = False,
) -> dict[str, Any]:
    """The connection as Airflow's JSON form (``AIRFLOW_CONN_<ID>``, secrets backends, what
    ``Connection.as_json()`` gives): ``conn_type``, ``description``, ``host``, ``login``,
    ``password``, ``extra``.

    The refresh token (``password``) is in it only with ``include_refresh_token``. Without
    ``tokens`` (no login was run) it has neither a password nor ``login_at``/``subject``.
    """
    updates = {k: v for k, v in (extra_updates or {}).items() if v is not None}
    if tokens is None:
        extra: dict[str, Any] = {**updates, "iam_url": iam_url, "scope": scope}
        password = None
    else:
        login = NewLogin(conn_id, oac_url, iam_url, client_id, scope, tokens, refresh_token_lifetime, updates)
        extra = login.connection_extra()
        password = login.refresh_token if include_refresh_token else None
    connection: dict[str, Any] = {
        "conn_type": CONN_TYPE,
        "description": DEFAULT_DESCRIPTION,
        "host": oac_url,
        "login": client_id,
    }
    if password:
        connection["password"] = password
    connection["extra"] = extra
    return connection


def _api_extra(connection: dict[str, Any], conn_id: str) -> dict[str, Any]:
    return parse_extra(connection.get("extra"), conn_id)


def _forget_on_this_host(conn_id: str) -> None:
    from airflow_provider_oac.hooks.token_manager import forget_process_cache
    from airflow_provider_oac.hooks.token_store import HostJournal

    HostJournal().forget(conn_id)
    forget_process_cache(conn_id)


def clear_login(conn_id: str) -> bool:
    """Remove the refresh token from ``conn_id`` and every stored token. True if it existed."""
    from airflow.models.connection import Connection
    from airflow.utils.session import create_session

    from airflow_provider_oac.hooks.token_manager import forget_process_cache
    from airflow_provider_oac.hooks.token_store import HostJournal, VariableTokenStore

    with create_session() as session:
        conn = session.query(Connection).filter(Connection.conn_id == conn_id).one_or_none()
        if conn is not None:
            # The password setter ignores empty values; clear the stored (encrypted) column itself.
            conn._password = None
            conn.is_encrypted = False
            extra = parse_extra(conn.extra, conn_id)
            extra.pop("login_at", None)
            extra.pop("subject", None)
            conn.extra = json.dumps(extra)
    VariableTokenStore().forget_login(conn_id)
    HostJournal().forget(conn_id)
    forget_process_cache(conn_id)
    return conn is not None
