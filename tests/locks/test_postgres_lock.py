"""The PostgreSQL advisory refresh lock, against the real server on 127.0.0.1:5432.

Each session uses a database of its own (``oac_lock_test_<random>``, dropped afterwards).
"""

from __future__ import annotations

import os
import time

import psycopg2
import pytest

from airflow_provider_oac.errors import OACConfigError, OACError
from airflow_provider_oac.hooks.locks import (
    OACLockLost,
    OACLockTimeout,
    advisory_lock_key,
    postgres_advisory_lock,
)
from tests.locks.helpers import Holder, count_under_lock, overlaps, take
from tests.servers import PG_HOST, PG_PORT, postgres_lock_conn

pytestmark = pytest.mark.postgres


def lock_holders(pg_lock, name: str) -> int:
    """Sessions holding the advisory lock ``name`` in the lock database, as pg_locks shows them."""
    key = advisory_lock_key(name)
    connection = psycopg2.connect(host=PG_HOST, port=PG_PORT, user=pg_lock.login, dbname=pg_lock.schema)
    try:
        with connection.cursor() as cursor:
            # A bigint key is stored as two halves: classid = high 32 bits, objid = low 32 bits.
            cursor.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                "AND classid::bigint = %s AND objid::bigint = %s AND objsubid = 1",
                ((key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF),
            )
            return cursor.fetchone()[0]
    finally:
        connection.close()


def test_four_processes_never_hold_the_postgres_lock_at_once(pg_lock, lock_name, tmp_path):
    total, intervals = count_under_lock(pg_lock, lock_name, tmp_path, processes=4, iterations=25)
    assert total == 100  # no lost update
    assert len(intervals) == 100
    assert overlaps(intervals) == 0


def test_the_postgres_lock_is_released_when_its_holder_dies(pg_lock, lock_name):
    with Holder(pg_lock, lock_name) as holder:
        assert lock_holders(pg_lock, lock_name) == 1
        with pytest.raises(OACLockTimeout):
            take(postgres_advisory_lock(pg_lock, lock_name, timeout=0.5))
        died_at = holder.kill()
        with postgres_advisory_lock(pg_lock, lock_name, timeout=10):
            waited = time.monotonic() - died_at
    # The server ends the session as soon as the client's socket closes: no lease to wait out.
    assert waited < 2


def test_the_postgres_lock_is_released_on_exit_and_after_an_error(pg_lock, lock_name):
    with pytest.raises(RuntimeError), postgres_advisory_lock(pg_lock, lock_name, timeout=5):
        assert lock_holders(pg_lock, lock_name) == 1
        raise RuntimeError("the refresh failed")
    assert lock_holders(pg_lock, lock_name) == 0
    with postgres_advisory_lock(pg_lock, lock_name, timeout=0):
        pass


def test_waiting_for_a_held_postgres_lock_gives_up_with_oac_lock_timeout(pg_lock, lock_name):
    with Holder(pg_lock, lock_name):
        started = time.monotonic()
        with pytest.raises(OACLockTimeout) as excinfo:
            take(postgres_advisory_lock(pg_lock, lock_name, timeout=1.0))
        waited = time.monotonic() - started
    assert 0.9 <= waited < 5
    message = str(excinfo.value)
    assert "PostgreSQL refresh lock" in message and "oac_lock_pg" in message
    assert "\n" not in message


def test_a_zero_timeout_tries_the_postgres_lock_once(pg_lock, lock_name):
    with Holder(pg_lock, lock_name):
        started = time.monotonic()
        with pytest.raises(OACLockTimeout):
            take(postgres_advisory_lock(pg_lock, lock_name, timeout=0))
        assert time.monotonic() - started < 2


def test_different_lock_names_do_not_exclude_each_other(pg_lock, lock_name):
    with Holder(pg_lock, lock_name), postgres_advisory_lock(pg_lock, lock_name + "-other", timeout=0):
        pass


def test_an_unreachable_postgres_server_is_a_one_line_oac_error(pg_database, lock_name):
    dead = postgres_lock_conn(*pg_database)
    dead.port = 1  # nothing listens there
    with pytest.raises(OACError) as excinfo:
        take(postgres_advisory_lock(dead, lock_name, timeout=1))
    assert not isinstance(excinfo.value, OACLockTimeout)
    message = str(excinfo.value)
    assert message.startswith("Could not connect to the PostgreSQL refresh lock (connection 'oac_lock_pg')")
    assert "\n" not in message


def test_the_connections_libpq_extras_are_used(pg_database, lock_name):
    # target_session_attrs=read-only refuses a primary: proof that the extra reached libpq.
    conn = postgres_lock_conn(*pg_database, target_session_attrs="read-only")
    with pytest.raises(OACError, match="Could not connect"):
        take(postgres_advisory_lock(conn, lock_name, timeout=1))
    conn = postgres_lock_conn(*pg_database, target_session_attrs="read-write", sslmode="prefer")
    with postgres_advisory_lock(conn, lock_name, timeout=1):
        pass


def _lock_session(monkeypatch):
    """Wraps psycopg2.connect to keep the lock's own connection (the real one) for inspection."""
    import psycopg2

    made = []
    real_connect = psycopg2.connect

    def keep(*args, **kwargs):
        made.append(real_connect(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(psycopg2, "connect", keep)
    return made


def _socket_options(connection) -> dict[str, int]:
    import socket

    sock = socket.socket(fileno=os.dup(connection.fileno()))
    try:
        return {
            "SO_KEEPALIVE": sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE),
            "TCP_KEEPIDLE": sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE),
            "TCP_KEEPINTVL": sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL),
            "TCP_KEEPCNT": sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT),
            "TCP_USER_TIMEOUT": sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT),
        }
    finally:
        sock.close()


def _server_settings(connection) -> dict[str, str]:
    names = ("tcp_keepalives_idle", "tcp_keepalives_interval", "tcp_keepalives_count", "tcp_user_timeout")
    names += ("client_connection_check_interval",)
    with connection.cursor() as cursor:
        values = {}
        for name in names:
            cursor.execute(f"SHOW {name}")
            values[name] = cursor.fetchone()[0]
    return values


def test_the_lock_session_finds_a_dead_peer_within_a_minute_at_both_ends(pg_lock, lock_name, monkeypatch):
    """Issue 13 item 7: a holder whose host dies or is cut off must not keep the advisory lock for
    the 2 hours of default TCP keepalive. The lock's session has keepalives at both ends: libpq's on
    the holder's socket, and the server's own (``tcp_keepalives_*``, ``tcp_user_timeout``: what ends
    a dead holder's session, and with it the lock) plus ``client_connection_check_interval`` for a
    dead waiter blocked in ``pg_advisory_lock``."""
    made = _lock_session(monkeypatch)
    with postgres_advisory_lock(pg_lock, lock_name, timeout=5):
        (connection,) = made
        client = _socket_options(connection)
        server = _server_settings(connection)
    assert client == {
        "SO_KEEPALIVE": 1,
        "TCP_KEEPIDLE": 10,
        "TCP_KEEPINTVL": 5,
        "TCP_KEEPCNT": 3,
        "TCP_USER_TIMEOUT": 25000,
    }
    assert server == {
        "tcp_keepalives_idle": "10",
        "tcp_keepalives_interval": "5",
        "tcp_keepalives_count": "3",
        "tcp_user_timeout": "25000",
        "client_connection_check_interval": "5s",
    }


def test_the_lock_connections_extra_sets_the_keepalives(pg_database, lock_name, monkeypatch):
    conn = postgres_lock_conn(
        *pg_database, keepalives_idle=20, keepalives_interval=4, keepalives_count=5, tcp_user_timeout=40000
    )
    made = _lock_session(monkeypatch)
    with postgres_advisory_lock(conn, lock_name, timeout=5):
        client = _socket_options(made[0])
        server = _server_settings(made[0])
    assert (client["TCP_KEEPIDLE"], client["TCP_KEEPINTVL"], client["TCP_KEEPCNT"]) == (20, 4, 5)
    assert client["TCP_USER_TIMEOUT"] == 40000
    assert server["tcp_keepalives_idle"] == "20" and server["tcp_keepalives_count"] == "5"
    assert server["tcp_user_timeout"] == "40000"


def test_a_keepalive_extra_that_is_not_a_whole_number_is_a_config_error(pg_database, lock_name):
    conn = postgres_lock_conn(*pg_database, keepalives_idle="ten")
    with pytest.raises(OACConfigError, match="Extra 'keepalives_idle' must be a whole number of seconds"):
        take(postgres_advisory_lock(conn, lock_name, timeout=1))


def test_a_holder_whose_session_the_server_ended_refuses_to_go_on(pg_lock, lock_name):
    """What the server does to a dead holder's session (keepalive gave up) happens here by
    pg_terminate_backend: the holder's check() then says the lock is lost instead of going on."""
    with postgres_advisory_lock(pg_lock, lock_name, timeout=5) as held:
        held.check("present the refresh token")
        assert lock_holders(pg_lock, lock_name) == 1
        admin = psycopg2.connect(host=PG_HOST, port=PG_PORT, user=pg_lock.login, dbname=pg_lock.schema)
        admin.autocommit = True
        with admin.cursor() as cursor:
            key = advisory_lock_key(lock_name)
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                "AND classid::bigint = %s AND objid::bigint = %s AND objsubid = 1",
                ((key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF),
            )
        admin.close()
        with pytest.raises(OACLockLost, match="its session ended") as excinfo:
            held.check("present the refresh token")
        assert "\n" not in str(excinfo.value)


def test_a_libpq_older_than_12_without_tcp_user_timeout_still_takes_the_lock(pg_lock, lock_name, monkeypatch):
    """libpq before 12 (a psycopg2 built against an old system libpq) rejects the connection option
    ``tcp_user_timeout`` that the lock now sets by default: the lock must degrade to the other
    keepalives, not fail every refresh. The old libpq cannot run here, so its answer is reproduced
    (the exact error psycopg2 raises for an unknown option)."""
    real_connect = psycopg2.connect
    seen: list[dict] = []

    def libpq_11_connect(*args, **kwargs):
        seen.append(dict(kwargs))
        if "tcp_user_timeout" in kwargs:
            raise psycopg2.ProgrammingError('invalid dsn: invalid connection option "tcp_user_timeout"\n')
        return real_connect(*args, **kwargs)

    monkeypatch.setattr(psycopg2, "connect", libpq_11_connect)
    with postgres_advisory_lock(pg_lock, lock_name, timeout=5) as held:
        held.check("present the refresh token")
        assert lock_holders(pg_lock, lock_name) == 1
    lock_sessions = [k for k in seen if k.get("application_name") == "airflow-provider-oac-lock"]
    assert len(lock_sessions) == 2  # refused with the option, then connected without it
    assert lock_sessions[-1]["keepalives_idle"] == 10 and "tcp_user_timeout" not in lock_sessions[-1]

    # Set explicitly in the Extra, it is not dropped silently: the error says which option.
    conn = postgres_lock_conn(pg_lock.login, pg_lock.schema, tcp_user_timeout=30000)
    with pytest.raises(OACError, match='invalid connection option "tcp_user_timeout"'):
        take(postgres_advisory_lock(conn, lock_name, timeout=1))
