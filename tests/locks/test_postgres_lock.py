"""The PostgreSQL advisory refresh lock, against the real server on 127.0.0.1:5432.

Each session uses a database of its own (``oac_lock_test_<random>``, dropped afterwards).
"""

from __future__ import annotations

import time

import psycopg2
import pytest

from airflow_provider_oac.errors import OACError
from airflow_provider_oac.hooks.locks import OACLockTimeout, advisory_lock_key, postgres_advisory_lock
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
