"""The triggerer refreshing tokens through Variables, under the installed Airflow's real comms.

A create snapshot waits in the worker, then a restore with a safety snapshot waits twice in the
triggerer while access tokens live 8 s, so each trigger refreshes several times: it reads and
writes the token Variable and reads the connection from the event loop's side of Airflow's
triggerer comms (``sync_to_async`` before 3.3). Reuse detection is on, so one stale refresh
token (a failed Variable read taken for "no record") revokes the login and fails the run.

Meant for every supported Airflow (``make compat`` runs it in each version's venv). Failed
before the version gates on: 3.0.6 (SecretCache import), 3.1.8 (``Connection ... does not
exist`` when ``execute_complete`` resumed), 3.2.2 (token reads from ``asyncio.to_thread``).
"""

from __future__ import annotations

import textwrap

import pytest

from tests.deployment import AirflowDeployment
from tests.test_real_scheduler import PASSWORD, cli_login

pytestmark = [pytest.mark.scheduler, pytest.mark.timeout(900)]

DAG = """
from datetime import datetime

from airflow.sdk import dag

from airflow_provider_oac.operators.snapshot import OACCreateSnapshotOperator, OACRestoreSnapshotOperator


@dag(dag_id="oac_compat_trigger", schedule=None, start_date=datetime(2026, 1, 1), catchup=False)
def oac_compat_trigger():
    create = OACCreateSnapshotOperator(
        task_id="create",
        name="compat-{{ run_id[-12:] }}",
        password="{{ var.value.oac_snapshot_password }}",
        poll_interval=2,
        deferrable=False,
    )
    restore = OACRestoreSnapshotOperator(
        task_id="restore",
        snapshot_name="compat-{{ run_id[-12:] }}",
        safety_snapshot_name="safety-{{ run_id[-12:] }}",
        password="{{ var.value.oac_snapshot_password }}",
        poll_interval=2,
        deferrable=True,
    )
    create >> restore


oac_compat_trigger()
"""


def test_triggers_refresh_through_variables_on_this_airflow(emulator, tmp_path):
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "oac_compat_trigger.py").write_text(textwrap.dedent(DAG))
    deployment = AirflowDeployment(
        tmp_path / "home",
        dags_folder=dags,
        env={
            "AIRFLOW_PROVIDER_OAC_STATE_DIR": str(tmp_path / "state"),
            # 3.0.6's API server loses its uvicorn worker processes with more than one here.
            "AIRFLOW__API__WORKERS": "1",
        },
        parallelism=4,
    )
    deployment.airflow("db", "migrate", timeout=300)
    cli_login(deployment, emulator)
    deployment.airflow("variables", "set", "oac_snapshot_password", PASSWORD)
    # After the login: short access tokens, long work requests, and a revoked login for any
    # refresh token presented twice.
    emulator.control.configure(access_token_ttl=8, work_request_seconds=30, reuse_detection=True)
    with deployment:
        deployment.wait_for_dag("oac_compat_trigger")
        run_id = deployment.trigger("oac_compat_trigger")
        states = deployment.wait_for_runs("oac_compat_trigger", [run_id], timeout=600)
        tasks = deployment.task_states("oac_compat_trigger", run_id)
    logs = {
        str(path): path.read_text(errors="replace")
        for path in deployment.log_files()
        if "/logs/dag_id=" in str(path)
    }
    trigger_logs = [text for place, text in logs.items() if ".trigger." in place]
    detail = "\n".join(f"--- {place}\n{text[-2500:]}" for place, text in sorted(logs.items()))
    assert states == {run_id: "success"}, (
        f"{tasks}\n{detail}\n{deployment.component_log('triggerer')[-4000:]}"
    )
    counters = emulator.control.counters()
    assert counters["spent_refresh_token_presentations"] == 0, counters
    assert counters["snapshots_created"] == 2, counters  # the snapshot and the safety snapshot
    assert counters["restores_started"] == 1, counters
    # Two waits of about 30 s in the triggerer with 8 s tokens: the triggers refreshed (the worker
    # segments are short and could account for a few at most).
    assert counters["refreshes"] >= 6, counters
    # Both waits were deferred (the safety snapshot's and the restore's) and ended well.
    restore_log = next(
        text for place, text in logs.items() if place.endswith("task_id=restore/attempt=1.log")
    )
    assert restore_log.count("Pausing task as DEFERRED") == 2, restore_log[-3000:]
    assert trigger_logs and all("'status': 'error'" not in text for text in trigger_logs), trigger_logs
