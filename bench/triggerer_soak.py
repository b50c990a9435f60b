"""A triggerer that runs for weeks: a real Airflow triggerer (its supervisor and its trigger-runner
process) through thousands of token refresh generations. Target: from generation 100 to the last,
resident memory and CPU per refresh grow by at most 10 % in both processes, and no token the
emulator issued appears in any log of the deployment.

    .venv/bin/python bench/triggerer_soak.py [--generations 2000] [--token-ttl 2]

A real deployment (API server, scheduler, DAG processor, triggerer; SQLite) runs one deferrable
snapshot whose work request never ends (the emulator's ``stuck_work_request`` fault), so its
trigger polls every 0.1 s while access tokens live ``--token-ttl`` seconds: each poll after the
refresh margin refreshes (one generation). The emulator runs in this process and records every
access and refresh token it issues. Every few seconds the bench reads the emulator's refresh count
and each process's RSS and CPU time (``/proc``); a row per milestone shows RSS then and CPU per
refresh over the 100 generations before it. At the end the work request is released, the run must
succeed, and every file under AIRFLOW_HOME is searched for every issued token.

Airflow's triggerer supervisor keeps every value a trigger masks (there is no "unmask" message).
``--provider-path`` puts another copy of the provider first on the deployment's ``PYTHONPATH``
(e.g. the code before the fix, for the "before" figures).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

DAG = """
from datetime import datetime

from airflow.sdk import dag

from airflow_provider_oac.operators.snapshot import OACCreateSnapshotOperator


@dag(dag_id="oac_soak", schedule=None, start_date=datetime(2026, 1, 1), catchup=False)
def oac_soak():
    OACCreateSnapshotOperator(
        task_id="create",
        name="soak-{{ run_id[-12:] }}",
        password="{{ var.value.oac_snapshot_password }}",
        poll_interval=0.1,
        timeout=7 * 86400,
        deferrable=True,
    )


oac_soak()
"""

PAGE = os.sysconf("SC_PAGE_SIZE")
TICKS = os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * PAGE / 1e6


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--generations", type=int, default=2000)
    parser.add_argument("--token-ttl", type=float, default=2.0)
    parser.add_argument("--provider-path", type=Path, help="a provider copy to put first on PYTHONPATH")
    parser.add_argument("--sample-every", type=float, default=2.0)
    args = parser.parse_args()

    from airflow_provider_oac.emulator import EmulatorConfig, EmulatorServer
    from tests.deployment import AirflowDeployment
    from tests.test_real_scheduler import PASSWORD, cli_login

    work = Path(tempfile.mkdtemp(prefix="oac-soak-"))
    dags = work / "dags"
    dags.mkdir()
    (dags / "oac_soak.py").write_text(textwrap.dedent(DAG))
    env = {"AIRFLOW_PROVIDER_OAC_STATE_DIR": str(work / "state"), "AIRFLOW__API__WORKERS": "1"}
    if args.provider_path:
        env["PYTHONPATH"] = str(args.provider_path.resolve())
    emulator = EmulatorServer(EmulatorConfig()).start()
    deployment = AirflowDeployment(work / "home", dags_folder=dags, env=env, parallelism=4)
    deployment.airflow("db", "migrate", timeout=300)
    cli_login(deployment, emulator)
    deployment.airflow("variables", "set", "oac_snapshot_password", PASSWORD)
    control = emulator.control
    control.configure(access_token_ttl=args.token_ttl, reuse_detection=True)
    control.add_fault("POST /api/20210901/snapshots", "stuck_work_request", times=1)

    rows: list[dict[str, float]] = []
    milestones = [m for m in (100, 200, 300, *range(500, args.generations + 1, 500)) if m <= args.generations]
    if args.generations not in milestones:
        milestones.append(args.generations)
    started = time.monotonic()
    with deployment:
        deployment.wait_for_dag("oac_soak")
        run_id = deployment.trigger("oac_soak")
        supervisor = deployment.processes["triggerer"].pid
        samples: list[tuple[float, ...]] = []  # (refreshes, sup rss, sup cpu, run rss, run cpu)
        runner = None
        base = control.counters()["refreshes"]
        ticks = 0
        while True:
            time.sleep(args.sample_every)
            ticks += 1
            if ticks % 15 == 0 and deployment.run_states("oac_soak").get(run_id) != "running":
                print("the run ended before the last milestone (see its task log)", file=sys.stderr)
                break
            generations = control.counters()["refreshes"] - base
            if runner is None:
                # The trigger runner: the busiest child (the triggerer also forks a log server).
                kids = children(supervisor)
                if generations < 20 or not kids:
                    continue
                runner = max(kids, key=cpu_seconds)
            samples.append(
                (
                    generations,
                    rss_mb(supervisor),
                    cpu_seconds(supervisor),
                    rss_mb(runner),
                    cpu_seconds(runner),
                )
            )
            print(
                f"  gen {generations:5d}  supervisor {samples[-1][1]:6.1f} MB  runner "
                f"{samples[-1][3]:6.1f} MB  load {os.getloadavg()[0]:.2f}",
                flush=True,
            )
            if generations >= milestones[len(rows)]:
                row = _row(milestones[len(rows)], samples)
                rows.append(row)
                print(  # printed when reached, so a run cut short still leaves its figures
                    f"  milestone {row['generation']:.0f}: supervisor {row['sup_rss']:.1f} MB, "
                    f"{row['sup_cpu_ms']:.1f} ms/refresh; runner {row['run_rss']:.1f} MB, "
                    f"{row['run_cpu_ms']:.1f} ms/refresh",
                    flush=True,
                )
                if len(rows) == len(milestones):
                    break
            if deployment.processes["triggerer"].poll() is not None:
                print("the triggerer exited", file=sys.stderr)
                break
        control.release_work_requests()
        states = deployment.wait_for_runs("oac_soak", [run_id], timeout=300)
    counters = control.counters()
    tokens = control.issued_tokens()
    issued = set(tokens["access_tokens"]) | set(tokens["refresh_tokens"])
    emulator.stop()
    hits = _scan(work / "home", issued)
    elapsed = time.monotonic() - started

    print(
        f"\nTriggerer soak: {counters['refreshes'] - base} refresh generations in {elapsed:.0f} s "
        f"(access tokens of {args.token_ttl} s), load average {os.getloadavg()[0]:.2f}"
    )
    print(
        f"{'generation':>10} {'sup RSS MB':>10} {'sup ms/refresh':>14} {'run RSS MB':>10} {'run ms/refresh':>14}"
    )
    for row in rows:
        print(
            f"{row['generation']:>10.0f} {row['sup_rss']:>10.1f} {row['sup_cpu_ms']:>14.2f} "
            f"{row['run_rss']:>10.1f} {row['run_cpu_ms']:>14.2f}"
        )
    ok = len(rows) == len(milestones) and states == {run_id: "success"}
    if len(rows) >= 2:
        first, last = rows[0], rows[-1]
        for name, key in (
            ("supervisor RSS", "sup_rss"),
            ("supervisor CPU/refresh", "sup_cpu_ms"),
            ("runner RSS", "run_rss"),
            ("runner CPU/refresh", "run_cpu_ms"),
        ):
            growth = (last[key] - first[key]) / first[key] * 100 if first[key] else 0.0
            verdict = "ok" if growth <= 10 else "MISSED (target <= 10 %)"
            ok = ok and growth <= 10
            print(
                f"  {name}: {growth:+.1f} % from generation {first['generation']:.0f} to "
                f"{last['generation']:.0f}  {verdict}"
            )
    print(
        f"  run: {states.get(run_id)}; spent-token presentations "
        f"{counters['spent_refresh_token_presentations']}; revoked logins "
        f"{counters['revoked_logins']}"
    )
    print(f"  issued tokens searched: {len(issued)} in every file under AIRFLOW_HOME; hits: {len(hits)}")
    for place in hits[:5]:
        print(f"    token found in {place}")
    ok = ok and not hits and counters["spent_refresh_token_presentations"] == 0
    ok = ok and counters["revoked_logins"] == 0
    return 0 if ok else 1


def _row(generation: int, samples: list[tuple[float, ...]]) -> dict[str, float]:
    """RSS at ``generation``, and CPU per refresh over the 100 generations before it."""
    now = samples[-1]
    before = next((s for s in reversed(samples) if s[0] <= now[0] - 100), samples[0])
    refreshes = max(now[0] - before[0], 1)
    return {
        "generation": generation,
        "sup_rss": now[1],
        "sup_cpu_ms": (now[2] - before[2]) / refreshes * 1000,
        "run_rss": now[3],
        "run_cpu_ms": (now[4] - before[4]) / refreshes * 1000,
    }


def _scan(home: Path, issued: set[str]) -> list[str]:
    hits = []
    for path in home.rglob("*"):
        if not path.is_file() or path.suffix in {".db", ".db-wal", ".db-shm"}:
            continue
        text = path.read_text(errors="replace")
        if any(token in text for token in issued):
            hits.append(str(path.relative_to(home)))
    return hits


if __name__ == "__main__":
    import signal

    # SIGTERM ends the deployment's processes too (its context manager stops them).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sys.exit(main())
