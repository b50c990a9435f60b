"""The real PostgreSQL and Redis servers on loopback: throw-away databases and key names.

Tests that use them create their own database (``oac_<purpose>_<random>``) or Redis key names
(``test-<random>``) and remove them afterwards, so they never touch anybody else's data.
"""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
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


class OwnRedis:
    """A throw-away ``redis-server`` of this test's own on a free loopback port, which the test may
    stop (``kill``: the port refuses), start again on the same port (``start``; the append-only
    file keeps the keys and their absolute expiry times, as a restarted production Redis with
    persistence does) or freeze (``pause``/``resume``: SIGSTOP/SIGCONT, a hung server)."""

    def __init__(self, directory: Path):
        import shutil

        from tests.deployment import free_port

        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("redis-server is not installed")
        self.binary = binary
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> OwnRedis:
        self.proc = subprocess.Popen(
            [
                self.binary,
                "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory),
                "--save", "", "--appendonly", "yes", "--appendfsync", "always", "--protected-mode", "no",
                "--notify-keyspace-events", "Ex",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while not reachable("127.0.0.1", self.port):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise AssertionError(f"redis-server on port {self.port} did not start")
            time.sleep(0.02)
        return self

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()

    def pause(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
            self.proc.wait()

    def conn(self, **extra: Any) -> LockConn:
        return LockConn(
            "oac_lock_own_redis", "redis", "127.0.0.1", self.port, extra_dejson={"db": 0, **extra}
        )


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    server = OwnRedis(tmp_path / "redis").start()
    try:
        yield server
    finally:
        server.stop()
