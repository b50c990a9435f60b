"""The real PostgreSQL and Redis servers on loopback: throw-away databases and key names.

Tests that use them create their own database (``oac_<purpose>_<random>``) or Redis key names
(``test-<random>``) and remove them afterwards, so they never touch anybody else's data.
"""

from __future__ import annotations

import contextlib
import json
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

PG_HOST, PG_PORT = "127.0.0.1", 5432
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
#: Trust authentication: the first of these roles that exists is used.
PG_USERS = ("postgres", "root")


def reachable(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=1):
        return True
    return False


def postgres_user() -> str | None:
    """A role we can log in as, or None when PostgreSQL is not running here."""
    import psycopg2

    if not reachable(PG_HOST, PG_PORT):
        return None
    for user in PG_USERS:
        try:
            connection = psycopg2.connect(
                host=PG_HOST, port=PG_PORT, user=user, dbname="postgres", connect_timeout=3
            )
            connection.close()
            return user
        except psycopg2.Error:
            continue
    return None


@contextlib.contextmanager
def temporary_database(purpose: str) -> Iterator[tuple[str, str]]:
    """``(user, database)``: a new empty database, dropped (connections and all) on exit."""
    import psycopg2

    user = postgres_user()
    if user is None:
        raise RuntimeError(f"PostgreSQL is not reachable on {PG_HOST}:{PG_PORT}")
    name = f"oac_{purpose}_{uuid.uuid4().hex[:10]}"
    admin = psycopg2.connect(host=PG_HOST, port=PG_PORT, user=user, dbname="postgres")
    admin.autocommit = True
    try:
        with admin.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
        yield user, name
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.close()


def sqlalchemy_url(user: str, database: str) -> str:
    return f"postgresql+psycopg2://{user}@{PG_HOST}:{PG_PORT}/{database}"


@dataclass
class LockConn:
    """The attributes of an Airflow connection that the refresh locks read (for worker processes
    that should not pay for importing Airflow)."""

    conn_id: str
    conn_type: str
    host: str | None = None
    port: int | None = None
    login: str | None = None
    password: str | None = field(default=None, repr=False)
    schema: str | None = None
    extra_dejson: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps({k: getattr(self, k) for k in self.__dataclass_fields__})

    @classmethod
    def from_json(cls, text: str) -> LockConn:
        return cls(**json.loads(text))

    def airflow_env(self) -> dict[str, str]:
        """``AIRFLOW_CONN_<ID>`` defining this connection for Airflow processes (JSON form)."""
        value = {
            "conn_type": self.conn_type,
            "host": self.host,
            "port": self.port,
            "login": self.login,
            "password": self.password,
            "schema": self.schema,
            "extra": self.extra_dejson,
        }
        return {f"AIRFLOW_CONN_{self.conn_id.upper()}": json.dumps({k: v for k, v in value.items() if v})}


def postgres_lock_conn(user: str, database: str, conn_id: str = "oac_lock_pg", **extra: Any) -> LockConn:
    return LockConn(conn_id, "postgres", PG_HOST, PG_PORT, user, None, database, dict(extra))


def redis_lock_conn(conn_id: str = "oac_lock_redis", **extra: Any) -> LockConn:
    return LockConn(conn_id, "redis", REDIS_HOST, REDIS_PORT, extra_dejson={"db": 0, **extra})


def unique_lock_name() -> str:
    """A lock name nobody else uses (the Redis key is ``airflow-provider-oac:refresh:<name>``)."""
    return f"test-{uuid.uuid4().hex[:16]}"


# --- fixtures (imported by the conftest.py of the directories that use them) ----------------------


@pytest.fixture(scope="session")
def pg_database() -> Iterator[tuple[str, str]]:
    """``(user, database)``: a database of this session's own on the real PostgreSQL."""
    if postgres_user() is None:
        pytest.skip(f"PostgreSQL is not reachable on {PG_HOST}:{PG_PORT}")
    with temporary_database("lock_test") as created:
        yield created


@pytest.fixture
def pg_lock(pg_database: tuple[str, str]) -> LockConn:
    """A postgres lock connection to :func:`pg_database`."""
    return postgres_lock_conn(*pg_database)


@pytest.fixture
def redis_lock_connection() -> LockConn:
    if not reachable(REDIS_HOST, REDIS_PORT):
        pytest.skip(f"Redis is not reachable on {REDIS_HOST}:{REDIS_PORT}")
    return redis_lock_conn()


@pytest.fixture
def lock_name() -> str:
    return unique_lock_name()
