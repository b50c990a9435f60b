"""How many times do concurrent tasks call IAM's token endpoint? Target: once per access-token
lifetime per connection, however many tasks, processes and hosts there are.

    .venv/bin/python bench/token_calls.py [--stress-seconds 52] [--no-stress]

Starts its own emulator (reuse detection on: a spent refresh token presented once revokes the
login) and a temporary AIRFLOW_HOME with a SQLite metadata database, then:

1. For 1, 10 and 50 tasks that all need a token at the same moment, within one access-token
   lifetime, counts token-endpoint calls (i) as threads of one process, (ii) as processes on one
   host, (iii) as processes with separate state directories (like separate hosts) and a
   PostgreSQL advisory lock (skipped with a note if PostgreSQL on 127.0.0.1:5432 is unreachable),
   and, for contrast, (iv) separate state directories without any shared lock. Every run starts
   from a fresh login, so the first task must refresh.
2. Stress: 20 task loops in 4 processes calling OAC through about 50 one-second access-token
   lifetimes, on one host and as separate hosts with the PostgreSQL lock.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import threading
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from airflow_provider_oac.testing import STATE_DIR_ENV, temporary_airflow_home

REPO = Path(__file__).resolve().parent.parent
# This bench drives the stress test's own worker processes and PostgreSQL helpers
# (tests/stress, tests/servers): the one bench that imports the test suite.
sys.path.insert(0, str(REPO))

TASK_COUNTS = (1, 10, 50)


class Bench:
    def __init__(self, emulator: Any, home: Path):
        self.emulator = emulator
        self.home = home
        self.runs = 0

    def new_login(self, prefix: str, **extra: Any) -> str:
        from airflow_provider_oac.testing import login

        self.runs += 1
        conn_id = f"bench_{prefix}_{self.runs}"
        login(self.emulator, conn_id, **extra)
        return conn_id

    def counted(self, run: Any) -> dict[str, Any]:
        """Run ``run()`` (which returns per-task tallies); the emulator's counter deltas."""
        before = self.emulator.control.counters()
        tallies = run()
        after = self.emulator.control.counters()
        delta = {name: after[name] - before[name] for name in after}
        delta["errors"] = sorted({e for t in tallies for e in t["errors"]})
        delta["tasks"] = len(tallies)
        delta["tasks_ok"] = sum(1 for t in tallies if not t["errors"])
        return delta

    # --- (i) threads of one process ---------------------------------------------------------------

    def threads(self, count: int) -> dict[str, Any]:
        from airflow_provider_oac.hooks.token_manager import forget_process_cache
        from tests.stress.worker import Tally, one_task

        os.environ[STATE_DIR_ENV] = str(self.home / "state-threads")
        conn_id = self.new_login("threads")
        forget_process_cache()
        barrier = threading.Barrier(count)
        tallies = [Tally() for _ in range(count)]

        def task(tally: Tally) -> None:
            barrier.wait()
            one_task(conn_id, tally, calls=1, pause=0)

        def run() -> list[dict[str, Any]]:
            workers = [threading.Thread(target=task, args=(t,)) for t in tallies]
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join()
            return [t.result() for t in tallies]

        return self.counted(run)

    # --- (ii), (iii) processes ----------------------------------------------------------------------

    def processes(
        self, count: int, *, separate_hosts: bool, lock_conn_id: str | None = None
    ) -> dict[str, Any]:
        from tests.stress.worker import forked_task

        conn_id = self.new_login("hosts" if separate_hosts else "procs", lock_conn_id=lock_conn_id)
        context = forkserver()
        barrier = context.Barrier(count)
        results = context.Queue()

        def state_dir(index: int) -> str:
            return str(self.home / (f"state-{conn_id}-host{index}" if separate_hosts else "state-one-host"))

        def run() -> list[dict[str, Any]]:
            procs = [
                context.Process(target=forked_task, args=(conn_id, state_dir(i), barrier, results))
                for i in range(count)
            ]
            for proc in procs:
                proc.start()
            tallies = [results.get(timeout=600) for _ in procs]
            for proc in procs:
                proc.join()
            return tallies

        return self.counted(run)


_forkserver: Any = None


def forkserver() -> Any:
    """A multiprocessing context whose server process imported Airflow and the hook once, so
    each task process starts in milliseconds (started after the environment is set)."""
    global _forkserver
    if _forkserver is None:
        import multiprocessing

        _forkserver = multiprocessing.get_context("forkserver")
        _forkserver.set_forkserver_preload(
            [
                "airflow.models.connection",
                "airflow.models.variable",
                "airflow_provider_oac.hooks.oac",
                "airflow_provider_oac.hooks.token_manager",
                "airflow_provider_oac.client.sync",
                "tests.stress.worker",
                "psycopg2",
            ]
        )
    return _forkserver


def cell(result: dict[str, Any] | None) -> str:
    if result is None:
        return "skipped"
    refreshes = result["refreshes"]
    notes = [f"{refreshes} refresh{'es' if refreshes != 1 else ''}"]
    if result["spent_refresh_token_presentations"]:
        notes.append(f"{result['spent_refresh_token_presentations']} spent")
    if result["revoked_logins"]:
        notes.append("login revoked")
    failed = result["tasks"] - result["tasks_ok"]
    if failed:
        notes.append(f"{failed} task{'' if failed == 1 else 's'} failed")
    return f"{result['token_requests']} ({', '.join(notes)})"


def print_table(rows: dict[int, list[dict[str, Any] | None]], lock_note: str | None) -> None:
    headers = [
        "tasks",
        "(i) threads, 1 process",
        "(ii) processes, 1 host",
        "(iii) separate hosts + PG lock",
        "(iv) separate hosts, no lock",
    ]
    lines = [[str(n), *(cell(r) for r in results)] for n, results in rows.items()]
    widths = [max(len(row[i]) for row in [headers, *lines]) for i in range(len(headers))]
    print("\nToken-endpoint calls for N tasks needing a token at once, within one access-token lifetime")
    print("(emulator token_requests; target: 1. Column (iv) shows why hosts need the lock: with reuse")
    print("detection, every spent refresh token presented revokes the whole login.)\n")
    for row in [headers, ["-" * w for w in widths], *lines]:
        print("  ".join(value.ljust(width) for value, width in zip(row, widths, strict=True)).rstrip())
    if lock_note:
        print(f"\n(iii) skipped: {lock_note}")
    for n, results in rows.items():
        for column, result in zip(headers[1:4], results, strict=False):  # (iv) is expected to fail
            if result and result["errors"]:
                print(f"errors in {column} with {n} tasks: {result['errors'][:3]}")


def state_dirs(home: Path, conn_id: str, *, separate: bool, extra: dict[str, str]) -> Any:
    """Worker i's environment: one state directory for all (one host) or one each (hosts)."""

    def env(index: int) -> dict[str, str]:
        state = home / (f"state-{conn_id}-host{index}" if separate else f"state-{conn_id}")
        return {**extra, STATE_DIR_ENV: str(state)}

    return env


def stress(bench: Bench, seconds: float, lock: Any | None) -> None:
    from tests.stress.harness import run_stress

    ttl = 1.0
    bench.emulator.control.configure(access_token_ttl=ttl)
    variants: list[tuple[str, dict[str, str], str | None]] = [("one host, shared state dir", {}, None)]
    if lock is not None:
        variants.append(("separate state dirs + PostgreSQL advisory lock", lock.airflow_env(), lock.conn_id))
    print(f"\nStress: 20 task loops in 4 processes, {seconds:g} s of 1 s access tokens, reuse detection on")
    for title, lock_env, lock_conn_id in variants:
        conn_id = bench.new_login("stress", lock_conn_id=lock_conn_id)
        result = run_stress(
            bench.emulator.control,
            conn_id,
            processes=4,
            threads=5,
            seconds=seconds,
            access_token_ttl=ttl,
            log_dir=bench.home / f"logs-{conn_id}",
            env=state_dirs(bench.home, conn_id, separate=lock_conn_id is not None, extra=lock_env),
        )
        c = result.counters
        print(f"\n  {title}")
        print(
            f"    tasks {result.tasks}, processes {result.processes}, lifetimes covered {result.lifetimes:.0f}"
        )
        print(
            f"    refreshes {c['refreshes']} ({result.refreshes_per_lifetime:.2f} per lifetime), token requests "
            f"{c['token_requests']}, spent-token presentations {c['spent_refresh_token_presentations']}, "
            f"revoked logins {c['revoked_logins']}"
        )
        print(
            f"    task runs {result.total('tasks')}, OAC calls {result.total('calls')}, OAC 401s "
            f"{c['oac_unauthorized']}, failed calls {result.error_types() or 0}"
        )
    bench.emulator.control.configure(access_token_ttl=100.0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stress-seconds", type=float, default=52.0, help="length of each stress run")
    parser.add_argument("--no-stress", action="store_true", help="only the table")
    args = parser.parse_args()

    home = temporary_airflow_home("bench-home")
    from airflow_provider_oac.emulator import EmulatorConfig, EmulatorServer
    from tests.servers import postgres_lock_conn, postgres_user, temporary_database

    lock_note = None if postgres_user() is not None else "PostgreSQL is not reachable on 127.0.0.1:5432"
    started = time.monotonic()
    with EmulatorServer(EmulatorConfig(reuse_detection=True)) as emulator:
        bench = Bench(emulator, home)
        with temporary_database("bench_lock") if lock_note is None else nullcontext() as database:
            lock = postgres_lock_conn(*database, conn_id="bench_lock_pg") if database else None
            if lock is not None:
                os.environ.update(lock.airflow_env())  # before the forkserver starts
            rows: dict[int, list[dict[str, Any] | None]] = {}
            for count in TASK_COUNTS:
                rows[count] = [
                    bench.threads(count),
                    bench.processes(count, separate_hosts=False),
                    bench.processes(count, separate_hosts=True, lock_conn_id=lock.conn_id) if lock else None,
                    bench.processes(count, separate_hosts=True),
                ]
            print_table(rows, lock_note)
            if not args.no_stress:
                stress(bench, args.stress_seconds, lock)
    print(f"\n({time.monotonic() - started:.0f} s)")
    shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
