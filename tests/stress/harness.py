"""Running many "tasks" in several processes against the emulator, and what came of it.

Used by the stress tests and by ``bench/token_calls.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.workers import REPO, Workers

STATE_DIR_ENV = "AIRFLOW_PROVIDER_OAC_STATE_DIR"


@dataclass
class StressResult:
    processes: int
    threads_per_process: int
    seconds: float
    access_token_ttl: float
    counters: dict[str, int]
    workers: list[dict[str, Any]] = field(repr=False)

    @property
    def tasks(self) -> int:
        """Concurrent task loops (threads over all processes)."""
        return self.processes * self.threads_per_process

    @property
    def lifetimes(self) -> float:
        return self.seconds / self.access_token_ttl

    @property
    def refreshes(self) -> int:
        return self.counters["refreshes"]

    @property
    def refreshes_per_lifetime(self) -> float:
        return self.refreshes / self.lifetimes

    def total(self, name: str) -> int:
        return sum(worker[name] for worker in self.workers)

    def errors(self) -> list[str]:
        return sorted({error for worker in self.workers for error in worker["errors"]})

    def error_types(self) -> dict[str, int]:
        """Task errors by exception class, over all workers."""
        types: dict[str, int] = {}
        for worker in self.workers:
            for name, count in worker["error_types"].items():
                types[name] = types.get(name, 0) + count
        return types

    def summary(self) -> str:
        c = self.counters
        return (
            f"{self.tasks} tasks in {self.processes} processes, {self.seconds:.0f} s = {self.lifetimes:.0f} "
            f"access-token lifetimes of {self.access_token_ttl:g} s: {self.total('tasks')} task runs, "
            f"{self.total('calls')} OAC calls; refreshes {c['refreshes']} ({self.refreshes_per_lifetime:.2f} per "
            f"lifetime; per process {[w['refreshes'] for w in self.workers]}), token requests "
            f"{c['token_requests']}, spent-token presentations {c['spent_refresh_token_presentations']}, "
            f"revoked logins {c['revoked_logins']}, refresh failures {c['refresh_failures']}, "
            f"OAC 401s {c['oac_unauthorized']}, task errors {self.error_types() or 0}"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "tasks": self.tasks,
            "processes": self.processes,
            "seconds": self.seconds,
            "access_token_ttl": self.access_token_ttl,
            "lifetimes": self.lifetimes,
            "refreshes_per_lifetime": round(self.refreshes_per_lifetime, 3),
            "task_runs": self.total("tasks"),
            "oac_calls": self.total("calls"),
            "task_errors": self.error_types(),
            **{k: self.counters[k] for k in COUNTERS},
        }


COUNTERS = (
    "refreshes",
    "token_requests",
    "spent_refresh_token_presentations",
    "revoked_logins",
    "refresh_failures",
    "oac_unauthorized",
)


def counter_delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {name: after[name] - before.get(name, 0) for name in after}


def run_stress(
    control: Any,
    conn_id: str,
    *,
    processes: int,
    threads: int,
    seconds: float,
    access_token_ttl: float,
    log_dir: Path,
    env: Callable[[int], dict[str, str]],
) -> StressResult:
    """``processes`` worker processes with ``threads`` task loops each, for ``seconds`` after they
    all started; ``env(i)`` is worker i's extra environment. Counters are the emulator's deltas."""
    workers = Workers(
        "tests.stress.worker", ["run", conn_id, str(threads), str(seconds)], processes, log_dir, env=env
    )
    workers.wait_ready()
    before = control.counters()
    workers.go()
    results = workers.results(timeout=seconds + 120)
    after = control.counters()
    return StressResult(processes, threads, seconds, access_token_ttl, counter_delta(before, after), results)


def login_in(env: dict[str, str], emulator: Any, conn_id: str, **extra: Any) -> None:
    """A device login saved as ``conn_id`` in the metadata database that ``env`` configures."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.stress.worker",
            "login",
            conn_id,
            emulator.url,
            emulator.config.client_id,
            emulator.config.scope,
            json.dumps(extra),
        ],
        cwd=REPO,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    if result.returncode != 0:
        raise RuntimeError(f"login into {env.get('AIRFLOW_HOME')} failed:\n{result.stderr[-3000:]}")


@dataclass
class AirflowDB:
    """An Airflow metadata database of our own: ``env`` points a process at it."""

    env: dict[str, str]
    user: str
    database: str


def migrate_airflow_db(home: Path, sqlalchemy_url: str, fernet_key: str) -> dict[str, str]:
    """``airflow db migrate`` into ``sqlalchemy_url`` with ``home`` as AIRFLOW_HOME; returns the
    environment that points a process at it."""
    home.mkdir(parents=True, exist_ok=True)
    env = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": sqlalchemy_url,
        # Empty: no async engine (it would need asyncpg; the ORM code paths used here are sync).
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": "",
        # Small pools: every worker process is a client of the one PostgreSQL server.
        "AIRFLOW__DATABASE__SQL_ALCHEMY_POOL_SIZE": "2",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_MAX_OVERFLOW": "4",
        "AIRFLOW__CORE__FERNET_KEY": fernet_key,
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
    }
    result = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )
    if result.returncode != 0:
        raise RuntimeError(f"airflow db migrate failed:\n{result.stderr[-3000:]}")
    return env
