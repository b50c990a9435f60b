"""Time limits and kills in a deployment (issue 15, item 3): the four DAGs, the four runs and their
figures, shared by ``tests/test_time_limits_deployment.py`` (LocalExecutor) and the ``time_limits``
scenario of ``bench/celery_deployment.py`` (CeleryExecutor).

Four runs at once, each creating one snapshot while the emulator holds every work request
unfinished: a wait in the worker and a deferred one, each with ``execution_timeout=LIMIT``; and one
of each with a long limit that a person stops (marks the task failed through the REST API).
After the waits ended, the work requests are let finish and the tasks cleared: each must
re-attach to its work request, with no second POST.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

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
#: Why the wait ended, from a "Stopped waiting" line.
WHY = re.compile(r"Stopped waiting for OAC work request \S+(?: on \S+)? \((.*?)\)\. OAC has no call")
ACCEPTED = "OAC accepted the request"


def task_instance(deployment: Any, dag_id: str, run_id: str) -> dict:
    return deployment.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/backup")


def wait_for_state(deployment: Any, dag_id: str, run_id: str, states: set[str], timeout: float = 300) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ti = task_instance(deployment, dag_id, run_id)
        if ti["state"] in states:
            return ti
        time.sleep(0.5)
    raise AssertionError(
        f"{dag_id}: {ti['state']}, not {states}\n{deployment.component_log('scheduler')[-2000:]}"
    )


def log_files(homes: Sequence[Path], dag_id: str) -> list[Path]:
    """``dag_id``'s task logs (the triggerer's included) under every AIRFLOW_HOME in ``homes``."""
    return [
        p
        for home in homes
        for p in sorted((home / "logs").rglob("*"))
        if p.is_file() and f"dag_id={dag_id}" in str(p)
    ]


def task_logs(homes: Sequence[Path], dag_id: str) -> str:
    return "\n".join(p.read_text(errors="replace") for p in log_files(homes, dag_id))


def execute_started(homes: Sequence[Path], dag_id: str) -> float:
    """When the first try's ``execute`` began: the end of its "Pre Execute" group (DAG parsing
    before it can take seconds on a busy machine, and counts towards neither limit). The earliest
    of them: with Celery, a deferred task can resume on another host, in a file of the same name."""
    logs = [p for p in log_files(homes, dag_id) if p.name == "attempt=1.log"]
    starts = [
        timestamp(json.loads(line)["timestamp"])
        for log in logs
        for line in log.read_text().splitlines()
        if '"event":"::endgroup::' in line
    ]
    if not starts:
        raise AssertionError(f"no execute in {logs}")
    return min(starts)


def timestamp(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def seconds(ti: dict) -> float:
    return (datetime.fromisoformat(ti["end_date"]) - datetime.fromisoformat(ti["start_date"])).total_seconds()


@dataclass
class FourRuns:
    """What :func:`four_runs` saw. ``found``: each run's "Stopped waiting" lines, ``(timestamp,
    line)``, earliest first; ``created``: snapshots the emulator created while the waits were
    held, ``created_after_clear``: the same once the cleared tasks finished (no more: no second
    POST); ``figures``: per run, the seconds docs/scale-out.md quotes (see :func:`measure`)."""

    runs: dict[str, str]
    figures: dict[str, dict[str, Any]]
    found: dict[str, list[tuple[str, str]]]
    created: int
    created_after_clear: int
    released: int
    reruns: dict[str, dict]
    logs: dict[str, str]

    @property
    def stopped(self) -> dict[str, list[str]]:
        return {dag_id: [line for _, line in hits] for dag_id, hits in self.found.items()}


def four_runs(deployment: Any, control: Any, homes: Sequence[Path]) -> FourRuns:
    """The four runs in a started ``deployment`` whose DAGs folder holds :data:`DAGS`, against the
    emulator ``control`` drives; ``homes``: every AIRFLOW_HOME that holds task logs (the
    triggerer's and each worker's)."""
    c0 = control.counters()["snapshots_created"]
    # Every snapshot's work request stays IN_PROGRESS until released.
    control.add_fault("POST /api/20210901/snapshots", "stuck_work_request", times=len(LIMITED + KILLED))
    figures: dict[str, dict[str, Any]] = {dag_id: {} for dag_id in LIMITED + KILLED}
    for dag_id in LIMITED + KILLED:
        deployment.wait_for_dag(dag_id, timeout=300)
    runs = {dag_id: deployment.trigger(dag_id) for dag_id in LIMITED + KILLED}

    # The kills: once OAC accepted the work, a person marks the task failed.
    for dag_id in KILLED:
        deadline = time.monotonic() + 300
        while ACCEPTED not in task_logs(homes, dag_id):
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
    found = {dag_id: sorted(STOPPED.findall(task_logs(homes, dag_id))) for dag_id in LIMITED + KILLED}
    created = control.counters()["snapshots_created"] - c0

    # OAC finishes the work; clearing each task waits for its work request again, no new POST.
    released = control.release_work_requests()
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
    return FourRuns(
        runs=runs,
        figures=figures,
        found=found,
        created=created,
        created_after_clear=control.counters()["snapshots_created"] - c0,
        released=released,
        reruns=reruns,
        logs={dag_id: task_logs(homes, dag_id) for dag_id in runs},
    )


def measure(outcome: FourRuns, homes: Sequence[Path]) -> None:
    """Turn ``outcome.figures`` into seconds from ``execute``'s start (and from the mark, for the
    kills): when the wait ended (its "Stopped waiting" line; None without one) and when the task
    failed; plus the line's start."""
    for dag_id in outcome.runs:
        figure = outcome.figures[dag_id]
        start = datetime.fromisoformat(figure.pop("start_date")).timestamp()
        end = datetime.fromisoformat(figure.pop("end_date")).timestamp()
        hits = outcome.found[dag_id]
        line_at = timestamp(hits[0][0]) if hits else None
        executed = execute_started(homes, dag_id)
        figure["startup_before_execute_s"] = round(executed - start, 1)
        figure["wait_ended_after_execute_s"] = None if line_at is None else round(line_at - executed, 1)
        figure["task_ended_after_execute_s"] = round(end - executed, 1)
        if "marked_failed_at" in figure:
            marked = figure.pop("marked_failed_at")
            figure["wait_ended_after_mark_s"] = None if line_at is None else round(line_at - marked, 1)
            figure["task_ended_after_mark_s"] = round(end - marked, 1)
        figure["line"] = hits[0][1][:150] if hits else None
