"""Where Airflow keeps a connection: the metadata database's row, and the definition tasks get.

Tasks find a connection in Airflow's order: the custom ``[secrets] backend``, then
``AIRFLOW_CONN_<ID>``, then the metadata database. A login writes the metadata database (or prints
the connection for the others), so the CLI and the UI page warn when another definition hides
the row they wrote.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any


def existing_connection(conn_id: str) -> Any | None:
    """The connection as stored in the metadata database, or None."""
    # lazy: Airflow; keeps the CLI start-up free of it
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
    # lazy: Airflow; keeps the CLI start-up free of it
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


@dataclass(frozen=True, slots=True)
class LiveConnection:
    """The definition of a connection that tasks get, found in Airflow's order: the custom
    ``[secrets] backend``, then ``AIRFLOW_CONN_<ID>``, then the metadata database."""

    conn: Any
    #: Where it was found, e.g. "the environment variable AIRFLOW_CONN_OAC_DEFAULT".
    source: str
    in_database: bool
    #: A metadata-database row of the same id exists and is hidden by ``source``.
    shadows_database_row: bool = False
    #: Why the metadata database could not be read (None: it was read, or not needed).
    database_error: str | None = None
    #: Custom secrets backends that failed (Airflow skips them too), one text each.
    backend_errors: tuple[str, ...] = ()


def env_variable_name(conn_id: str) -> str:
    return f"AIRFLOW_CONN_{conn_id.upper()}"


def live_connection(conn_id: str) -> tuple[LiveConnection | None, str | None]:
    """The connection ``conn_id`` as tasks see it, and why the metadata database could not be
    read (if it was needed and could not be).

    The same search as ``airflow.models.Connection.get_connection_from_secrets`` (Airflow 3.0 to
    3.3: ``ensure_secrets_loaded()`` then each backend's ``get_connection``), done here backend by
    backend to know which one answered; the metadata database is read even after a hit, to find
    a row the hit hides. A database that cannot be opened is reported, never a traceback.
    """
    # lazy: Airflow; keeps the CLI start-up free of it
    from airflow.configuration import ensure_secrets_loaded
    from airflow.secrets.environment_variables import EnvironmentVariablesBackend
    from airflow.secrets.metastore import MetastoreBackend

    found: Any = None
    source = ""
    in_database = False
    shadowed = False
    database_error: str | None = None
    backend_errors: list[str] = []
    for backend in ensure_secrets_loaded():
        if isinstance(backend, MetastoreBackend):
            try:
                row = existing_connection(conn_id)
            except Exception as exc:
                database_error = _database_error(exc)
                continue
            if found is None and row is not None:
                found, source, in_database = row, "the metadata database", True
            elif row is not None:
                shadowed = True
            continue
        if found is not None:
            continue
        try:
            conn = backend.get_connection(conn_id=conn_id)
        except Exception as exc:  # Airflow skips a failing backend too
            name = _backend_name(backend)
            backend_errors.append(f"{name} ({type(exc).__name__})")
            continue
        if conn is None:
            continue
        found = conn
        if isinstance(backend, EnvironmentVariablesBackend):
            source = f"the environment variable {env_variable_name(conn_id)}"
        else:
            source = f"the secrets backend {_backend_name(backend)}"
    if found is None:
        return None, database_error
    live = LiveConnection(
        found,
        source,
        in_database,
        shadows_database_row=shadowed,
        database_error=database_error,
        backend_errors=tuple(backend_errors),
    )
    return live, database_error


def _backend_name(backend: Any) -> str:
    cls = type(backend)
    return f"{cls.__module__}.{cls.__qualname__}"


def _database_error(exc: BaseException) -> str:
    home = os.environ.get("AIRFLOW_HOME", "~/airflow")
    return f"{type(exc).__name__} on the metadata database of AIRFLOW_HOME={home}"
