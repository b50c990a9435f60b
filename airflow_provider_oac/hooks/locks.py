"""Serializing refreshes: threads, processes on a host, and hosts.

A refresh spends the stored refresh token, so only one caller per connection may refresh at a
time; the others wait, then re-read the store and use what the winner wrote. Three layers:

- a ``threading.Lock`` per connection for the threads of one process;
- an ``flock`` on a file in the state directory for the processes of one host (nothing to
  configure; the kernel drops it when a process dies);
- optionally a lock on a server every host reaches, named by the connection's ``lock_conn_id``
  extra: a PostgreSQL advisory lock (dropped when the holder's session ends) or a Redis lock
  (expires after ``lease`` seconds if the holder dies).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from airflow_provider_oac.errors import OACConfigError, OACError

_thread_locks: dict[str, threading.Lock] = {}
_thread_locks_guard = threading.Lock()

#: How long a caller waits for another caller's refresh before giving up.
LOCK_WAIT_SECONDS = 120.0


class OACLockTimeout(OACError):
    """Another process held the refresh lock for too long."""


def thread_lock(name: str) -> threading.Lock:
    with _thread_locks_guard:
        return _thread_locks.setdefault(name, threading.Lock())


def lock_id(conn_id: str) -> str:
    return hashlib.sha256(f"airflow-provider-oac\0{conn_id}".encode()).hexdigest()[:24]


@contextlib.contextmanager
def host_lock(path: str, timeout: float = LOCK_WAIT_SECONDS) -> Iterator[None]:
    """An exclusive ``flock`` on ``path``, waited for up to ``timeout`` seconds."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + timeout
        delay = 0.005
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise OACLockTimeout(
                        f"Waited {timeout:.0f} s for another process's token refresh (lock file {path})."
                    ) from None
                time.sleep(delay)
                delay = min(delay * 2, 0.1)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


# --- cross-host locks --------------------------------------------------------------------------------

CrossHostLock = Callable[[], contextlib.AbstractContextManager[None]]


def cross_host_lock(conn_id: str, lock_conn: Any, timeout: float = LOCK_WAIT_SECONDS) -> CrossHostLock:
    """A lock factory for the Airflow connection ``lock_conn`` (type postgres or redis)."""
    conn_type = (getattr(lock_conn, "conn_type", "") or "").lower()
    name = lock_id(conn_id)
    if conn_type in ("postgres", "postgresql"):
        return lambda: postgres_advisory_lock(lock_conn, name, timeout)
    if conn_type == "redis":
        return lambda: redis_lock(lock_conn, name, timeout)
    raise OACConfigError(
        f"Connection {getattr(lock_conn, 'conn_id', '?')!r} (the OAC connection {conn_id!r}'s lock_conn_id) "
        f"has type {conn_type!r}: use a postgres or redis connection."
    )


@contextlib.contextmanager
def postgres_advisory_lock(lock_conn: Any, name: str, timeout: float) -> Iterator[None]:
    try:
        import psycopg2
    except ImportError:
        raise OACConfigError(
            "lock_conn_id names a postgres connection but psycopg2 is not installed: "
            "pip install 'airflow-provider-oac[postgres]'."
        ) from None
    key = int.from_bytes(bytes.fromhex(name[:16]), "big", signed=True)
    try:
        connection = psycopg2.connect(
            host=lock_conn.host or "localhost",
            port=lock_conn.port or 5432,
            user=lock_conn.login or None,
            password=lock_conn.password or None,
            dbname=lock_conn.schema or "postgres",
            connect_timeout=10,
            application_name="airflow-provider-oac-lock",
        )
    except psycopg2.Error as exc:
        raise OACError(f"Could not connect to the refresh-lock database: {str(exc).strip().splitlines()[0]}") from None
    try:
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = %s", (f"{int(timeout * 1000)}ms",))
            try:
                cursor.execute("SELECT pg_advisory_lock(%s)", (key,))
            except psycopg2.errors.LockNotAvailable:
                raise OACLockTimeout(f"Waited {timeout:.0f} s for the PostgreSQL refresh lock.") from None
        try:
            yield
        finally:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", (key,))
    finally:
        connection.close()


#: A Redis lock expires after this many seconds if its holder dies mid-refresh.
REDIS_LEASE_SECONDS = 60


@contextlib.contextmanager
def redis_lock(lock_conn: Any, name: str, timeout: float) -> Iterator[None]:
    try:
        import redis
    except ImportError:
        raise OACConfigError(
            "lock_conn_id names a redis connection but the redis client is not installed: "
            "pip install 'airflow-provider-oac[redis]'."
        ) from None
    extra = lock_conn.extra_dejson if hasattr(lock_conn, "extra_dejson") else {}
    client = redis.Redis(
        host=lock_conn.host or "localhost",
        port=lock_conn.port or 6379,
        username=lock_conn.login or None,
        password=lock_conn.password or None,
        db=int(lock_conn.schema or extra.get("db", 0) or 0),
        ssl=bool(extra.get("ssl", False)),
        socket_timeout=10,
        socket_connect_timeout=10,
    )
    lock = client.lock(
        f"airflow-provider-oac:refresh:{name}",
        timeout=REDIS_LEASE_SECONDS,
        sleep=0.01,
        blocking_timeout=timeout,
        thread_local=False,
    )
    try:
        acquired = lock.acquire()
    except redis.RedisError as exc:
        raise OACError(f"Could not reach the Redis refresh lock: {type(exc).__name__}") from None
    if not acquired:
        client.close()
        raise OACLockTimeout(f"Waited {timeout:.0f} s for the Redis refresh lock.")
    try:
        yield
    finally:
        with contextlib.suppress(redis.RedisError):
            lock.release()
        client.close()
