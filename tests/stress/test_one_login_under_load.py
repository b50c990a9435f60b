"""One login, many tasks, many access-token lifetimes: the login never dies.

The emulator runs with reuse detection on (a spent refresh token presented once revokes the whole
login, the harshest reading of RFC 9700) and 1-second access tokens, so about fifty lifetimes pass
in a minute. Twenty task loops in four OS processes call OAC the whole time. Run with ``-s`` to see
the figures.
"""

from __future__ import annotations

import pytest

from airflow_provider_oac.hooks.oac import OACHook
from airflow_provider_oac.hooks.token_store import VariableTokenStore
from tests.helpers import login
from tests.servers import postgres_lock_conn, reachable, redis_lock_conn
from tests.stress.harness import STATE_DIR_ENV, StressResult, login_in, run_stress

pytestmark = [pytest.mark.stress, pytest.mark.serial]

ACCESS_TOKEN_TTL = 1.0
LIFETIMES = 52
PROCESSES = 4
THREADS = 5


def show(capsys, title: str, result: StressResult) -> None:
    with capsys.disabled():
        print(f"\n[stress] {title}: {result.summary()}")


def assert_the_login_survived(result: StressResult) -> None:
    # A 1 s token has a 0.25 s margin: on a loaded machine a call (and its one retry after a 401)
    # can still outlive its token. That fails the call, not the login; allow it, rarely.
    errors = result.error_types()
    expired_in_flight = errors.pop("OACUnauthorizedError", 0)
    assert errors == {}, result.errors()
    assert expired_in_flight <= 0.01 * result.total("calls"), result.errors()
    assert all(worker["calls"] > 0 for worker in result.workers)
    assert result.total("login_required") == 0
    counters = result.counters
    assert counters["revoked_logins"] == 0
    assert counters["spent_refresh_token_presentations"] == 0
    assert counters["refresh_failures"] == 0
    # Every refresh was made by one of our task processes, and there was one per lifetime or so:
    # the margin refreshes a 1 s token after 0.75 s, so about 1.33; 20 uncoordinated tasks would
    # make up to 20.
    assert counters["refreshes"] == result.total("refreshes")
    assert result.lifetimes - 1 <= counters["refreshes"] <= 2 * result.lifetimes


@pytest.fixture
def stressed_emulator(emulator):
    emulator.control.configure(reuse_detection=True, access_token_ttl=ACCESS_TOKEN_TTL)
    return emulator


@pytest.mark.usefixtures("airflow_db")
def test_twenty_tasks_in_four_processes_on_one_host_keep_one_login_alive(stressed_emulator, tmp_path, capsys):
    login(stressed_emulator, "oac_stress_host")
    one_host = {STATE_DIR_ENV: str(tmp_path / "state")}  # shared: the flock and the journal
    result = run_stress(
        stressed_emulator.control,
        "oac_stress_host",
        processes=PROCESSES,
        threads=THREADS,
        seconds=LIFETIMES * ACCESS_TOKEN_TTL,
        access_token_ttl=ACCESS_TOKEN_TTL,
        log_dir=tmp_path / "logs",
        env=lambda index: one_host,
    )
    show(capsys, "one host, shared state dir", result)
    assert_the_login_survived(result)
    config = OACHook("oac_stress_host").config
    stored = VariableTokenStore(config.refresh_token).read("oac_stress_host", config.login_key)
    assert stored is not None and stored.generation == result.refreshes


def run_as_separate_hosts(emulator, pg_airflow_db, lock, tmp_path) -> StressResult:
    """Processes that share only the PostgreSQL metadata database and the lock server: each has
    its own state directory (no common flock, no common journal) and its own process cache."""
    env = {**pg_airflow_db.env, **lock.airflow_env()}
    conn_id = f"oac_stress_{lock.conn_type}"
    login_in(env, emulator, conn_id, lock_conn_id=lock.conn_id)
    return run_stress(
        emulator.control,
        conn_id,
        processes=PROCESSES,
        threads=THREADS,
        seconds=LIFETIMES * ACCESS_TOKEN_TTL,
        access_token_ttl=ACCESS_TOKEN_TTL,
        log_dir=tmp_path / "logs",
        env=lambda index: {**env, STATE_DIR_ENV: str(tmp_path / f"host-{index}")},
    )


@pytest.mark.postgres
def test_processes_sharing_only_the_database_and_a_postgres_lock_keep_one_login_alive(
    stressed_emulator, pg_airflow_db, tmp_path, capsys
):
    # The advisory lock lives in the metadata database itself, as the docs suggest.
    lock = postgres_lock_conn(pg_airflow_db.user, pg_airflow_db.database, conn_id="oac_stress_lock_pg")
    result = run_as_separate_hosts(stressed_emulator, pg_airflow_db, lock, tmp_path)
    show(capsys, "separate hosts, PostgreSQL metadata DB + advisory lock", result)
    assert_the_login_survived(result)


@pytest.mark.postgres
@pytest.mark.redis
def test_processes_sharing_only_the_database_and_a_redis_lock_keep_one_login_alive(
    stressed_emulator, pg_airflow_db, tmp_path, capsys
):
    if not reachable("127.0.0.1", 6379):
        pytest.skip("Redis is not reachable on 127.0.0.1:6379")
    lock = redis_lock_conn(conn_id="oac_stress_lock_redis")
    result = run_as_separate_hosts(stressed_emulator, pg_airflow_db, lock, tmp_path)
    show(capsys, "separate hosts, PostgreSQL metadata DB + Redis lock", result)
    assert_the_login_survived(result)
