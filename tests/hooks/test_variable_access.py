"""How tasks and triggers reach Airflow Variables on every supported Airflow: a failed read is never
"no record", keys fit Airflow's 250 characters, and triggers read connections off the event loop.

The supervisor's side of the comms is replaced here only where a failure must be caused on purpose
(a broken comms channel cannot be provoked in a real one on demand); the whole path under real
supervisors runs in tests/test_trigger_comms.py and the ``dag.test()`` operator tests.
"""

from __future__ import annotations

import asyncio
import threading
import time
from types import SimpleNamespace

import pytest

from airflow_provider_oac.errors import OACError, OACLoginRequired
from airflow_provider_oac.hooks import oac
from airflow_provider_oac.hooks.oac import OACHook
from airflow_provider_oac.hooks.token_manager import TokenManager, forget_process_cache
from airflow_provider_oac.hooks.token_store import VariableTokenStore, variable_key
from airflow_provider_oac.operators._base import WorkRecord
from airflow_provider_oac.triggers.work_request import OACWorkRequestTrigger
from tests.helpers import login

pytestmark = pytest.mark.usefixtures("airflow_db")

LONG = 250


@pytest.fixture(autouse=True)
def state_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("AIRFLOW_PROVIDER_OAC_STATE_DIR", str(tmp_path / "state"))
    forget_process_cache()
    yield
    forget_process_cache()


class BrokenVariableComms:
    """The supervisor channel of a task or trigger whose Variable reads fail (as 3.0-3.2's triggerer
    comms did for calls from ``asyncio.to_thread`` threads); every other message is accepted."""

    def __init__(self):
        self.sent: list[str] = []

    def send(self, msg):
        self.sent.append(type(msg).__name__)
        if type(msg).__name__ == "GetVariable":
            raise ConnectionResetError("comms broken")
        return None


def test_a_failed_variable_read_never_falls_back_to_the_spent_login_token(emulator, tmp_path, monkeypatch):
    from airflow.sdk.execution_time import task_runner

    login(emulator, "oac_t_readfail")
    emulator.control.configure(reuse_detection=True)
    OACHook("oac_t_readfail").get_access_token()  # generation 1: the connection's token is spent now
    config = OACHook("oac_t_readfail").config
    # Another host (no journal of that refresh), an hour later, inside a trigger whose reads fail.
    monkeypatch.setenv("AIRFLOW_PROVIDER_OAC_STATE_DIR", str(tmp_path / "other-host"))
    forget_process_cache()
    monkeypatch.setattr(task_runner, "SUPERVISOR_COMMS", BrokenVariableComms(), raising=False)
    later = time.time() + 3600
    manager = TokenManager(config, VariableTokenStore(config.refresh_token), clock=lambda: later)

    with pytest.raises(OACError) as failure:
        manager.get_access_token()

    assert not isinstance(failure.value, OACLoginRequired), failure.value
    assert "oac_login__oac_t_readfail__" in str(failure.value)
    counters = emulator.control.counters()
    assert counters["spent_refresh_token_presentations"] == 0, counters
    assert counters["refreshes"] == 1, counters
    assert counters["revoked_logins"] == 0, counters


def test_token_variable_keys_fit_250_characters_for_a_250_character_connection_id():
    conn_id = "c" * LONG
    key = variable_key(conn_id, "0123456789abcdef")
    assert len(key) <= 250
    assert key.startswith("oac_login__ccccc")
    assert key == variable_key(conn_id, "0123456789abcdef")  # stable
    assert key != variable_key(conn_id, "fedcba9876543210")  # another login, another key
    assert key != variable_key("c" * (LONG - 1), "0123456789abcdef")
    # Short ids keep their readable, unhashed key.
    assert variable_key("oac_default", "0123456789abcdef") == "oac_login__oac_default__0123456789abcdef"
    assert (
        variable_key("oac_default", "0123456789abcdef", legacy=True)
        == "oac_token__oac_default__0123456789abcdef"
    )


def test_the_token_store_round_trips_a_record_under_a_250_character_connection_id(emulator):
    conn_id = "t" * LONG
    login(emulator, conn_id)
    access_token = OACHook(conn_id).get_access_token()
    config = OACHook(conn_id).config
    record = VariableTokenStore(config.refresh_token).read(conn_id, config.login_key)
    assert record is not None and record.access_token == access_token
    assert VariableTokenStore().forget_login(conn_id) == 1
    assert VariableTokenStore(config.refresh_token).read(conn_id, config.login_key) is None


def work_record_key(dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> str:
    ti = SimpleNamespace(dag_id=dag_id, run_id=run_id, task_id=task_id, map_index=map_index)
    return WorkRecord({"ti": ti})._variable  # type: ignore[arg-type]


def test_work_record_keys_fit_250_characters_for_250_character_dag_and_run_ids():
    dag_id, run_id = "d" * LONG, "manual__" + "r" * (LONG - 8)
    key = work_record_key(dag_id, run_id, "backup")
    assert len(key) <= 250
    assert key.startswith("oac_work__ddddd")
    assert key == work_record_key(dag_id, run_id, "backup")  # every try finds the same record
    assert key != work_record_key(dag_id, run_id, "backup", 0)
    assert key != work_record_key(dag_id, run_id, "restore")
    assert key != work_record_key(dag_id, run_id[:-1] + "s", "backup")
    assert work_record_key("nightly", "manual__1", "backup") == "oac_work__nightly__manual__1__backup__-1"


def test_a_trigger_reads_the_connections_off_the_event_loop(emulator, monkeypatch):
    """Building the token manager reads the OAC and the lock connection (sync SDK calls): never on
    the event loop's own thread, where the triggerer's comms cannot answer them."""
    login(emulator, "oac_t_lockconn", lock_conn_id="oac_t_redis_lock")
    monkeypatch.setenv("AIRFLOW_CONN_OAC_T_REDIS_LOCK", "redis://127.0.0.1:6379/0")
    accepted = OACHook("oac_t_lockconn").create_snapshot("off-loop", "Snapshot-Pa55word!")
    forget_process_cache()
    loaded_on: dict[str, int] = {}
    real_load = oac.load_connection

    def load_connection(conn_id: str):
        loaded_on[conn_id] = threading.get_ident()
        return real_load(conn_id)

    monkeypatch.setattr(oac, "load_connection", load_connection)
    trigger = OACWorkRequestTrigger(accepted.work_request_id, "oac_t_lockconn", poll_interval=0.2)

    async def run():
        loop_thread = threading.get_ident()
        async for event in trigger.run():
            return loop_thread, event.payload
        raise AssertionError("no event")

    loop_thread, event = asyncio.run(run())
    assert event["status"] == "succeeded", event
    assert set(loaded_on) == {"oac_t_lockconn", "oac_t_redis_lock"}
    assert loop_thread not in loaded_on.values(), "a connection was read on the event loop's thread"
