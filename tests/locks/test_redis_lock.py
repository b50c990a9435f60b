"""The Redis refresh lock, against the real server on 127.0.0.1:6379.

Lock names are random (``test-<hex>``), so the keys ``airflow-provider-oac:refresh:test-*`` are
this test's own; a released or expired lock leaves no key behind.
"""

from __future__ import annotations

import threading
import time

import pytest
import redis

from airflow_provider_oac.errors import OACConfigError, OACError
from airflow_provider_oac.hooks.locks import OACLockTimeout, redis_lock
from tests.locks.helpers import Holder, count_under_lock, overlaps, take
from tests.servers import REDIS_HOST, REDIS_PORT, redis_lock_conn

pytestmark = pytest.mark.redis


def lock_key_ttl(name: str) -> float:
    """Seconds left on the lock's lease; -2 when there is no such key."""
    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=0)
    try:
        ttl_ms = client.pttl(f"airflow-provider-oac:refresh:{name}")
        return ttl_ms / 1000 if ttl_ms >= 0 else ttl_ms
    finally:
        client.close()


def test_four_processes_never_hold_the_redis_lock_at_once(redis_lock_connection, lock_name, tmp_path):
    total, intervals = count_under_lock(
        redis_lock_connection, lock_name, tmp_path, processes=4, iterations=25
    )
    assert total == 100
    assert len(intervals) == 100
    assert overlaps(intervals) == 0
    assert lock_key_ttl(lock_name) == -2  # released, nothing left behind


def test_the_redis_lock_of_a_dead_holder_frees_itself_when_its_lease_ends(redis_lock_connection, lock_name):
    lease = 2.0
    with Holder(redis_lock_connection, lock_name, lease=lease) as holder:
        died_at = holder.kill()
        with redis_lock(redis_lock_connection, lock_name, timeout=10):
            waited = time.monotonic() - died_at
    # Nobody renews a dead holder's lease: it ends within one lease, not before the last renewal.
    assert lease / 3 < waited < lease + 1


def test_a_living_holder_keeps_the_redis_lock_beyond_its_lease(redis_lock_connection, lock_name):
    lease = 1.0
    held = threading.Event()
    release = threading.Event()

    def slow_refresh():
        with redis_lock(redis_lock_connection, lock_name, timeout=5, lease=lease):
            held.set()
            release.wait(10)

    holder = threading.Thread(target=slow_refresh)
    holder.start()
    try:
        assert held.wait(5)
        with pytest.raises(OACLockTimeout):
            take(redis_lock(redis_lock_connection, lock_name, timeout=3 * lease, lease=lease))
        assert 0 < lock_key_ttl(lock_name) <= lease
    finally:
        release.set()
        holder.join()
    assert lock_key_ttl(lock_name) == -2


def test_waiting_for_a_held_redis_lock_gives_up_with_oac_lock_timeout(redis_lock_connection, lock_name):
    with Holder(redis_lock_connection, lock_name):
        started = time.monotonic()
        with pytest.raises(OACLockTimeout) as excinfo:
            take(redis_lock(redis_lock_connection, lock_name, timeout=1.0))
        waited = time.monotonic() - started
    assert 0.9 <= waited < 3
    message = str(excinfo.value)
    assert "Redis refresh lock" in message and "oac_lock_redis" in message
    assert "\n" not in message


def test_the_redis_lock_is_released_after_an_error_inside(redis_lock_connection, lock_name):
    with pytest.raises(RuntimeError), redis_lock(redis_lock_connection, lock_name, timeout=5):
        assert lock_key_ttl(lock_name) > 0
        raise RuntimeError("the refresh failed")
    assert lock_key_ttl(lock_name) == -2


def test_an_unreachable_redis_server_is_a_one_line_oac_error(lock_name):
    dead = redis_lock_conn()
    dead.port = 1
    with pytest.raises(OACError) as excinfo:
        take(redis_lock(dead, lock_name, timeout=1))
    assert not isinstance(excinfo.value, OACLockTimeout)
    message = str(excinfo.value)
    assert message.startswith("Could not reach the Redis refresh lock (connection 'oac_lock_redis')")
    assert "\n" not in message


def test_ssl_false_typed_as_text_means_no_tls(redis_lock_connection, lock_name):
    # The connection form stores extras as text; "false" must not switch TLS on.
    redis_lock_connection.extra_dejson["ssl"] = "false"
    with redis_lock(redis_lock_connection, lock_name, timeout=1):
        pass


def test_a_database_that_is_not_a_number_is_a_config_error(lock_name):
    conn = redis_lock_conn(db="locks")
    with pytest.raises(OACConfigError, match=r"Redis database .* must be a number, not 'locks'"):
        take(redis_lock(conn, lock_name, timeout=1))
