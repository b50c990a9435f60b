"""Writing the ``oac`` connection after a login: one code path for the CLI and the UI page.

Writes go to the metadata database of the current AIRFLOW_HOME (as ``airflow connections``
does). A new login supersedes every refresh token stored for an earlier one: the connection gets
the new token (so its ``login_key`` changes) and the old store records and host journal are
deleted.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from airflow_provider_oac.auth.tokens import TokenSet
from airflow_provider_oac.errors import OACAuthError
from airflow_provider_oac.hooks.config import CONN_TYPE, KNOWN_EXTRAS, parse_extra


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
    try:
        from airflow.configuration import ensure_secrets_loaded
        from airflow.secrets.environment_variables import EnvironmentVariablesBackend
        from airflow.secrets.metastore import MetastoreBackend
    except ImportError:  # pragma: no cover - layout changed
        return None
    for backend in ensure_secrets_loaded():
        if isinstance(backend, (EnvironmentVariablesBackend, MetastoreBackend)):
            continue
        try:
            if backend.get_connection(conn_id) is not None:
                return f"the secrets backend {type(backend).__name__}"
        except Exception:  # noqa: S112 - a backend we cannot reach hides nothing we can prove
            continue
    return None


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
    """Create or update ``conn_id`` with a fresh login, and forget tokens of earlier logins."""
    from airflow.models.connection import Connection
    from airflow.utils.session import create_session

    from airflow_provider_oac.hooks.token_manager import forget_process_cache
    from airflow_provider_oac.hooks.token_store import HostJournal, VariableTokenStore

    if not tokens.refresh_token:
        raise OACAuthError(
            "IAM returned no refresh token: add offline_access to the scope and allow the Refresh Token "
            "grant on the IAM app (and 'Allow token refresh' on the OAC resource app)."
        )
    now = time.time()
    with create_session() as session:
        conn = session.query(Connection).filter(Connection.conn_id == conn_id).one_or_none()
        created = conn is None
        extra = (
            {}
            if conn is None
            else {k: v for k, v in parse_extra(conn.extra, conn_id).items() if k in KNOWN_EXTRAS}
        )
        extra.update({k: v for k, v in (extra_updates or {}).items() if v is not None})
        extra.update(
            {
                "iam_url": iam_url,
                "scope": scope,
                "login_at": datetime.fromtimestamp(now, timezone.utc).isoformat(timespec="seconds"),
                "subject": tokens.subject,
            }
        )
        if conn is None:
            conn = Connection(conn_id=conn_id, conn_type=CONN_TYPE)
            session.add(conn)
        conn.conn_type = CONN_TYPE
        conn.host = oac_url
        conn.login = client_id
        conn.password = tokens.refresh_token
        conn.extra = json.dumps({k: v for k, v in extra.items() if v is not None})
        conn.description = conn.description or "Oracle Analytics Cloud (written by airflow-oac login)"
    forgotten = VariableTokenStore().forget_login(conn_id)
    HostJournal().forget(conn_id)
    forget_process_cache(conn_id)
    return LoginResult(
        conn_id=conn_id,
        oac_url=oac_url,
        subject=tokens.subject,
        login_at=now,
        login_expires_at=now + refresh_token_lifetime,
        created=created,
        shadowed_by=shadowing_source(conn_id),
        forgotten_records=forgotten,
        extra=extra,
    )


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
