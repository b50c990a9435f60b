"""The three writers of a :class:`~.new_login.NewLogin`, with the same semantics, and the
logout's clean-up:

- :func:`save_login`: the metadata database of the current AIRFLOW_HOME (as ``airflow
  connections`` does); the CLI's default and the UI page;
- :func:`save_login_via_api`: Airflow's REST API (``airflow-oac login --api-url``);
- :func:`printed_connection`: the connection as JSON, printed for a secrets backend or an
  ``AIRFLOW_CONN_<ID>`` variable (``--print-env`` / ``--print-json``); it cannot delete the old
  login's records, which are simply never read again.

Each writer forgets the tokens of earlier logins and keeps the new login's own
(see :mod:`.new_login`).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from airflow_provider_oac.errors import OACError
from airflow_provider_oac.hooks.config import CONN_TYPE, OACConnectionConfig, parse_extra
from airflow_provider_oac.login.connections import shadowing_source
from airflow_provider_oac.login.new_login import DEFAULT_DESCRIPTION, LoginResult, NewLogin

if TYPE_CHECKING:
    from airflow_provider_oac.login.airflow_api import AirflowAPI


def save_login(login: NewLogin) -> LoginResult:
    """Create or update the connection in the metadata database with ``login``, and forget tokens
    of earlier logins (the CLI and the UI page)."""
    # lazy: Airflow; keeps the CLI start-up free of it
    from airflow.models.connection import Connection
    from airflow.utils.session import create_session

    # lazy: CLI start-up time (airflow-oac --help)
    from airflow_provider_oac.hooks.token_store import VariableTokenStore

    conn_id = login.conn_id
    with create_session() as session:
        conn = session.query(Connection).filter(Connection.conn_id == conn_id).one_or_none()
        created = conn is None
        extra = login.connection_extra(parse_extra(conn.extra, conn_id) if conn is not None else None)
        if conn is None:
            conn = Connection(conn_id=conn_id, conn_type=CONN_TYPE)
            session.add(conn)
        conn.conn_type = CONN_TYPE
        conn.host = login.oac_url
        conn.login = login.client_id
        conn.password = login.refresh_token
        conn.extra = json.dumps(extra)
        conn.description = conn.description or DEFAULT_DESCRIPTION
    forgotten = VariableTokenStore().forget_login(conn_id, keep=login.login_key)
    _forget_on_this_host(conn_id, keep=login.login_key)
    return login.result(
        created=created, extra=extra, shadowed_by=shadowing_source(conn_id), forgotten_records=forgotten
    )


def save_login_via_api(api: AirflowAPI, login: NewLogin) -> LoginResult:
    """:func:`save_login` through Airflow's REST API, for deployments whose metadata database is
    out of reach: creates or updates the connection (``POST``, else ``PATCH`` with the full body),
    then deletes the token-store Variables of earlier logins (``oac_login__<conn_id>__<login_key>``
    and older releases' ``oac_token__...``, matched exactly; the new login's own are kept).

    The connection is written first: if the Variable clean-up then fails, the new login works
    anyway (its Variables have a new name) and ``LoginResult.cleanup_error`` says what is left.
    """
    # lazy: CLI start-up time (airflow-oac --help)
    from airflow_provider_oac.hooks.token_store import RECORD_PREFIXES, keys_to_forget

    conn_id = login.conn_id
    existing = api.get_connection(conn_id)
    # Secret-looking extras come back as "***"; sent back unchanged, the API keeps the stored value.
    extra = login.connection_extra(
        parse_extra(existing.get("extra"), conn_id) if existing is not None else None
    )
    body: dict[str, Any] = {
        "connection_id": conn_id,
        "conn_type": CONN_TYPE,
        "host": login.oac_url,
        "login": login.client_id,
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
        listed = [key for prefix in RECORD_PREFIXES for key in api.variable_keys(prefix)]
        for key in keys_to_forget(listed, conn_id, login.login_key):
            forgotten += api.delete_variable(key)
    except OACError as exc:
        cleanup_error = str(exc)
    _forget_on_this_host(conn_id, keep=login.login_key)
    return login.result(
        created=created, extra=extra, forgotten_records=forgotten, cleanup_error=cleanup_error
    )


def printed_connection(login: NewLogin, *, include_refresh_token: bool = False) -> dict[str, Any]:
    """The connection as Airflow's JSON form (``AIRFLOW_CONN_<ID>``, secrets backends, what
    ``Connection.as_json()`` gives): ``conn_type``, ``description``, ``host``, ``login``,
    ``password``, ``extra``. The refresh token (``password``) is in it only with
    ``include_refresh_token``."""
    password = login.refresh_token if include_refresh_token else None
    return _connection_json(login.oac_url, login.client_id, login.connection_extra(), password)


def connection_without_login(
    config: OACConnectionConfig, extra_updates: dict[str, Any] | None = None
) -> dict[str, Any]:
    """:func:`printed_connection` when no login was run: neither a password nor
    ``login_at``/``subject``."""
    updates = {k: v for k, v in (extra_updates or {}).items() if v is not None}
    extra = {**updates, "iam_url": config.iam_url, "scope": config.scope}
    return _connection_json(config.oac_url, config.client_id, extra, None)


def _connection_json(host: str, login: str, extra: dict[str, Any], password: str | None) -> dict[str, Any]:
    connection: dict[str, Any] = {
        "conn_type": CONN_TYPE,
        "description": DEFAULT_DESCRIPTION,
        "host": host,
        "login": login,
    }
    if password:
        connection["password"] = password
    connection["extra"] = extra
    return connection


# --- ending a login ------------------------------------------------------------------------------


def _forget_on_this_host(conn_id: str, *, keep: str | None = None) -> None:
    # lazy: CLI start-up time (airflow-oac --help)
    from airflow_provider_oac.hooks.token_manager import forget_process_cache
    from airflow_provider_oac.hooks.token_store import HostJournal

    HostJournal().forget(conn_id, keep=keep)
    forget_process_cache(conn_id)


def forget_stored_tokens(conn_id: str) -> int:
    """Delete every token record of ``conn_id`` (the Variables, this host's journal, this
    process's cache) without touching the connection: a logout of a connection defined in the
    environment or a secrets backend, which this tool cannot edit. Returns how many Variables."""
    # lazy: CLI start-up time (airflow-oac --help)
    from airflow_provider_oac.hooks.token_store import VariableTokenStore

    forgotten = VariableTokenStore().forget_login(conn_id)
    _forget_on_this_host(conn_id)
    return forgotten


def clear_login(conn_id: str) -> bool:
    """Remove the refresh token from ``conn_id`` and every stored token. True if it existed."""
    # lazy: Airflow; keeps the CLI start-up free of it
    from airflow.models.connection import Connection
    from airflow.utils.session import create_session

    from airflow_provider_oac.hooks.token_store import VariableTokenStore

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
    _forget_on_this_host(conn_id)
    return conn is not None
