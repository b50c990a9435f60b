"""Issue 13 item 5: a Redis outage while a refresh holds the Redis lock.

Each test starts a ``redis-server`` of its own on a free port (never the shared one) and stops it
for the outage: killed and started again on the same port with its append-only file, so the lock
key and its expiry time survive the restart as on a production Redis with persistence.
"""

from __future__ import annotations

import threading
import time

import pytest

from airflow_provider_oac.errors import OACError
from airflow_provider_oac.hooks.locks import OACLockLost, OACLockTimeout, redis_lock
from airflow_provider_oac.hooks.oac import OACHook
from airflow_provider_oac.hooks.token_manager import TokenManager, forget_process_cache
from airflow_provider_oac.hooks.token_store import VariableTokenStore
from tests.servers import unique_lock_name

# serial: the leases and outages are timed in seconds (a 7.7 s outage of a 10 s lease).
pytestmark = [pytest.mark.redis, pytest.mark.serial]


def test_the_lease_is_renewed_through_an_outage_shorter_than_the_lease(own_redis):
    """Redis is down for 7.7 s of a 10 s lease while the holder's refresh takes 13 s: the old
    renewer gave up after redis-py's retries (about 4 s) and the lease ran out under the holder, so
    a second caller took the lock while the first still held it."""
    lease, name, conn = 10.0, unique_lock_name(), own_redis.conn()
    held, release = threading.Event(), threading.Event()
    holder_held: list[float] = []

    def slow_refresh():
        with redis_lock(conn, name, timeout=5, lease=lease):
            holder_held.append(time.monotonic())
            held.set()
            release.wait(30)
            holder_held.append(time.monotonic())

    holder = threading.Thread(target=slow_refresh)
    holder.start()
    try:
        assert held.wait(5)
        time.sleep(0.3)
        own_redis.kill()
        time.sleep(7.7)
        own_redis.start()
        taken_by_second: list[float] = []
        deadline = holder_held[0] + 13
        while time.monotonic() < deadline:
            try:
                with redis_lock(conn, name, timeout=0):
                    taken_by_second.append(time.monotonic() - holder_held[0])
                    break
            except OACLockTimeout:
                time.sleep(0.2)
    finally:
        release.set()
        holder.join()
    assert taken_by_second == [], f"a second caller took the lock {taken_by_second[0]:.1f} s into the hold"
    assert len(holder_held) == 2


def test_a_holder_whose_lease_ran_out_in_an_outage_refuses_to_go_on(own_redis):
    """Down longer than the lease: the key expired, so the lock is lost; check() says so once Redis
    answers again (the key is not ours), and while it does not (less than half the lease left)."""
    lease, name, conn = 3.0, unique_lock_name(), own_redis.conn()
    with redis_lock(conn, name, timeout=5, lease=lease) as lock:
        own_redis.kill()
        time.sleep(lease / 2 + 0.5)
        with pytest.raises(OACLockLost, match="Redis has not answered"):
            lock.check("present the refresh token")
    own_redis.start()
    name = unique_lock_name()
    with redis_lock(conn, name, timeout=5, lease=lease) as lock:
        own_redis.kill()
        time.sleep(lease + 0.5)
        own_redis.start()
        with redis_lock(conn, name, timeout=0):  # the lease ended: anybody may take it
            pass
        with pytest.raises(OACLockLost, match="expired or was taken over"):
            lock.check("present the refresh token")


@pytest.mark.usefixtures("airflow_db")
def test_a_refresh_whose_redis_lease_ran_out_does_not_present_the_token(
    emulator, own_redis, tmp_path, monkeypatch
):
    """The outage strikes right after the refresh took the lock (forced: the lock factory stops
    Redis before it hands the lock over) and outlasts half the lease. The try fails with one line
    and IAM sees no token request; once Redis is back, the next try refreshes normally."""
    import contextlib

    from tests.helpers import login

    monkeypatch.setenv("AIRFLOW_PROVIDER_OAC_STATE_DIR", str(tmp_path / "state"))
    forget_process_cache()
    login(emulator, "oac_lock_outage")
    lease, name, conn = 3.0, unique_lock_name(), own_redis.conn()
    outage = [True]

    @contextlib.contextmanager
    def lock_then_outage():
        with redis_lock(conn, name, timeout=5, lease=lease) as held:
            if outage[0]:
                own_redis.kill()
                time.sleep(lease / 2 + 0.5)
            yield held

    config = OACHook("oac_lock_outage").config
    manager = TokenManager(config, VariableTokenStore(config.refresh_token), cross_host_lock=lock_then_outage)
    before = emulator.control.counters()["token_requests"]
    with pytest.raises(OACError, match="refresh token was not sent") as excinfo:
        manager.get_access_token()
    assert "\n" not in str(excinfo.value)
    assert emulator.control.counters()["token_requests"] == before, "the token was presented without the lock"

    outage[0] = False
    own_redis.start()
    assert manager.get_access_token()
    assert manager.refresh_count == 1
    assert emulator.control.counters()["spent_refresh_token_presentations"] == 0
    forget_process_cache()


@pytest.mark.usefixtures("airflow_db")
def test_a_lease_lost_while_iam_answers_still_stores_the_new_token(
    emulator, own_redis, tmp_path, monkeypatch
):
    """Lost *after* the token was presented (Redis down longer than the lease while IAM takes 4 s to
    answer): IAM has rotated the token, so the new one is the only valid copy. It is stored, the
    access token is used, and a warning says the lock was lost."""
    import contextlib

    from tests.helpers import login

    monkeypatch.setenv("AIRFLOW_PROVIDER_OAC_STATE_DIR", str(tmp_path / "state"))
    forget_process_cache()
    login(emulator, "oac_lock_lost_late")
    lease, name, conn = 2.0, unique_lock_name(), own_redis.conn()

    @contextlib.contextmanager
    def lock_then_outage():
        with redis_lock(conn, name, timeout=5, lease=lease) as held:
            threading.Timer(0.1, own_redis.kill).start()  # after the check, while IAM works
            threading.Timer(lease + 1.5, own_redis.start).start()
            yield held

    emulator.control.add_fault("POST /iam/oauth2/v1/token", "delay", delay=lease + 2.5, times=1)
    config = OACHook("oac_lock_lost_late").config
    manager = TokenManager(config, VariableTokenStore(config.refresh_token), cross_host_lock=lock_then_outage)
    import logging

    warnings: list[str] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda record: warnings.append(record.getMessage())  # type: ignore[method-assign]
    logger = logging.getLogger("airflow_provider_oac.hooks.token_manager")
    logger.addHandler(handler)
    try:
        access_token = manager.get_access_token()
    finally:
        logger.removeHandler(handler)

    stored = VariableTokenStore(config.refresh_token).read(config.conn_id, config.login_key)
    assert stored is not None and stored.access_token == access_token and stored.generation == 1
    assert any("The new refresh token was stored anyway" in w for w in warnings), warnings
    assert emulator.control.counters()["spent_refresh_token_presentations"] == 0
    forget_process_cache()


@pytest.mark.usefixtures("airflow_db")
def test_a_refresh_retried_after_a_503_checks_the_lock_again_before_presenting_the_token(
    emulator, own_redis, tmp_path, monkeypatch
):
    """IAM answers 503 (the token was not consumed), so auth retries after a backoff. During the
    backoff the lease runs out and another caller takes the key (forced: the key is overwritten).
    The lock was checked only before the first attempt, so the retry presented the refresh token
    without owning the lock: two callers could present the same one-time token."""
    import redis as redis_client

    from tests.helpers import login

    monkeypatch.setenv("AIRFLOW_PROVIDER_OAC_STATE_DIR", str(tmp_path / "state"))
    forget_process_cache()
    login(emulator, "oac_lock_retry")
    name, conn = unique_lock_name(), own_redis.conn()
    other = redis_client.Redis(host="127.0.0.1", port=own_redis.port, socket_timeout=5)

    def backoff_while_another_caller_takes_the_lock(seconds: float) -> None:
        other.set(f"airflow-provider-oac:refresh:{name}", "another-caller", px=30_000)

    emulator.control.add_fault("POST /iam/oauth2/v1/token", "status", status=503, retry_after=0, times=1)
    config = OACHook("oac_lock_retry").config
    manager = TokenManager(
        config,
        VariableTokenStore(config.refresh_token),
        cross_host_lock=lambda: redis_lock(conn, name, timeout=5, lease=30),
        sleep=backoff_while_another_caller_takes_the_lock,
    )
    before = emulator.control.counters()["token_requests"]
    try:
        with pytest.raises(OACLockLost, match="expired or was taken over"):
            manager.get_access_token()
        assert emulator.control.counters()["token_requests"] == before + 1, "presented again without the lock"
        assert other.get(f"airflow-provider-oac:refresh:{name}") == b"another-caller"  # not released
    finally:
        other.close()
        forget_process_cache()
