"""Time limits and kills in a real deployment (issue 15, item 3): API server, scheduler
(LocalExecutor), DAG processor and triggerer, the emulator holding every work request unfinished.

Four runs at once, each creating one snapshot: a wait in the worker and a deferred one, each with
``execution_timeout=LIMIT``; and one of each with a long limit that a person stops (marks the task
failed through the REST API: SIGTERM and ``on_kill`` in the worker, the trigger's ``on_kill`` on
Airflow 3.3). Each must end (the time-limited ones about LIMIT seconds after the task started),
log one line naming its work request and how to check on it, and keep its record: after the work
requests are let finish, clearing the tasks re-attaches, with no second POST.

Prints the figures docs/scale-out.md quotes ("Time limits and kills").
"""

from __future__ import annotations

import json
import re
import time
from datetime import datetime
from pathlib import Path

import pytest

from airflow_provider_oac.version_compat import AIRFLOW_V_3_3_PLUS
from tests.deployment import AirflowDeployment
from tests.test_real_scheduler import PASSWORD, cli_login

# serial: it measures when each wait ends (within a poll of its limit), so it runs alone after the
# parallel part of make test (see docs/development.md).
pytestmark = [pytest.mark.deployment, pytest.mark.serial, pytest.mark.timeout(1500)]

LIMIT = 20
POLL = 3

DAGS = f"""
from datetime import timedelta

from airflow.sdk import DAG

from airflow_provider_oac.operators.snapshot import OACCreateSnapshotOperator

for dag_id, deferrable, limit in [
    ("oac_limit_worker", False, {LIMIT}),
    ("oac_limit_deferred", True, {LIMIT}),
    ("oac_kill_worker", False, 900),
    ("oac_kill_deferred", True, 900),
]:
    with DAG(dag_id, schedule=None, catchup=False) as dag:
        OACCreateSnapshotOperator(
            task_id="backup",
            name=dag_id.replace("_", "-"),
            password="{{{{ var.value.oac_snapshot_password }}}}",
            poll_interval={POLL},
            deferrable=deferrable,
            execution_timeout=timedelta(seconds=limit),
            retries=0,
        )
    globals()[dag_id] = dag
"""

LIMITED = ("oac_limit_worker", "oac_limit_deferred")
KILLED = ("oac_kill_worker", "oac_kill_deferred")
STOPPED = re.compile(r'"timestamp":"([^"]+)"[^\n]*?(Stopped waiting for OAC work request [^\n]*)')


def task_instance(deployment: AirflowDeployment, dag_id: str, run_id: str) -> dict:
    return deployment.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/backup")


def wait_for_state(deployment, dag_id, run_id, states, timeout=300) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ti = task_instance(deployment, dag_id, run_id)
        if ti["state"] in states:
            return ti
        time.sleep(0.5)
    raise AssertionError(
        f"{dag_id}: {ti['state']}, not {states}\n{deployment.component_log('scheduler')[-2000:]}"
    )


def task_logs(home: Path, dag_id: str) -> str:
    return "\n".join(
        p.read_text(errors="replace")
        for p in sorted((home / "logs").rglob("*"))
        if p.is_file() and f"dag_id={dag_id}" in str(p)
    )


def execute_started(home: Path, dag_id: str) -> float:
    """When the first try's ``execute`` began: the end of its "Pre Execute" group (DAG parsing
    before it can take seconds on a busy machine, and counts towards neither limit)."""
    (log,) = (home / "logs").rglob(f"dag_id={dag_id}/*/task_id=backup/attempt=1.log")
    for line in log.read_text().splitlines():
        if '"event":"::endgroup::' in line:
            return datetime.fromisoformat(json.loads(line)["timestamp"].replace("Z", "+00:00")).timestamp()
    raise AssertionError(f"no execute in {log}")


def seconds(ti: dict) -> float:
    return (datetime.fromisoformat(ti["end_date"]) - datetime.fromisoformat(ti["start_date"])).total_seconds()


def test_time_limits_and_kills_end_the_wait_keep_the_record_and_reruns_reattach(emulator, tmp_path):
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "oac_limits.py").write_text(DAGS)
    home = tmp_path / "home"
    deployment = AirflowDeployment(
        home, dags_folder=dags, env={"AIRFLOW_PROVIDER_OAC_STATE_DIR": str(tmp_path / "state")}
    )
    deployment.airflow("db", "migrate", timeout=600)
    cli_login(deployment, emulator)
    deployment.airflow("variables", "set", "oac_snapshot_password", PASSWORD)
    # Every snapshot's work request stays IN_PROGRESS until released.
    emulator.control.add_fault(
        "POST /api/20210901/snapshots", "stuck_work_request", times=len(LIMITED + KILLED)
    )
    figures: dict[str, dict] = {dag_id: {} for dag_id in LIMITED + KILLED}
    with deployment:
        for dag_id in LIMITED + KILLED:
            deployment.wait_for_dag(dag_id, timeout=300)
        runs = {dag_id: deployment.trigger(dag_id) for dag_id in LIMITED + KILLED}

        # The kills: once OAC accepted the work, a person marks the task failed.
        for dag_id in KILLED:
            deadline = time.monotonic() + 300
            while "OAC accepted the request" not in task_logs(home, dag_id):
                assert time.monotonic() < deadline, f"{dag_id} never posted"
                time.sleep(0.5)
            wait_for_state(deployment, dag_id, runs[dag_id], {"running", "deferred"})
            time.sleep(2 * POLL)  # waiting: polls in the worker, or deferred to the triggerer
            marked = time.time()
            deployment.api(
                "PATCH",
                f"/dags/{dag_id}/dagRuns/{runs[dag_id]}/taskInstances/backup",
                json={"new_state": "failed"},
            )
            figures[dag_id]["marked_failed_at"] = marked

        for dag_id in LIMITED + KILLED:
            ti = wait_for_state(deployment, dag_id, runs[dag_id], {"failed", "success"}, timeout=600)
            assert ti["state"] == "failed", (dag_id, ti)
            figures[dag_id]["task_seconds"] = round(seconds(ti), 1)
            figures[dag_id]["start_date"] = ti["start_date"]
            figures[dag_id]["end_date"] = ti["end_date"]
        # The record's line reaches the task log once the process ended; give the log a moment.
        time.sleep(5)
        found = {dag_id: STOPPED.findall(task_logs(home, dag_id)) for dag_id in LIMITED + KILLED}
        stopped = {dag_id: [line for _, line in hits] for dag_id, hits in found.items()}
        created = emulator.control.counters()["snapshots_created"]

        # OAC finishes the work; clearing each task waits for its work request again, no new POST.
        assert emulator.control.release_work_requests() == len(LIMITED + KILLED)
        for dag_id in LIMITED + KILLED:
            deployment.api(
                "POST",
                f"/dags/{dag_id}/clearTaskInstances",
                json={
                    "dry_run": False,
                    "dag_run_id": runs[dag_id],
                    "task_ids": ["backup"],
                    "reset_dag_runs": True,
                },
            )
        reruns = {
            dag_id: wait_for_state(deployment, dag_id, runs[dag_id], {"success", "failed"}, timeout=600)
            for dag_id in runs
        }
        logs = {dag_id: task_logs(home, dag_id) for dag_id in runs}

    for dag_id in LIMITED + KILLED:
        assert stopped[dag_id], f"{dag_id}: no 'Stopped waiting' line\n{logs[dag_id][-3000:]}"
    for dag_id in LIMITED:
        # Ends about LIMIT s after execute began (Airflow's start_date is earlier: the DAG file's parse).
        assert LIMIT - 1 <= figures[dag_id]["task_seconds"] <= LIMIT + 60, (dag_id, figures[dag_id])
        assert "execution_timeout" in stopped[dag_id][0]
    assert "the task was killed" in stopped["oac_kill_worker"][0]
    if AIRFLOW_V_3_3_PLUS:  # BaseTrigger.on_kill
        assert "stopped by a user while deferred" in stopped["oac_kill_deferred"][0]
    for dag_id in runs:
        line = stopped[dag_id][0]
        assert "airflow-oac snapshots wait" in line and "--conn-id oac_default" in line, line
        assert {r["state"] for r in [reruns[dag_id]]} == {"success"}, (dag_id, logs[dag_id][-3000:])
        assert "Re-attaching to work request" in logs[dag_id], dag_id
    counters = emulator.control.counters()
    assert created == len(runs)
    assert counters["snapshots_created"] == len(runs), "a rerun posted again"
    for dag_id in runs:
        figure = figures[dag_id]
        start = datetime.fromisoformat(figure.pop("start_date")).timestamp()
        end = datetime.fromisoformat(figure.pop("end_date")).timestamp()
        line_at = datetime.fromisoformat(found[dag_id][0][0].replace("Z", "+00:00")).timestamp()
        executed = execute_started(home, dag_id)
        figure["startup_before_execute_s"] = round(executed - start, 1)
        figure["wait_ended_after_execute_s"] = round(line_at - executed, 1)
        figure["task_ended_after_execute_s"] = round(end - executed, 1)
        if "marked_failed_at" in figure:
            marked = figure.pop("marked_failed_at")
            figure["wait_ended_after_mark_s"] = round(line_at - marked, 1)
            figure["task_ended_after_mark_s"] = round(end - marked, 1)
        figure["line"] = stopped[dag_id][0][:150]
    for dag_id in LIMITED:
        # execution_timeout counts from execute (both modes): the wait ends then, give or take a poll.
        assert LIMIT - 1 <= figures[dag_id]["wait_ended_after_execute_s"] <= LIMIT + POLL + 2, figures[dag_id]
    print("time limit figures:", json.dumps({"limit_s": LIMIT, "poll_interval_s": POLL, **figures}))
