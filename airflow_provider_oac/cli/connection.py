"""The connection a command works on: the hook on the definition tasks get, and what may stop it."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from airflow_provider_oac.cli.common import EXIT_USAGE, CLIError
from airflow_provider_oac.hooks.config import connection_config, connection_extra
from airflow_provider_oac.login.connections import env_variable_name, live_connection

if TYPE_CHECKING:
    from airflow_provider_oac.hooks.oac import OACHook
    from airflow_provider_oac.login.connections import LiveConnection


def connection_hook(conn_id: str, *, require_refresh_token: bool = True) -> tuple[OACHook, LiveConnection]:
    """An OACHook on the definition of ``conn_id`` that tasks get (Airflow's order: secrets
    backend, ``AIRFLOW_CONN_<ID>``, metadata database), and where it was found."""
    # lazy: hooks.oac imports Airflow; keeps the CLI start-up free of it
    from airflow_provider_oac.hooks.oac import OACHook

    live, database_error = live_connection(conn_id)
    if live is None:
        if database_error:
            raise CLIError(
                f"Connection {conn_id!r} is in no secrets backend nor {env_variable_name(conn_id)}, and the "
                f"metadata database could not be read ({database_error}): run airflow db migrate or set "
                "AIRFLOW_HOME, or define the connection in the environment or a secrets backend.",
            )
        raise CLIError(
            f"No connection {conn_id!r} in this Airflow: run airflow-oac login --conn-id {conn_id} ...",
            EXIT_USAGE,
        )
    conn = live.conn
    config = connection_config(
        conn_id,
        host=conn.host,
        login=conn.login,
        password=conn.password,
        extra=connection_extra(conn, conn_id),
        conn_type=conn.conn_type,
        require_refresh_token=require_refresh_token,
    )
    # A person's CLI beside workers that run as another user: refuse rather than refresh outside
    # their lock (the workers only warn; see docs/tokens.md).
    return OACHook(conn_id, config=config, refuse_state_split=True), live


def shadow_warning(conn_id: str, live: Any) -> str | None:
    """One line when a metadata-database row of ``conn_id`` is hidden from tasks."""
    if not live.shadows_database_row:
        return None
    return (
        f"Warning: the metadata database also has a connection {conn_id!r}, which tasks do not use: "
        f"{live.source} comes first in Airflow's order; update or delete one of them."
    )


def token_store_problem(hook: Any) -> str | None:
    """Why the rotated tokens of the hook's login cannot be read here (None: they can).

    They are Airflow Variables in the metadata database (docs/tokens.md). Without them the newest
    refresh token is unknown, and the connection's own one may have been spent by a task: using
    it could end the login, so callers stop instead.
    """
    # lazy: CLI start-up time (airflow-oac --help)
    from airflow_provider_oac.hooks.token_store import VariableTokenStore

    try:
        VariableTokenStore(hook.config.refresh_token).read(hook.config.conn_id, hook.config.login_key)
    except Exception as exc:
        return f"{type(exc).__name__} on the metadata database of AIRFLOW_HOME={os.environ.get('AIRFLOW_HOME', '~/airflow')}"
    return None
