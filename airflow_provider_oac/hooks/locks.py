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

#: libpq settings a postgres connection's Extra may carry (as the Postgres provider reads them).
_LIBPQ_EXTRAS = (
    "sslmode",
    "sslcert",
    "sslkey",
    "sslrootcert",
    "sslcrl",
    "connect_timeout",
    "options",
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "keepalives_count",
    "target_session_attrs",
)


def cross_host_lock(conn_id: str, lock_conn: Any, timeout: float = LOCK_WAIT_SECONDS) -> CrossHostLock:
    """A lock factory for the Airflow connection ``lock_conn`` (type postgres or redis)."""
    conn_type = lock_kind(lock_conn)
    name = lock_id(conn_id)
    if conn_type == "postgres":
        return lambda: postgres_advisory_lock(lock_conn, name, timeout)
    if conn_type == "redis":
        return lambda: redis_lock(lock_conn, name, timeout)
    raise OACConfigError(
        f"Connection {getattr(lock_conn, 'conn_id', '?')!r} (the OAC connection {conn_id!r}'s lock_conn_id) "
        f"has type {getattr(lock_conn, 'conn_type', '')!r}: use a postgres or redis connection."
    )


def lock_kind(lock_conn: Any) -> str:
    """``"postgres"``, ``"redis"``, or the connection's own type (which no lock supports)."""
    conn_type = (getattr(lock_conn, "conn_type", "") or "").lower()
    return "postgres" if conn_type in ("postgres", "postgresql") else conn_type


def _lock_conn_name(lock_conn: Any) -> str:
    return repr(getattr(lock_conn, "conn_id", None) or "lock_conn_id")


def _extras(lock_conn: Any) -> dict[str, Any]:
    extra = getattr(lock_conn, "extra_dejson", None)
    return extra if isinstance(extra, dict) else {}


@contextlib.contextmanager
def postgres_advisory_lock(lock_conn: Any, name: str, timeout: float) -> Iterator[None]:
    """A session-level ``pg_advisory_lock`` on the database of ``lock_conn``, held on a session of
    its own: PostgreSQL drops it when that session ends, so a holder that dies releases it.

    Every host must use the same server *and database* (advisory locks are per database) and
    reach it directly, not through a transaction-pooling PgBouncer (it would move the session).
    """
    try:
        import psycopg2
        import psycopg2.errors
    except ImportError:
        raise OACConfigError(
            "lock_conn_id names a postgres connection but psycopg2 is not installed: "
            "pip install psycopg2-binary (the provider's postgres extra)."
        ) from None
    key = advisory_lock_key(name)
    extra = _extras(lock_conn)
    options = {k: extra[k] for k in _LIBPQ_EXTRAS if extra.get(k) not in (None, "")}
    options.setdefault("connect_timeout", 10)
    where = f"the PostgreSQL refresh lock (connection {_lock_conn_name(lock_conn)})"
    try:
        connection = psycopg2.connect(
            host=lock_conn.host or "localhost",
            port=lock_conn.port or 5432,
            user=lock_conn.login or None,
            password=lock_conn.password or None,
            dbname=lock_conn.schema or "postgres",
            application_name="airflow-provider-oac-lock",
            **options,
        )
    except psycopg2.Error as exc:
        raise OACError(f"Could not connect to {where}: {_first_line(exc)}") from None
    try:
        connection.autocommit = True
        try:
            with connection.cursor() as cursor:
                if timeout > 0:
                    # The server ends the wait (lock_timeout covers advisory locks): no polling.
                    cursor.execute("SET lock_timeout = %s", (f"{max(int(timeout * 1000), 1)}ms",))
                    cursor.execute("SELECT pg_advisory_lock(%s)", (key,))
                else:
                    cursor.execute("SELECT pg_try_advisory_lock(%s)", (key,))
                    row = cursor.fetchone()
                    if not row or not row[0]:
                        raise psycopg2.errors.LockNotAvailable()
        except psycopg2.errors.LockNotAvailable:
            raise OACLockTimeout(f"Waited {timeout:.0f} s for {where}.") from None
        except psycopg2.Error as exc:
            raise OACError(f"Could not take {where}: {_first_line(exc)}") from None
        try:
            yield
        finally:
            # If the session is gone, so is the lock: closing below is the release that matters.
            with contextlib.suppress(psycopg2.Error), connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", (key,))
    finally:
        connection.close()


def advisory_lock_key(name: str) -> int:
    """The 64-bit ``pg_advisory_lock`` key for a lock name (visible in ``pg_locks``)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


#: A Redis lock's lease: its holder renews it every third of this while it lives, so it only
#: expires (and frees the lock for others) this many seconds after the holder died.
REDIS_LEASE_SECONDS = 30.0


@contextlib.contextmanager
def redis_lock(
    lock_conn: Any, name: str, timeout: float, *, lease: float = REDIS_LEASE_SECONDS
) -> Iterator[None]:
    """A Redis lock (``SET NX PX`` with a token) at ``airflow-provider-oac:refresh:<name>``.

    The holder renews the lease in a background thread, so a slow refresh (IAM retrying with
    backoff) keeps the lock; a dead holder stops renewing and the lock frees itself after
    ``lease`` seconds.
    """
    try:
        import redis
    except ImportError:
        raise OACConfigError(
            "lock_conn_id names a redis connection but the redis client is not installed: "
            "pip install redis (the provider's redis extra)."
        ) from None
    extra = _extras(lock_conn)
    where = f"the Redis refresh lock (connection {_lock_conn_name(lock_conn)})"
    db = extra.get("db", lock_conn.schema)
    try:
        db = int(db or 0)
    except (TypeError, ValueError):
        raise OACConfigError(
            f"Connection {_lock_conn_name(lock_conn)}: the Redis database (Extra 'db' or Schema) must be a "
            f"number, not {db!r}."
        ) from None
    client = redis.Redis(
        host=lock_conn.host or "localhost",
        port=lock_conn.port or 6379,
        username=lock_conn.login or None,
        password=lock_conn.password or None,
        db=db,
        ssl=_truthy(extra.get("ssl", False)),
        socket_timeout=10,
        socket_connect_timeout=10,
    )
    lock = client.lock(
        f"airflow-provider-oac:refresh:{name}",
        timeout=lease,
        sleep=0.01,
        blocking_timeout=max(timeout, 0.0),
        thread_local=False,  # the renewing thread extends the lease this thread took
    )
    try:
        acquired = lock.acquire()
    except redis.RedisError as exc:
        client.close()
        raise OACError(f"Could not reach {where}: {type(exc).__name__}: {_first_line(exc)}") from None
    if not acquired:
        client.close()
        raise OACLockTimeout(f"Waited {timeout:.0f} s for {where}.")
    stop = threading.Event()
    renewer = threading.Thread(
        target=_renew_lease, args=(lock, lease, stop), name="oac-redis-lock-lease", daemon=True
    )
    renewer.start()
    try:
        yield
    finally:
        stop.set()
        renewer.join()
        with contextlib.suppress(redis.RedisError):
            lock.release()
        client.close()


def _renew_lease(lock: Any, lease: float, stop: threading.Event) -> None:
    import redis

    while not stop.wait(lease / 3):
        try:
            lock.reacquire()
        except redis.RedisError:
            return  # the lease is lost or Redis is gone: nothing left to renew


def _truthy(value: Any) -> bool:
    # Extras typed in the UI arrive as text: "false" must not mean True.
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)
