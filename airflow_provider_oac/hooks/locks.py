"""Serializing refreshes: threads, processes on a host, and hosts.

A refresh spends the stored refresh token, so only one caller per connection may refresh at a
time; the others wait, then re-read the store and use what the winner wrote. Three layers:

- a ``threading.Lock`` per connection for the threads of one process;
- an ``flock`` on a file in the state directory for the processes of one host (nothing to
  configure; the kernel drops it when a process dies);
- optionally a lock on a server every host reaches, named by the connection's ``lock_conn_id``
  extra: a PostgreSQL advisory lock (dropped when the holder's session ends) or a Redis lock
  (expires after ``lease`` seconds if the holder dies).

A cross-host lock can be lost while held (a Redis lease that ran out during an outage, a
PostgreSQL session the server dropped): the context managers yield a :class:`HeldLock` whose
``check()`` the token manager calls before it presents the refresh token.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from airflow_provider_oac.errors import OACConfigError, OACError, OACLockLost, OACLockTimeout

log = logging.getLogger(__name__)

_thread_locks: dict[str, threading.Lock] = {}
_thread_locks_guard = threading.Lock()

#: How long a caller waits for another caller's refresh before giving up.
LOCK_WAIT_SECONDS = 120.0


class HeldLock:
    """What a cross-host lock yields: ``check(action)`` raises :class:`OACLockLost` unless the lock
    is still this holder's (the base class has nothing to check)."""

    def check(self, action: str) -> None:
        return None


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

CrossHostLock = Callable[[], contextlib.AbstractContextManager[HeldLock]]

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
    "tcp_user_timeout",
    "target_session_attrs",
)

#: TCP keepalive of the lock's session, at both ends, unless the lock connection's Extra sets them
#: (libpq names; ``tcp_user_timeout`` in milliseconds). A holder whose host died or was cut off
#: keeps the lock until the *server* drops its session: with these, within about 25 s instead of
#: the 2 hours of the kernel's default keepalive (docs/tokens.md has the measured figures).
KEEPALIVE_DEFAULTS = {
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
    "tcp_user_timeout": 25_000,
}


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
def postgres_advisory_lock(lock_conn: Any, name: str, timeout: float) -> Iterator[HeldLock]:
    """A session-level ``pg_advisory_lock`` on the database of ``lock_conn``, held on a session of
    its own: PostgreSQL drops it when that session ends, so a holder that dies releases it.

    Every host must use the same server *and database* (advisory locks are per database) and
    reach it directly, not through a transaction-pooling PgBouncer (it would move the session).
    """
    try:
        # lazy: optional dependency (an extra), needed only when this lock is configured
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
    for setting, default in KEEPALIVE_DEFAULTS.items():
        options[setting] = _whole_number(lock_conn, setting, options.get(setting, default))
    where = f"the PostgreSQL refresh lock (connection {_lock_conn_name(lock_conn)})"
    # Our defaults, not the user's settings, give way to a libpq that lacks them (tcp_user_timeout
    # needs libpq 12): the lock then relies on the other keepalives rather than failing.
    droppable = {k for k in KEEPALIVE_DEFAULTS if extra.get(k) in (None, "")}
    libpq = dict(options)
    while True:
        try:
            connection = psycopg2.connect(
                host=lock_conn.host or "localhost",
                port=lock_conn.port or 5432,
                user=lock_conn.login or None,
                password=lock_conn.password or None,
                dbname=lock_conn.schema or "postgres",
                application_name="airflow-provider-oac-lock",
                **libpq,
            )
            break
        except psycopg2.ProgrammingError as exc:
            unknown = _unknown_libpq_option(exc)
            if unknown not in droppable or unknown not in libpq:
                raise OACError(f"Could not connect to {where}: {_first_line(exc)}") from None
            log.warning(
                "This libpq does not know the connection option %r; %s goes on without it.", unknown, where
            )
            del libpq[unknown]
        except psycopg2.Error as exc:
            raise OACError(f"Could not connect to {where}: {_first_line(exc)}") from None
    try:
        connection.autocommit = True
        _server_keepalives(connection, options)
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
            yield _PostgresSession(connection, where)
        finally:
            # If the session is gone, so is the lock: closing below is the release that matters.
            with contextlib.suppress(psycopg2.Error), connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", (key,))
    finally:
        connection.close()


def _unknown_libpq_option(exc: BaseException) -> str | None:
    # psycopg2: 'invalid dsn: invalid connection option "tcp_user_timeout"'
    found = re.search(r'invalid connection option "([a-z_]+)"', str(exc))
    return found.group(1) if found else None


def _whole_number(lock_conn: Any, setting: str, value: Any) -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        number = -1
    if number < 0:
        raise OACConfigError(
            f"Connection {_lock_conn_name(lock_conn)}: Extra {setting!r} must be a whole number of "
            f"{'milliseconds' if setting == 'tcp_user_timeout' else 'seconds'} (0 or more), not {value!r}."
        )
    return number


def _server_keepalives(connection: Any, options: dict[str, Any]) -> None:
    """The server's side of the lock session's keepalive: what ends the session of a holder whose
    host died or was cut off, and so releases its lock. ``client_connection_check_interval``
    (PostgreSQL 14+) also ends a dead *waiter* blocked in ``pg_advisory_lock``, which would
    otherwise be granted the lock and keep it. A server that lacks a setting keeps its default."""
    # lazy: optional dependency (an extra), needed only when this lock is configured
    import psycopg2

    settings = {"tcp_user_timeout": options["tcp_user_timeout"]}
    if options["keepalives"]:
        settings |= {
            "tcp_keepalives_idle": options["keepalives_idle"],
            "tcp_keepalives_interval": options["keepalives_interval"],
            "tcp_keepalives_count": options["keepalives_count"],
            "client_connection_check_interval": options["keepalives_interval"] * 1000,
        }
    with connection.cursor() as cursor:
        for name, value in settings.items():
            with contextlib.suppress(psycopg2.Error):  # autocommit: a failed SET harms nothing
                cursor.execute(f"SET {name} = %s", (value,))


class _PostgresSession(HeldLock):
    """The advisory lock lives exactly as long as its session: a query that works proves it."""

    def __init__(self, connection: Any, where: str):
        self._connection = connection
        self._where = where

    def check(self, action: str) -> None:
        # lazy: optional dependency (an extra), needed only when this lock is configured
        import psycopg2

        try:
            with self._connection.cursor() as cursor:
                cursor.execute("SELECT 1")
        except psycopg2.Error as exc:
            raise OACLockLost(self._where, action, f"its session ended ({_first_line(exc)})") from None


def advisory_lock_key(name: str) -> int:
    """The 64-bit ``pg_advisory_lock`` key for a lock name (visible in ``pg_locks``)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


#: A Redis lock's lease: its holder renews it every third of this while it lives, so it only
#: expires (and frees the lock for others) this many seconds after the holder died. The lock
#: connection's Extra ``lease`` overrides it.
REDIS_LEASE_SECONDS = 30.0


@contextlib.contextmanager
def redis_lock(
    lock_conn: Any, name: str, timeout: float, *, lease: float | None = None
) -> Iterator[HeldLock]:
    """A Redis lock (``SET NX PX`` with a token) at ``airflow-provider-oac:refresh:<name>``.

    The holder renews the lease in a background thread until it releases the lock, retrying
    through Redis outages, so a slow refresh keeps the lock; a dead holder stops renewing and the
    lock frees itself after ``lease`` seconds. If renewals fail for too long the lock is lost: the
    yielded :class:`HeldLock` then refuses (see :class:`_RedisLease`).
    """
    try:
        # lazy: optional dependency (an extra), needed only when this lock is configured
        import redis
        from redis.backoff import ExponentialBackoff
        from redis.retry import Retry
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
    if lease is None:
        lease = _lease_extra(lock_conn, extra.get("lease"))
    # No Redis call may block longer than a sixth of the lease (10 s at most): a renewal stuck in a
    # read would otherwise outlive the lease it renews. Two quick retries, then our own loop.
    io_timeout = min(10.0, lease / 6)
    client = redis.Redis(
        host=lock_conn.host or "localhost",
        port=lock_conn.port or 6379,
        username=lock_conn.login or None,
        password=lock_conn.password or None,
        db=db,
        ssl=_truthy(extra.get("ssl", False)),
        socket_timeout=io_timeout,
        socket_connect_timeout=io_timeout,
        retry=Retry(ExponentialBackoff(cap=min(1.0, lease / 10), base=0.05), 2),
    )
    lock = client.lock(
        f"airflow-provider-oac:refresh:{name}",
        timeout=lease,
        sleep=0.01,
        blocking_timeout=max(timeout, 0.0),
        thread_local=False,  # the renewing thread extends the lease this thread took
    )
    sent = time.monotonic()
    try:
        acquired = lock.acquire()
    except redis.RedisError as exc:
        client.close()
        raise OACError(f"Could not reach {where}: {type(exc).__name__}: {_first_line(exc)}") from None
    if not acquired:
        client.close()
        raise OACLockTimeout(f"Waited {timeout:.0f} s for {where}.")
    # The key was set at the earliest when its SET was sent: the call's start is a safe bound for a
    # first attempt, and no attempt (with redis-py's two retries) takes longer than 3 I/O timeouts.
    held = _RedisLease(lock, lease, where, max(sent, time.monotonic() - 3 * io_timeout))
    stop = threading.Event()
    renewer = threading.Thread(
        target=_renew_lease, args=(held, stop), name="oac-redis-lock-lease", daemon=True
    )
    renewer.start()
    try:
        yield held
    finally:
        stop.set()
        renewer.join()
        with contextlib.suppress(redis.RedisError):
            lock.release()
        client.close()


def _lease_extra(lock_conn: Any, value: Any) -> float:
    if value in (None, ""):
        return REDIS_LEASE_SECONDS
    try:
        lease = float(value)
    except (TypeError, ValueError):
        lease = -1.0
    if not 1 <= lease <= 3600:
        raise OACConfigError(
            f"Connection {_lock_conn_name(lock_conn)}: Extra 'lease' must be a number of seconds from 1 to "
            f"3600 (default {REDIS_LEASE_SECONDS:.0f}), not {value!r}."
        )
    return lease


class _RedisLease(HeldLock):
    """A held Redis lock and what this holder knows about its lease.

    ``valid_until`` (monotonic) is when the key expires at the earliest: the send time of the last
    successful set or renewal plus the lease. ``check()`` renews once more (which also proves the
    key still holds our token); if Redis cannot be reached it accepts only while at least half the
    lease is left, so the refresh it guards can finish before anybody else can take the lock.
    """

    def __init__(self, lock: Any, lease: float, where: str, sent: float):
        self._lock = lock
        self.lease = lease
        self._where = where
        self._guard = threading.Lock()
        self.valid_until = sent + lease
        self.lost: str | None = None
        self.renewals = 0
        self.failed_renewals = 0

    def renew(self) -> None:
        """Extend the lease (raises LockNotOwnedError, and marks the lock lost, if the key no
        longer holds our token; other RedisErrors if Redis cannot be reached)."""
        # lazy: optional dependency (an extra), needed only when this lock is configured
        from redis.exceptions import LockNotOwnedError

        sent = time.monotonic()
        try:
            self._lock.reacquire()
        except LockNotOwnedError:
            with self._guard:
                self.lost = "its key expired or was taken over (the lease was not renewed in time)"
            raise
        with self._guard:
            self.valid_until = max(self.valid_until, sent + self.lease)
            self.renewals += 1

    def remaining(self) -> float:
        with self._guard:
            return self.valid_until - time.monotonic()

    def check(self, action: str) -> None:
        # lazy: optional dependency (an extra), needed only when this lock is configured
        import redis

        if self.lost is None:
            try:
                self.renew()
            except redis.exceptions.LockNotOwnedError:
                pass
            except redis.RedisError as exc:
                left = self.remaining()
                if left < self.lease / 2:
                    with self._guard:
                        self.lost = self.lost or (
                            f"Redis has not answered for a while ({type(exc).__name__}) and the lease "
                            f"ends in {max(left, 0):.0f} s, too soon to finish a refresh"
                        )
        if self.lost is not None:
            raise OACLockLost(self._where, action, self.lost)


def _renew_lease(held: _RedisLease, stop: threading.Event) -> None:
    """Renew every third of the lease until released; through an outage, try again every tenth of
    it (1 s at most). Stops early only when the lock is lost (the key no longer ours)."""
    # lazy: optional dependency (an extra), needed only when this lock is configured
    import redis

    wait = held.lease / 3
    while not stop.wait(wait):
        try:
            held.renew()
            wait = held.lease / 3
        except redis.exceptions.LockNotOwnedError:
            log.warning("%s", held.lost)
            return
        except redis.RedisError as exc:
            held.failed_renewals += 1
            wait = min(1.0, held.lease / 10)
            if held.failed_renewals == 1 or held.failed_renewals % 10 == 0:
                log.warning(
                    "Renewing the Redis refresh lock failed (%s); %.0f s of the lease left, trying again.",
                    type(exc).__name__,
                    held.remaining(),
                )


def _truthy(value: Any) -> bool:
    # Extras typed in the UI arrive as text: "false" must not mean True.
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)
