"""A CeleryExecutor deployment across three "hosts", under load and faults (issue 15, item 1).

    nice -n 10 .venv/bin/python bench/celery_deployment.py [--runs 20] [--token-ttl 4]
        [--scenarios base,worker_kill,triggerer_restart,lock_outage,iam_outage,iam_errors]
        [--lock redis|postgres]
    nice -n 10 .venv/bin/python bench/celery_deployment.py --scenarios time_limits

Not part of ``make test``. What runs, all on this machine:

- the emulator (in this process), which counts every POST, refresh and spent-token presentation;
- a TCP forwarder (in this process) in front of the emulator's IAM: the connection's IAM URL is
  the forwarder's, so that the IAM-outage scenario can cut IAM off the network; OAC calls go
  straight to the emulator;
- a metadata database of its own on the PostgreSQL server on 127.0.0.1:5432, which is also the
  Celery result backend (``db+postgresql``);
- the Celery broker: the Redis on 127.0.0.1:6379, under a key prefix and a queue of this run's own;
- an API server, a scheduler (CeleryExecutor), a DAG processor and a triggerer (tests/deployment.py);
- ``--workers`` (3) ``airflow celery worker`` processes, each its own "host": its own AIRFLOW_HOME
  and its own AIRFLOW_PROVIDER_OAC_STATE_DIR (host journal, host locks);
- the cross-host refresh lock the connection's ``lock_conn_id`` names: by default a
  ``redis-server`` of this run's own on a free port (so that the lock-outage scenario can stop it),
  or (``--lock postgres``) an advisory lock on the metadata database.

Each scenario starts ``--runs`` DAG runs at once, a mix of backups that wait in the worker,
deferrable backups, deferrable restores and list+prune runs, with access tokens of ``--token-ttl``
seconds so that refreshes race across hosts, injects its fault while the work requests are open,
waits for every run and prints one row: runs, successes, POSTs against snapshots and restores
(against the runs that asked for one), refreshes per access-token lifetime, spent-token
presentations and revoked logins (both must be 0), task tries beyond the first, and how many tries
re-attached to a recorded work request instead of posting.

``time_limits`` (issue 15, item 3; not in the default list) runs the four runs of
``tests/time_limits.py`` on this deployment instead: a backup waiting in the worker and a deferred
one, each with ``execution_timeout=20``, and one of each that a person marks failed through the
REST API, while the emulator holds every work request unfinished; then the work requests are let
finish and the tasks cleared. One row per run: what ended the wait, when the wait ended and when the
task failed (seconds after ``execute`` began, and after the mark), the run's POSTs before and after
the clear, whether the rerun re-attached, and the hosts of the two tries.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

API = "/api/20210901"

DAGS = """
from datetime import datetime, timedelta

from airflow.sdk import Param, dag

from airflow_provider_oac.operators.lifecycle import OACListSnapshotsOperator, OACPruneSnapshotsOperator
from airflow_provider_oac.operators.snapshot import OACCreateSnapshotOperator, OACRestoreSnapshotOperator

ARGS = {"retries": 3, "retry_delay": timedelta(seconds=2)}
PASSWORD = "{{ var.value.oac_snapshot_password }}"


@dag(dag_id="c15_backup_wait", schedule=None, start_date=datetime(2026, 1, 1), catchup=False, default_args=ARGS)
def c15_backup_wait():
    OACCreateSnapshotOperator(
        task_id="backup", name="c15-{{ run_id }}", password=PASSWORD, poll_interval=2, deferrable=False
    )


@dag(dag_id="c15_backup_defer", schedule=None, start_date=datetime(2026, 1, 1), catchup=False, default_args=ARGS)
def c15_backup_defer():
    OACCreateSnapshotOperator(
        task_id="backup", name="c15-{{ run_id }}", password=PASSWORD, poll_interval=2, deferrable=True
    )


@dag(
    dag_id="c15_restore",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    default_args=ARGS,
    params={"snapshot_name": Param("c15-seed", type="string")},
)
def c15_restore():
    OACRestoreSnapshotOperator(
        task_id="restore",
        snapshot_name="{{ params.snapshot_name }}",
        password=PASSWORD,
        poll_interval=2,
        deferrable=True,
    )


@dag(dag_id="c15_list_prune", schedule=None, start_date=datetime(2026, 1, 1), catchup=False, default_args=ARGS)
def c15_list_prune():
    listed = OACListSnapshotsOperator(task_id="list", name_pattern="c15-*")
    pruned = OACPruneSnapshotsOperator(task_id="prune", name_pattern="c15-*", keep_last=1000)
    listed >> pruned


c15_backup_wait()
c15_backup_defer()
c15_restore()
c15_list_prune()
"""

KINDS = ("c15_backup_wait", "c15_backup_defer", "c15_restore", "c15_list_prune")


def mix(runs: int) -> list[str]:
    """``runs`` DAG ids: 30 % backups in the worker, 30 % deferrable backups, 20 % restores, the
    rest list+prune."""
    counts = [round(runs * 0.3), round(runs * 0.3), round(runs * 0.2)]
    counts.append(runs - sum(counts))
    left = dict(zip(KINDS, counts, strict=True))
    order: list[str] = []
    while len(order) < runs:  # interleaved, so that the kinds start together
        for kind in KINDS:
            if left[kind]:
                order.append(kind)
                left[kind] -= 1
    return order


class Celery:
    """The deployment plus its Celery workers, each with a home and a state directory of its own."""

    def __init__(self, work: Path, deployment: Any, workers: int, queue: str):
        self.work = work
        self.deployment = deployment
        self.queue = queue
        self.workers: dict[str, subprocess.Popen[bytes]] = {}
        self.names = [f"w{i}" for i in range(1, workers + 1)]

    def home(self, name: str) -> Path:
        return self.work / f"host-{name}"

    def start_worker(self, name: str) -> None:
        from tests.deployment import BIN, free_port

        home = self.home(name)
        home.mkdir(parents=True, exist_ok=True)
        env = {
            **self.deployment.env,
            "AIRFLOW_HOME": str(home),
            "AIRFLOW_PROVIDER_OAC_STATE_DIR": str(home / "state"),
            # The deployment's configuration comes from the environment; only paths are per host.
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        }
        log = open(home / "worker.log", "ab")  # noqa: SIM115 - closed with the process
        self.workers[name] = subprocess.Popen(
            [str(BIN / "airflow"), "celery", "worker", "--celery-hostname", f"{name}@{self.queue}",
             "--queues", self.queue, "--concurrency", "6", "--without-gossip", "--without-mingle"],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip

    def kill_worker(self, name: str) -> None:
        proc = self.workers[name]
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()

    def restart_triggerer(self) -> None:
        from tests.deployment import BIN

        proc = self.deployment.processes["triggerer"]
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log = open(self.deployment.home / "triggerer.log", "ab")  # noqa: SIM115 - closed with the process
        self.deployment.processes["triggerer"] = subprocess.Popen(
            [str(BIN / "airflow"), "triggerer"],
            env=self.deployment.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def stop(self) -> None:
        for proc in self.workers.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.workers.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

    def task_logs(self) -> list[Path]:
        return [p for name in self.names for p in (self.home(name) / "logs").rglob("*") if p.is_file()]


def sql(deployment: Any, query: str, **params: Any) -> list[Any]:
    import sqlalchemy

    engine = sqlalchemy.create_engine(deployment.env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
    try:
        with engine.connect() as connection:
            return list(connection.execute(sqlalchemy.text(query), params).all())
    finally:
        engine.dispose()


def task_states(deployment: Any, run_ids: list[str]) -> dict[str, int]:
    rows = sql(
        deployment,
        "SELECT state, count(*) FROM task_instance WHERE run_id = ANY(:ids) GROUP BY state",
        ids=run_ids,
    )
    return {str(state): n for state, n in rows}


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20, help="DAG runs started at once per scenario")
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--token-ttl", type=float, default=4.0, help="access token lifetime, seconds")
    parser.add_argument("--work-seconds", type=float, default=25.0, help="how long OAC's work takes")
    parser.add_argument(
        "--scenarios",
        default=",".join(SCENARIOS),
        help="comma-separated, run in this order: base (no fault), worker_kill (kill -9 of the busiest "
        "worker), triggerer_restart, lock_outage (the lock's redis-server stopped for 20 s), "
        "iam_outage (IAM unreachable for 30 s: connections refused, open ones reset), "
        "iam_errors (IAM answers 503 for 30 s); default: all of these. Also time_limits "
        "(execution_timeout and marking failed, in the worker and deferred; tests/time_limits.py)",
    )
    parser.add_argument("--lock", choices=("redis", "postgres"), default="redis")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    scenarios = args.scenarios.split(",")
    unknown = set(scenarios) - set(SCENARIOS) - {TIME_LIMITS}
    if unknown:
        parser.error(f"unknown scenarios {sorted(unknown)}; known: {', '.join([*SCENARIOS, TIME_LIMITS])}")

    from airflow_provider_oac.emulator import EmulatorConfig, EmulatorServer
    from airflow_provider_oac.testing import TCPForwarder
    from tests.deployment import AirflowDeployment
    from tests.servers import (
        OwnRedis,
        postgres_lock_conn,
        sqlalchemy_url,
        temporary_database,
    )
    from tests.test_real_scheduler import PASSWORD, cli_login

    work = Path(tempfile.mkdtemp(prefix="oac-celery-"))
    (work / "dags").mkdir()
    (work / "dags" / "c15_dags.py").write_text(textwrap.dedent(DAGS))
    if TIME_LIMITS in scenarios:
        from tests.time_limits import DAGS as TIME_LIMIT_DAGS

        (work / "dags" / "oac_limits.py").write_text(TIME_LIMIT_DAGS)
    tag = uuid.uuid4().hex[:8]
    queue = f"oac15-{tag}"
    emulator = EmulatorServer(EmulatorConfig()).start()
    iam = TCPForwarder("127.0.0.1", emulator.port).start()
    lock_redis: OwnRedis | None = None
    rows: list[dict[str, Any]] = []
    with temporary_database("celery15") as (user, database):
        if args.lock == "redis":
            lock_redis = OwnRedis(work / "lock-redis").start()
            lock = lock_redis.conn()
        else:
            lock = postgres_lock_conn(user, database)
        env = {
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__CELERY__BROKER_URL": "redis://127.0.0.1:6379/0",
            "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__GLOBAL_KEYPREFIX": f"{queue}:",
            "AIRFLOW__CELERY__RESULT_BACKEND": f"db+postgresql+psycopg2://{user}@127.0.0.1:5432/{database}",
            "AIRFLOW__OPERATORS__DEFAULT_QUEUE": queue,
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "30",
            "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": "64",
            "AIRFLOW__CORE__MAX_ACTIVE_RUNS_PER_DAG": "64",
            "AIRFLOW_PROVIDER_OAC_STATE_DIR": str(work / "state-control"),
            **lock.airflow_env(),
        }
        deployment = AirflowDeployment(
            work / "home",
            dags_folder=work / "dags",
            db_url=sqlalchemy_url(user, database),
            env=env,
            parallelism=64,
        )
        celery = Celery(work, deployment, args.workers, queue)
        control = emulator.control
        try:
            deployment.airflow("db", "migrate", timeout=600)
            cli_login(deployment, emulator, iam_url=f"{iam.url}/iam")
            deployment.python(SET_LOCK.format(lock_conn_id=lock.conn_id))
            deployment.airflow("variables", "set", "oac_snapshot_password", PASSWORD)
            control.configure(access_token_ttl=args.token_ttl, reuse_detection=True, work_request_seconds=2)
            with deployment:
                for name in celery.names:
                    celery.start_worker(name)
                for dag_id in KINDS:
                    deployment.wait_for_dag(dag_id, timeout=600)
                seed = deployment.trigger("c15_backup_defer", run_id="seed")
                state = deployment.wait_for_runs("c15_backup_defer", [seed], timeout=900)
                if state != {seed: "success"}:
                    raise RuntimeError(f"the seed backup did not succeed: {state}")
                control.configure(work_request_seconds=args.work_seconds)
                for index, scenario in enumerate(scenarios):
                    print(f"[{time.strftime('%H:%M:%S')}] scenario {scenario}", flush=True)
                    rows.append(
                        run_scenario(scenario, index, args, deployment, celery, control, lock_redis, iam)
                    )
                    print("  " + json.dumps(rows[-1]), flush=True)
        finally:
            celery.stop()
            if lock_redis is not None:
                lock_redis.stop()
            iam.stop()
            emulator.stop()
            drop_broker_keys(f"{queue}:")
    print_table(rows, args)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"work directory: {work}")
    ok = all(
        r["spent"] == 0
        and r["revoked"] == 0
        and r["creates"] <= r["backups"]
        and r["restores"] <= r["restore_runs"]
        and r.get("ok", True)
        for r in rows
    )
    return 0 if ok and len(rows) == len(scenarios) else 1


def drop_broker_keys(prefix: str) -> None:
    """Remove this run's keys (queue, bindings, unacked messages) from the shared Redis broker."""
    import redis

    client = redis.Redis(host="127.0.0.1", port=6379, db=0)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


SET_LOCK = """
import json
from airflow.models import Connection
from airflow.utils.session import create_session
with create_session() as s:
    c = s.query(Connection).filter_by(conn_id="oac_default").one()
    extra = c.extra_dejson
    extra["lock_conn_id"] = {lock_conn_id!r}
    c.set_extra(json.dumps(extra))
"""


def _fault_worker_kill(ctx: dict[str, Any]) -> str:
    """Once every backup has its work request and the waiting ones hold their slots, kill -9 the
    worker holding most of the waiting backups; restart that host after the run."""
    celery, runs = ctx["celery"], ctx["runs"]
    waiting = [r for r, k in runs.items() if k == "c15_backup_wait"]
    wait_until(
        lambda: (
            ctx["control"].counters()["snapshots_created"] - ctx["c0"]["snapshots_created"] >= ctx["backups"]
        ),
        300,
        "every backup's POST",
    )
    time.sleep(2)
    # The host whose logs name most of the waiting backups' runs.
    busiest = max(
        celery.names,
        key=lambda n: sum(
            1 for p in (celery.home(n) / "logs").rglob("*") if any(f"run_id={r}" in str(p) for r in waiting)
        ),
    )
    holding = sum(
        1
        for p in (celery.home(busiest) / "logs").rglob("*.log")
        if any(f"run_id={r}" in str(p) for r in waiting)
    )
    celery.kill_worker(busiest)
    ctx["after"].append(lambda: celery.start_worker(busiest))
    return f"kill -9 {busiest} (holding {holding} waiting backups)"


def _fault_triggerer_restart(ctx: dict[str, Any]) -> str:
    deployment, runs = ctx["deployment"], ctx["runs"]
    restores = [r for r, k in runs.items() if k == "c15_restore"]
    wait_until(
        lambda: task_states(deployment, restores).get("deferred", 0) >= len(restores),
        300,
        "every restore deferred",
    )
    time.sleep(2)
    ctx["celery"].restart_triggerer()
    return f"triggerer restarted with {len(restores)} restores deferred"


def _wait_for_backup_posts(ctx: dict[str, Any]) -> None:
    wait_until(
        lambda: (
            ctx["control"].counters()["work_requests_created"] - ctx["c0"]["work_requests_created"]
            >= ctx["backups"]
        ),
        300,
        "the backups' POSTs",
    )


def _fault_lock_outage(ctx: dict[str, Any]) -> str:
    lock_redis = ctx["lock_redis"]
    if lock_redis is None:
        return "skipped: the lock is PostgreSQL (the shared server is not ours to stop)"
    _wait_for_backup_posts(ctx)
    lock_redis.kill()
    time.sleep(20)
    lock_redis.start()
    return "lock redis-server stopped for 20 s"


def _fault_iam_outage(ctx: dict[str, Any]) -> str:
    """Once every backup has posted, cut IAM off the network for 30 s: the forwarder the
    connection's IAM URL names stops listening (a new connection is refused) and resets every open
    connection, then listens again on the same port."""
    _wait_for_backup_posts(ctx)
    ctx["iam"].cut()
    try:
        time.sleep(30)
    finally:
        ctx["iam"].restore()
    return "IAM unreachable (connection refused, open connections reset) for 30 s"


def _fault_iam_errors(ctx: dict[str, Any]) -> str:
    """Once every backup has posted, IAM answers 503 to every request for 30 s (an emulator fault):
    reachable, but failing."""
    control = ctx["control"]
    _wait_for_backup_posts(ctx)
    control.add_fault("* /iam/*", "status", status=503, times=1_000_000)
    time.sleep(30)
    control.clear_faults()
    return "IAM answered 503 to every request for 30 s"


SCENARIOS: dict[str, Callable[[dict[str, Any]], str] | None] = {
    "base": None,
    "worker_kill": _fault_worker_kill,
    "triggerer_restart": _fault_triggerer_restart,
    "lock_outage": _fault_lock_outage,
    "iam_outage": _fault_iam_outage,
    "iam_errors": _fault_iam_errors,
}


def run_scenario(
    scenario: str,
    index: int,
    args: argparse.Namespace,
    deployment: Any,
    celery: Celery,
    control: Any,
    lock_redis: Any,
    iam: Any,
) -> dict[str, Any]:
    if scenario == TIME_LIMITS:
        return run_time_limits(args, deployment, celery, control)
    c0 = control.counters()
    log0 = len(control.request_log())
    kinds = mix(args.runs)
    runs = {f"s{index}r{i:02d}x{uuid.uuid4().hex[:6]}": kind for i, kind in enumerate(kinds)}
    backups = sum(1 for k in kinds if k.startswith("c15_backup"))
    ctx: dict[str, Any] = {
        "deployment": deployment,
        "celery": celery,
        "control": control,
        "lock_redis": lock_redis,
        "iam": iam,
        "runs": runs,
        "c0": c0,
        "backups": backups,
        "after": [],
        "note": "",
    }
    fault = SCENARIOS[scenario]
    started = time.monotonic()
    for run_id, kind in runs.items():
        deployment.trigger(kind, run_id=run_id)
    thread = None
    if fault is not None:

        def inject() -> None:
            try:
                ctx["note"] = fault(ctx)
            except Exception as exc:  # reported in the row
                ctx["note"] = f"fault not injected: {exc}"

        thread = threading.Thread(target=inject, daemon=True)
        thread.start()
    states: dict[str, str] = {}
    for kind in KINDS:
        ids = [r for r, k in runs.items() if k == kind]
        if ids:
            states.update(deployment.wait_for_runs(kind, ids, timeout=1800))
    seconds = time.monotonic() - started
    if thread is not None:
        thread.join(timeout=60)
    for action in ctx["after"]:
        action()
    c1 = control.counters()
    posts = control.request_log()[log0:]
    creates = sum(1 for e in posts if e["method"] == "POST" and e["path"] == f"{API}/snapshots")
    restores = sum(
        1 for e in posts if e["method"] == "POST" and e["path"].endswith("/actions/restoreSnapshot")
    )
    tries = sql(
        deployment,
        "SELECT coalesce(sum(try_number - 1), 0) FROM task_instance WHERE run_id = ANY(:ids)",
        ids=list(runs),
    )[0][0]
    reattached = sum(
        1
        for p in celery.task_logs()
        if any(f"run_id={r}" in str(p) for r in runs) and "Re-attaching" in p.read_text(errors="replace")
    )
    refreshes = c1["refreshes"] - c0["refreshes"]
    return {
        "scenario": scenario,
        "fault": ctx["note"],
        "runs": len(runs),
        "success": sum(1 for s in states.values() if s == "success"),
        "backups": backups,
        "creates": creates,
        "restore_runs": sum(1 for k in kinds if k == "c15_restore"),
        "restores": restores,
        "seconds": round(seconds),
        "refreshes": refreshes,
        "per_lifetime": round(refreshes / (seconds / args.token_ttl), 2),
        "spent": c1["spent_refresh_token_presentations"] - c0["spent_refresh_token_presentations"],
        "revoked": c1["revoked_logins"] - c0["revoked_logins"],
        "retries": int(tries),
        "reattached": reattached,
    }


TIME_LIMITS = "time_limits"


def run_time_limits(
    args: argparse.Namespace, deployment: Any, celery: Celery, control: Any
) -> dict[str, Any]:
    """Issue 15, item 3 on Celery: the four runs of tests/time_limits.py, their task logs on the
    three hosts and the triggerer's."""
    from tests.time_limits import ACCEPTED, KILLED, LIMIT, LIMITED, POLL, WHY, four_runs, log_files, measure

    c0 = control.counters()
    log0 = len(control.request_log())
    homes = [deployment.home, *(celery.home(n) for n in celery.names)]
    started = time.monotonic()
    outcome = four_runs(deployment, control, homes)
    seconds = time.monotonic() - started
    measure(outcome, homes)
    c1 = control.counters()
    posts = control.request_log()[log0:]

    def host(path: Path) -> str:
        return next((n for n in celery.names if path.is_relative_to(celery.home(n))), "triggerer")

    per_run = []
    for dag_id in LIMITED + KILLED:
        figure, files = outcome.figures[dag_id], log_files(homes, dag_id)
        first = [p for p in files if p.name.startswith("attempt=1.")]
        later = [p for p in files if not p.name.startswith("attempt=1.")]
        lines = outcome.stopped[dag_id]
        why = WHY.search(lines[0]) if lines else None
        per_run.append(
            {
                "run": dag_id,
                "ended_by": why.group(1) if why else "no 'Stopped waiting' line",
                "wait_ended_s": figure["wait_ended_after_execute_s"],
                "task_failed_s": figure["task_ended_after_execute_s"],
                "wait_ended_after_mark_s": figure.get("wait_ended_after_mark_s"),
                "task_failed_after_mark_s": figure.get("task_ended_after_mark_s"),
                "posts": sum(p.read_text(errors="replace").count(ACCEPTED) for p in first),
                "posts_after_clear": sum(p.read_text(errors="replace").count(ACCEPTED) for p in later),
                "reattached": any(
                    "Re-attaching to work request" in p.read_text(errors="replace") for p in later
                ),
                "rerun": outcome.reruns[dag_id]["state"],
                "hosts": " / ".join(
                    "+".join(sorted({host(p) for p in tries if ".trigger." not in p.name}))
                    for tries in (first, later)
                ),
            }
        )
    creates = sum(1 for e in posts if e["method"] == "POST" and e["path"] == f"{API}/snapshots")
    refreshes = c1["refreshes"] - c0["refreshes"]
    ok = outcome.released == outcome.created == outcome.created_after_clear == creates == len(
        per_run
    ) and all(
        r["posts"] == 1
        and r["posts_after_clear"] == 0
        and r["reattached"]
        and r["rerun"] == "success"
        and r["wait_ended_s"] is not None
        for r in per_run
    )
    return {
        "scenario": TIME_LIMITS,
        "fault": f"execution_timeout={LIMIT} s, poll_interval={POLL} s; work requests held, then released",
        "runs": len(per_run),
        "success": sum(1 for r in per_run if r["rerun"] == "success"),
        "backups": len(per_run),
        "creates": creates,
        "created_while_held": outcome.created,
        "created_after_clear": outcome.created_after_clear,
        "restore_runs": 0,
        "restores": 0,
        "seconds": round(seconds),
        "refreshes": refreshes,
        "per_lifetime": round(refreshes / (seconds / args.token_ttl), 2),
        "spent": c1["spent_refresh_token_presentations"] - c0["spent_refresh_token_presentations"],
        "revoked": c1["revoked_logins"] - c0["revoked_logins"],
        "ok": ok,
        "time_limits": per_run,
    }


def print_time_limits(r: dict[str, Any]) -> None:
    def mark(seconds: float | None, after_mark: float | None) -> str:
        return "-" if seconds is None else f"{seconds}" + ("" if after_mark is None else f" ({after_mark})")

    print(f"time_limits: {r['fault']}\n")
    head = (
        "| Run | What ended the wait | Wait ended, s after execute (after the mark) "
        "| Task failed, s after execute (after the mark) | POSTs | POSTs after release + clear "
        "| Re-attached | Hosts: try 1 / rerun |"
    )
    print(head)
    print("|" + "---|" * (head.count(" | ") + 1))
    for t in r["time_limits"]:
        print(
            f"| {t['run']} | {t['ended_by']} | {mark(t['wait_ended_s'], t['wait_ended_after_mark_s'])} "
            f"| {mark(t['task_failed_s'], t['task_failed_after_mark_s'])} | {t['posts']} "
            f"| {t['posts_after_clear']} | {'yes' if t['reattached'] else 'no'} (rerun {t['rerun']}) "
            f"| {t['hosts']} |"
        )
    print(
        f"\nSnapshot POSTs (emulator): {r['created_while_held']} while held, {r['created_after_clear']} after "
        f"release + clear ({r['created_after_clear'] - r['created_while_held']} more; {r['creates']} in the "
        f"request log); refreshes {r['refreshes']} ({r['per_lifetime']} per token lifetime); spent-token "
        f"presentations {r['spent']}; revoked logins {r['revoked']}; {r['seconds']} s; "
        f"{'OK' if r['ok'] else 'NOT OK'}\n"
    )


def print_table(rows: list[dict[str, Any]], args: argparse.Namespace) -> None:
    print(
        f"\nCeleryExecutor deployment: {args.workers} workers, {args.runs} runs per scenario, "
        f"access tokens of {args.token_ttl:g} s, work requests of {args.work_seconds:g} s, "
        f"{args.lock} lock; load average {os.getloadavg()[0]:.1f}\n"
    )
    for r in rows:
        if r["scenario"] == TIME_LIMITS:
            print_time_limits(r)
    rows = [r for r in rows if r["scenario"] != TIME_LIMITS]
    if not rows:
        return
    head = (
        "| Scenario | Runs | Succeeded | Snapshot POSTs / backups | Restore POSTs / restores | Time s "
        "| Refreshes (per token lifetime) | Spent-token presentations | Revoked logins | Retried tries "
        "| Re-attached |"
    )
    print(head)
    print("|" + "---|" * head.count(" | ") + "---|")
    for r in rows:
        print(
            f"| {r['scenario']} | {r['runs']} | {r['success']} | {r['creates']} / {r['backups']} "
            f"| {r['restores']} / {r['restore_runs']} | {r['seconds']} | {r['refreshes']} ({r['per_lifetime']}) "
            f"| {r['spent']} | {r['revoked']} | {r['retries']} | {r['reattached']} |"
        )
    for r in rows:
        if r["fault"]:
            print(f"- {r['scenario']}: {r['fault']}")


if __name__ == "__main__":
    # SIGTERM ends the deployment's processes too (the context managers stop them).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sys.exit(main())
