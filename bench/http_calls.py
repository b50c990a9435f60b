"""How many HTTP calls does one create-and-wait, and one restore-and-wait, cost? Target: no call
beyond the minimum: one POST, the polls the poll interval implies, and (create) the one lookup of
the new snapshot's id.

    .venv/bin/python bench/http_calls.py [--work-seconds 2.5] [--poll-interval 1.0]

Starts its own emulator and a temporary AIRFLOW_HOME, logs in, and runs each path against work
requests that take ``--work-seconds`` (emulator time), counting every request in the emulator's
own request log: the hook (sync client), the async client the trigger uses, and the operators in
real DAG runs (``dag.test()``), waiting in the worker and deferred to the trigger.

A poller that polls at once and then every ``I`` seconds sees a work request of ``D`` seconds end
on poll ``1 + ceil(D / I)``: that is the minimum number of polls. A deferred wait starts polling a
little later (the task defers first), so it may need one poll fewer.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _env  # sets up AIRFLOW_HOME before Airflow is imported

API = "/api/20210901"
PASSWORD = "Bench-Snapshot-Pa55word"
CONN_ID = "oac_default"


def kind(entry: dict[str, Any]) -> str:
    method, path = entry["method"], entry["path"]
    if path == "/iam/oauth2/v1/token":
        return "token"
    if method == "POST" and path in (f"{API}/snapshots", f"{API}/system/actions/restoreSnapshot"):
        return "post"
    if method == "GET" and path.lower().startswith(f"{API}/workrequests/"):
        return "poll"
    if method == "GET" and path == f"{API}/snapshots":
        return "list"
    if method == "GET" and path.startswith(f"{API}/snapshots/"):
        return "get"
    return f"{method} {path}"


class Counted:
    """Counts, by kind, the requests the emulator logs while the block runs."""

    def __init__(self, emulator: Any):
        self.emulator = emulator
        self.counts: Counter[str] = Counter()
        self.seconds = 0.0

    def __enter__(self) -> Counted:
        from airflow_provider_oac.hooks.token_manager import forget_process_cache

        forget_process_cache()  # each path starts like a fresh worker: tokens from the store only
        self._start = len(self.emulator.control.request_log())
        self._t0 = time.monotonic()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.monotonic() - self._t0
        log = self.emulator.control.request_log()[self._start :]
        self.counts = Counter(kind(entry) for entry in log)


def snapshot_to_restore(emulator: Any, name: str) -> str:
    from airflow_provider_oac.hooks.oac import OACHook

    hook = OACHook(CONN_ID)
    accepted = hook.create_snapshot(name, PASSWORD)
    work_request = hook.wait_for_work_request(accepted.work_request_id, poll_interval=0.5)
    return hook.client.find_created_snapshot(name, work_request).id


# --- the paths -----------------------------------------------------------------------------------


def hook_create(emulator: Any, interval: float) -> Counted:
    from airflow_provider_oac.hooks.oac import OACHook

    with Counted(emulator) as counted:
        hook = OACHook(CONN_ID)
        accepted = hook.create_snapshot("bench-hook-create", PASSWORD)
        work_request = hook.wait_for_work_request(accepted.work_request_id, poll_interval=interval)
        hook.client.find_created_snapshot("bench-hook-create", work_request)
    return counted


def hook_restore(emulator: Any, interval: float, snapshot_id: str) -> Counted:
    from airflow_provider_oac.hooks.oac import OACHook

    with Counted(emulator) as counted:
        hook = OACHook(CONN_ID)
        accepted = hook.restore_snapshot(snapshot_id, PASSWORD)
        hook.wait_for_work_request(accepted.work_request_id, poll_interval=interval)
    return counted


def async_create(emulator: Any, interval: float) -> Counted:
    from airflow_provider_oac.hooks.oac import OACHook

    async def run() -> None:
        hook = OACHook(CONN_ID)
        async with await hook.aget_async_client() as client:
            accepted = await client.create_snapshot("bench-async-create", PASSWORD, hook.storage_spec())
            work_request = await client.wait_for_work_request(
                accepted.work_request_id, poll_interval=interval
            )
            await client.find_created_snapshot("bench-async-create", work_request)

    with Counted(emulator) as counted:
        asyncio.run(run())
    return counted


def async_restore(emulator: Any, interval: float, snapshot_id: str) -> Counted:
    from airflow_provider_oac.hooks.oac import OACHook

    async def run() -> None:
        async with await OACHook(CONN_ID).aget_async_client() as client:
            accepted = await client.restore_snapshot(snapshot_id, PASSWORD)
            await client.wait_for_work_request(accepted.work_request_id, poll_interval=interval)

    with Counted(emulator) as counted:
        asyncio.run(run())
    return counted


IMPORTS = f"""
from airflow_provider_oac.operators.snapshot import OACCreateSnapshotOperator, OACRestoreSnapshotOperator
PASSWORD = {PASSWORD!r}
"""


def dag_run(emulator: Any, dag_id: str, task: str) -> Counted:
    from airflow_provider_oac.testing import write_dag

    dag = write_dag(dag_id, task, imports=IMPORTS)
    with Counted(emulator) as counted:
        run = dag.test()
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    if set(states.values()) != {"success"}:
        raise RuntimeError(f"{dag_id}: {states}")
    return counted


def operator_create(emulator: Any, interval: float, deferrable: bool) -> Counted:
    suffix = "deferred" if deferrable else "sync"
    return dag_run(
        emulator,
        f"bench_http_create_{suffix}",
        f'OACCreateSnapshotOperator(task_id="create", name="bench-op-create-{suffix}", password=PASSWORD, '
        f"poll_interval={interval!r}, deferrable={deferrable!r})",
    )


def operator_restore(emulator: Any, interval: float, snapshot_id: str, deferrable: bool) -> Counted:
    suffix = "deferred" if deferrable else "sync"
    return dag_run(
        emulator,
        f"bench_http_restore_{suffix}",
        f'OACRestoreSnapshotOperator(task_id="restore", snapshot_id={snapshot_id!r}, password=PASSWORD, '
        f"poll_interval={interval!r}, deferrable={deferrable!r})",
    )


# --- the table -----------------------------------------------------------------------------------


def row(path: str, operation: str, counted: Counted, minimum_polls: int) -> tuple[list[object], int]:
    c = counted.counts
    lookups = c["get"] + c["list"]
    needed_lookups = 1 if operation == "create" else 0
    minimum = 1 + minimum_polls + needed_lookups
    oac_total = sum(n for k, n in c.items() if k != "token")
    others = sorted(k for k in c if k not in ("token", "post", "poll", "get", "list"))
    extra = oac_total - minimum
    extra_text = f"+{extra}" if extra > 0 else str(extra)
    if others:
        extra_text += f" ({', '.join(others)})"
    cells: list[object] = [
        f"{operation}: {path}",
        c["post"],
        c["poll"],
        f"{lookups} ({c['list']} list, {c['get']} get)",
        oac_total,
        minimum,
        extra_text,
        c["token"],
    ]
    return cells, max(extra, 0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work-seconds", type=float, default=2.5, help="work request duration")
    parser.add_argument("--poll-interval", type=float, default=1.0, help="poll interval, seconds")
    args = parser.parse_args()
    work, interval = args.work_seconds, args.poll_interval

    _env.airflow_home("http")
    from airflow_provider_oac.emulator import EmulatorConfig, EmulatorServer
    from airflow_provider_oac.testing import login

    minimum_polls = 1 + math.ceil(work / interval)
    rows: list[list[object]] = []
    extras: list[tuple[str, int]] = []
    with EmulatorServer(EmulatorConfig(work_request_seconds=work)) as emulator:
        login(emulator, CONN_ID)
        emulator.control.configure(work_request_seconds=work)
        target = snapshot_to_restore(emulator, "bench-restore-source")
        paths = [
            ("hook (sync client)", "create", lambda: hook_create(emulator, interval)),
            ("hook (sync client)", "restore", lambda: hook_restore(emulator, interval, target)),
            ("async client (trigger's)", "create", lambda: async_create(emulator, interval)),
            ("async client (trigger's)", "restore", lambda: async_restore(emulator, interval, target)),
            ("operator, waits in worker", "create", lambda: operator_create(emulator, interval, False)),
            (
                "operator, waits in worker",
                "restore",
                lambda: operator_restore(emulator, interval, target, False),
            ),
            ("operator, deferrable", "create", lambda: operator_create(emulator, interval, True)),
            ("operator, deferrable", "restore", lambda: operator_restore(emulator, interval, target, True)),
        ]
        for path, operation, run in paths:
            cells, extra = row(path, operation, run(), minimum_polls)
            rows.append(cells)
            extras.append((f"{operation}: {path}", extra))
    _env.print_table(
        "HTTP calls per create-and-wait and restore-and-wait (emulator request log)",
        ["path", "POST", "polls", "lookups", "OAC calls", "minimum", "extra", "token calls"],
        rows,
        note=(
            f"work request {work:g} s, poll interval {interval:g} s: minimum = 1 POST + "
            f"{minimum_polls} polls (1 + ceil({work:g}/{interval:g})) + 1 id lookup for create. "
            "Token calls: IAM token endpoint (each path starts like a fresh worker)."
        ),
    )
    over = [name for name, extra in extras if extra]
    met = _env.verdict("no call beyond the minimum", not over, ", ".join(over) or "every path")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
