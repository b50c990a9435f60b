"""A dead login fails every OAC task once, without retries; a token-endpoint outage is retried.

Real DAG runs (``dag.test()``, retries honoured) against the emulator.
"""

from __future__ import annotations

import pytest

from airflow_provider_oac.auth.flows import revoke_refresh_token
from airflow_provider_oac.auth.protocol import IAMEndpoints
from airflow_provider_oac.hooks.oac import OACHook
from airflow_provider_oac.hooks.token_manager import forget_process_cache
from tests.helpers import console_text, login, stored_work_records, write_dag

pytestmark = pytest.mark.usefixtures("airflow_db")

DAY = 24 * 3600.0

IMPORTS = """
from airflow_provider_oac.operators.keepalive import OACKeepAliveOperator
from airflow_provider_oac.operators.snapshot import OACCreateSnapshotOperator
from airflow_provider_oac.sensors.work_request import OACWorkRequestSensor
"""

#: One of each kind of OAC task, all on the connection oac_dead.
TASKS = """
OACKeepAliveOperator(task_id="keep_alive", oac_conn_id="oac_dead")
OACCreateSnapshotOperator(
    task_id="backup", oac_conn_id="oac_dead", name="nightly", password="Snapshot-Pa55word!", poll_interval=0.2
)
OACWorkRequestSensor(task_id="wait", oac_conn_id="oac_dead", work_request_id="wr-0001", poke_interval=0.2)
"""


@pytest.fixture(autouse=True)
def state_dir(tmp_path, monkeypatch, emulator):
    monkeypatch.setenv("AIRFLOW_PROVIDER_OAC_STATE_DIR", str(tmp_path / "state"))
    forget_process_cache()
    login(emulator, "oac_dead")
    yield
    forget_process_cache()


def tries(run) -> dict[str, tuple[str, int]]:
    return {ti.task_id: (ti.state, ti.try_number) for ti in run.get_task_instances()}


def test_an_expired_login_fails_each_task_once_with_the_command_to_run(emulator, capfd):
    emulator.control.advance_clock(8 * DAY)  # past IAM's 7-day refresh-token lifetime
    run = write_dag("oac_test_dead_login", TASKS, retries=3, imports=IMPORTS).test()
    assert tries(run) == {"keep_alive": ("failed", 1), "backup": ("failed", 1), "wait": ("failed", 1)}
    out = console_text(capfd.readouterr().out)
    line = "OAC login of connection 'oac_dead' has expired or was revoked"
    assert out.count(line) >= 3
    assert "run airflow-oac login --conn-id oac_dead" in out
    assert emulator.control.counters()["snapshots_created"] == 0


def test_a_revoked_login_fails_without_retries(emulator, capfd):
    hook = OACHook("oac_dead")
    config = hook.config
    # What airflow-oac logout does at IAM, from another machine: the stored token is revoked.
    import requests

    with requests.Session() as session:
        assert revoke_refresh_token(
            session, IAMEndpoints.for_domain(config.iam_url), config.client_id, config.refresh_token
        )
    run = write_dag(
        "oac_test_revoked",
        'OACKeepAliveOperator(task_id="keep_alive", oac_conn_id="oac_dead")',
        retries=3,
        imports=IMPORTS,
    ).test()
    assert tries(run) == {"keep_alive": ("failed", 1)}
    assert "airflow-oac login --conn-id oac_dead" in capfd.readouterr().out


def test_a_token_endpoint_failure_is_retried_by_airflow_not_taken_for_a_dead_login(emulator, capfd):
    # HTTP 500 on every refresh: the token may have been spent, so it is not resent in the same
    # try; each task fails temporarily and Airflow retries it once.
    emulator.control.add_fault("POST /iam/oauth2/v1/token", "status", status=500, times=100)
    run = write_dag("oac_test_iam_down", TASKS, retries=1, imports=IMPORTS).test()
    assert tries(run) == {"keep_alive": ("failed", 2), "backup": ("failed", 2), "wait": ("failed", 2)}
    out = console_text(capfd.readouterr().out)
    assert "may have spent the one-time refresh token" in out
    assert "has expired or was revoked" not in out


def test_after_an_outage_the_retry_succeeds(emulator):
    emulator.control.add_fault("POST /iam/oauth2/v1/token", "status", status=500, times=1)
    run = write_dag(
        "oac_test_iam_blip",
        'OACKeepAliveOperator(task_id="keep_alive", oac_conn_id="oac_dead")',
        retries=1,
        imports=IMPORTS,
    ).test()
    assert tries(run) == {"keep_alive": ("success", 2)}


def test_a_login_that_dies_while_deferred_fails_the_task_once_and_keeps_the_work_record(emulator, capfd):
    OACHook("oac_dead").get_access_token()  # the task starts with a fresh access token...
    emulator.control.configure(work_request_seconds=60)
    # ...then, in the trigger, OAC rejects it (401) and IAM refuses the refresh: the login is gone.
    emulator.control.add_fault("GET /api/20210901/workRequests/*", "expire_token", times=1)
    emulator.control.add_fault("POST /iam/oauth2/v1/token", "status", status=400, code="invalid_grant")
    run = write_dag(
        "oac_test_dead_deferred",
        """
        OACCreateSnapshotOperator(
            task_id="backup", oac_conn_id="oac_dead", name="deferred", password="Snapshot-Pa55word!",
            poll_interval=0.2, deferrable=True,
        )
        """,
        retries=3,
        imports=IMPORTS,
    ).test()
    assert tries(run) == {"backup": ("failed", 1)}
    assert "airflow-oac login --conn-id oac_dead" in capfd.readouterr().out
    assert emulator.control.counters()["snapshots_created"] == 1
    # OAC carries on: the work record stays, so after a new login, clearing the task waits for the
    # same work request instead of starting a second snapshot.
    assert list(stored_work_records(run, "backup")) == ["oac_work"]


def test_a_deferred_sensor_whose_login_dies_fails_once(emulator, capfd, caplog):
    emulator.control.configure(work_request_seconds=60)
    hook = OACHook("oac_dead")
    accepted = hook.create_snapshot("elsewhere", "Snapshot-Pa55word!")
    # The sensor's first poke (in the worker) passes with the fresh token; the trigger's first poll
    # gets 401, and the refresh it makes is refused: the login dies while the sensor is deferred.
    emulator.control.add_fault("GET /api/20210901/workRequests/*", "delay", delay=0, times=1)
    emulator.control.add_fault("GET /api/20210901/workRequests/*", "expire_token", times=1)
    emulator.control.add_fault("POST /iam/oauth2/v1/token", "status", status=400, code="invalid_grant")
    run = write_dag(
        "oac_test_dead_deferred_sensor",
        f"""
        OACWorkRequestSensor(
            task_id="wait", oac_conn_id="oac_dead", work_request_id={accepted.work_request_id!r},
            poke_interval=0.2, deferrable=True,
        )
        """,
        retries=3,
        imports=IMPORTS,
    ).test()
    assert tries(run) == {"wait": ("failed", 1)}
    assert "airflow-oac login --conn-id oac_dead" in capfd.readouterr().out
    assert "running trigger in line" in caplog.text  # it was deferred when the login died
