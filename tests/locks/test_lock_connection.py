"""The OAC connection's ``lock_conn_id``: what the hook does with it, what test_connection() says,
and the one-line errors for a lock connection that cannot work."""

from __future__ import annotations

import json
import sys
import threading
import time

import pytest

from airflow_provider_oac.errors import OACConfigError
from airflow_provider_oac.hooks.locks import cross_host_lock, lock_id, postgres_advisory_lock, redis_lock
from airflow_provider_oac.hooks.oac import OACHook
from airflow_provider_oac.hooks.token_manager import forget_process_cache
from tests.helpers import login
from tests.locks.helpers import Holder, take
from tests.servers import postgres_lock_conn, redis_lock_conn

pytestmark = pytest.mark.usefixtures("airflow_db")


@pytest.fixture(autouse=True)
def state_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("AIRFLOW_PROVIDER_OAC_STATE_DIR", str(tmp_path / "state"))
    forget_process_cache()
    yield
    forget_process_cache()


def define(monkeypatch, conn) -> None:
    """Make the lock connection visible to Airflow (as AIRFLOW_CONN_<ID>)."""
    for name, value in conn.airflow_env().items():
        monkeypatch.setenv(name, value)


# --- configuration errors ---------------------------------------------------------------------------


def test_a_lock_connection_of_another_type_is_a_one_line_config_error():
    from airflow.models.connection import Connection

    http = Connection(conn_id="some_http", conn_type="http", host="example.com")
    with pytest.raises(OACConfigError) as excinfo:
        cross_host_lock("oac_x", http)
    message = str(excinfo.value)
    assert "'some_http'" in message and "'oac_x'" in message
    assert "use a postgres or redis connection" in message
    assert "\n" not in message


def test_the_hook_refuses_a_lock_connection_of_another_type_before_calling_iam(emulator, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_OAC_L_HTTP", json.dumps({"conn_type": "http", "host": "example.com"}))
    login(emulator, "oac_l_badtype", lock_conn_id="oac_l_http")
    with pytest.raises(OACConfigError, match="has type 'http': use a postgres or redis connection"):
        OACHook("oac_l_badtype").get_access_token()
    assert emulator.control.counters()["refreshes"] == 0


def test_a_lock_conn_id_naming_no_connection_is_a_one_line_config_error(emulator):
    login(emulator, "oac_l_missing", lock_conn_id="no_such_lock")
    with pytest.raises(OACConfigError) as excinfo:
        OACHook("oac_l_missing").get_access_token()
    message = str(excinfo.value)
    assert "'no_such_lock', which does not exist" in message
    assert "\n" not in message
    assert emulator.control.counters()["refreshes"] == 0


def test_a_postgres_lock_without_psycopg2_names_the_extra_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "psycopg2", None)  # what `import psycopg2` meets when not installed
    with pytest.raises(
        OACConfigError, match=r"pip install psycopg2-binary \(the provider's postgres extra\)"
    ):
        take(postgres_advisory_lock(postgres_lock_conn("postgres", "postgres"), "x", timeout=1))


def test_a_redis_lock_without_the_redis_client_names_the_extra_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "redis", None)
    with pytest.raises(OACConfigError, match=r"pip install redis \(the provider's redis extra\)"):
        take(redis_lock(redis_lock_conn(), "x", timeout=1))


# --- test_connection() ------------------------------------------------------------------------------


def test_test_connection_says_when_a_cross_host_lock_is_needed_if_none_is_set(emulator):
    login(emulator, "oac_l_nolock")
    ok, message = OACHook("oac_l_nolock").test_connection()
    assert ok, message
    assert "No cross-host refresh lock" in message
    assert "more than one" in message and "postgres or redis" in message


@pytest.mark.postgres
def test_test_connection_takes_the_postgres_lock_and_says_so(emulator, monkeypatch, pg_lock):
    define(monkeypatch, pg_lock)
    login(emulator, "oac_l_pg", lock_conn_id=pg_lock.conn_id)
    ok, message = OACHook("oac_l_pg").test_connection()
    assert ok, message
    assert "Cross-host refresh lock: PostgreSQL advisory lock through connection 'oac_lock_pg'" in message


@pytest.mark.redis
def test_test_connection_takes_the_redis_lock_and_says_so(emulator, monkeypatch, redis_lock_connection):
    define(monkeypatch, redis_lock_connection)
    login(emulator, "oac_l_redis", lock_conn_id=redis_lock_connection.conn_id)
    ok, message = OACHook("oac_l_redis").test_connection()
    assert ok, message
    assert "Cross-host refresh lock: Redis lock through connection 'oac_lock_redis'" in message


@pytest.mark.postgres
def test_test_connection_fails_when_the_lock_server_is_unreachable(emulator, monkeypatch, pg_database):
    dead = postgres_lock_conn(*pg_database, conn_id="oac_lock_dead")
    dead.port = 1
    define(monkeypatch, dead)
    login(emulator, "oac_l_dead", lock_conn_id="oac_lock_dead")
    hook = OACHook("oac_l_dead")
    ok, message = hook.test_connection()
    assert not ok
    assert message.startswith("Could not connect to the PostgreSQL refresh lock (connection 'oac_lock_dead')")


# --- the hook really takes it -----------------------------------------------------------------------


@pytest.mark.postgres
def test_a_refresh_waits_for_the_cross_host_lock_held_on_another_host(emulator, monkeypatch, pg_lock):
    define(monkeypatch, pg_lock)
    login(emulator, "oac_l_wait", lock_conn_id=pg_lock.conn_id)
    hook = OACHook("oac_l_wait")
    hook.config  # noqa: B018 - read the connection before the clock starts
    tokens: list[str] = []
    with Holder(pg_lock, lock_id("oac_l_wait")) as other_host:
        worker = threading.Thread(target=lambda: tokens.append(hook.get_access_token()))
        worker.start()
        time.sleep(1.5)
        assert worker.is_alive()
        assert emulator.control.counters()["refreshes"] == 0
        other_host.kill()
        worker.join(30)
    assert tokens
    assert emulator.control.counters()["refreshes"] == 1
