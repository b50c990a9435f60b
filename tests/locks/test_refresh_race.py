"""Why hosts need the cross-host lock: four "hosts" whose access token is stale at the same moment.

Each worker process has its own state directory (no common flock or journal), as processes on
different machines would; they share the metadata database (the token store). IAM is made slow
(every token request held 2 s), so all four refreshes are in flight at once, and the emulator
treats a spent refresh token like theft (reuse detection). Without a shared lock the login dies;
with one, exactly one refresh happens and the others use its result.
"""

from __future__ import annotations

import pytest

from airflow_provider_oac.errors import OACLoginRequired
from airflow_provider_oac.hooks.oac import OACHook
from airflow_provider_oac.hooks.token_manager import forget_process_cache
from tests.helpers import login
from tests.servers import LockConn
from tests.stress.harness import STATE_DIR_ENV, counter_delta
from tests.workers import Workers

pytestmark = pytest.mark.usefixtures("airflow_db")


@pytest.fixture(autouse=True)
def state_dir(tmp_path, monkeypatch):
    monkeypatch.setenv(STATE_DIR_ENV, str(tmp_path / "this-host"))
    forget_process_cache()
    yield
    forget_process_cache()


HOSTS = 4
IAM_DELAY = 2.0


def stale_at_once(emulator, conn_id: str, tmp_path, lock: LockConn | None = None):
    """Start one task on each of HOSTS hosts at the same moment; returns (worker results, counters)."""
    extra_env = lock.airflow_env() if lock else {}
    workers = Workers(
        "tests.stress.worker",
        ["once", conn_id],
        HOSTS,
        tmp_path / "logs",
        env=lambda index: {**extra_env, STATE_DIR_ENV: str(tmp_path / f"host-{index}")},
    )
    workers.wait_ready()
    emulator.control.add_fault("POST /iam/oauth2/v1/token", "delay", times=HOSTS, delay=IAM_DELAY)
    before = emulator.control.counters()
    workers.go()
    results = workers.results(timeout=120)
    return results, counter_delta(before, emulator.control.counters())


@pytest.fixture
def reuse_detecting(emulator):
    emulator.control.configure(reuse_detection=True)
    return emulator


def test_without_a_shared_lock_hosts_spend_the_same_refresh_token_and_the_login_dies(
    reuse_detecting, tmp_path
):
    login(reuse_detecting, "oac_race_nolock")
    stale_at_once(reuse_detecting, "oac_race_nolock", tmp_path)
    counters = reuse_detecting.control.counters()
    assert counters["token_requests"] - counters["device_polls"] == HOSTS  # all refreshed, same token
    assert counters["spent_refresh_token_presentations"] == HOSTS - 1
    assert counters["revoked_logins"] == 1
    # Access tokens already issued work until they expire; then the next refresh, anywhere, fails.
    reuse_detecting.control.expire_access_tokens()
    forget_process_cache()
    with pytest.raises(OACLoginRequired, match="airflow-oac login --conn-id oac_race_nolock"):
        OACHook("oac_race_nolock").list_snapshots()


def assert_one_refresh_for_all(results, counters) -> None:
    assert [r["errors"] for r in results] == [[]] * HOSTS
    assert counters["token_requests"] == 1
    assert counters["refreshes"] == 1
    assert sum(r["refreshes"] for r in results) == 1
    assert counters["spent_refresh_token_presentations"] == 0
    assert counters["revoked_logins"] == 0


@pytest.mark.postgres
def test_with_a_postgres_lock_hosts_make_one_refresh_and_share_it(reuse_detecting, pg_lock, tmp_path):
    login(reuse_detecting, "oac_race_pg", lock_conn_id=pg_lock.conn_id)
    assert_one_refresh_for_all(*stale_at_once(reuse_detecting, "oac_race_pg", tmp_path, pg_lock))


@pytest.mark.redis
def test_with_a_redis_lock_hosts_make_one_refresh_and_share_it(
    reuse_detecting, redis_lock_connection, tmp_path
):
    login(reuse_detecting, "oac_race_redis", lock_conn_id=redis_lock_connection.conn_id)
    assert_one_refresh_for_all(
        *stale_at_once(reuse_detecting, "oac_race_redis", tmp_path, redis_lock_connection)
    )
