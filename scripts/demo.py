"""`make demo`: the whole product, offline, in about two minutes.

Starts the emulator (OAC + IAM on 127.0.0.1), logs in with ``airflow-oac login`` (the emulator
auto-approves the device code, standing in for the person at the browser), runs the example DAGs
(snapshot, then rollback on one instance; then the environment refresh PROD -> TEST across two
instances) and prints what happened. Everything lives in ``.demo/``.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
DEMO = REPO / ".demo"
HOME = DEMO / "airflow-home"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def step(title: str) -> float:
    print(f"\n==> {title}", flush=True)
    return time.monotonic()


def done(started: float) -> None:
    print(f"    ({time.monotonic() - started:.1f} s)", flush=True)


def run(args: list[str], env: dict[str, str], *, quiet: bool = False) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(args, env=env, text=True, capture_output=True)
    if result.returncode != 0:
        print(result.stdout[-4000:], result.stderr[-4000:], sep="\n", file=sys.stderr)
        raise SystemExit(f"demo: {' '.join(args[:3])} failed (exit {result.returncode})")
    if not quiet:
        print(result.stdout.rstrip())
    return result


def print_copy_figures(controls: dict) -> None:
    """Per instance: snapshots made and registered, restores, and the POSTs behind them (a
    duplicate would be a POST beyond what was made)."""
    for name, control in controls.items():
        snapshots_posted = restores_posted = 0
        for entry in control.request_log():
            if entry["method"] == "POST" and entry["path"].endswith("/snapshots"):
                snapshots_posted += 1
            if entry["method"] == "POST" and entry["path"].endswith("/restoreSnapshot"):
                restores_posted += 1
        counters = control.counters()
        made = counters.get("snapshots_created", 0) + counters.get("snapshots_registered", 0)
        restores = control.restores()
        print(
            f"    {name:5} snapshots created {counters.get('snapshots_created', 0)}, registered "
            f"{counters.get('snapshots_registered', 0)}, restores {len(restores)} "
            f"({', '.join(r['status'] for r in restores) or '-'}), deleted {counters.get('snapshots_deleted', 0)}; "
            f"POSTs: /snapshots {snapshots_posted}, restoreSnapshot {restores_posted}; "
            f"duplicates {snapshots_posted - made + restores_posted - len(restores)}"
        )


def main() -> int:
    total = time.monotonic()
    shutil.rmtree(DEMO, ignore_errors=True)
    HOME.mkdir(parents=True)
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(HOME),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "example_dags"),
        "AIRFLOW__CORE__FERNET_KEY": "ZGVtby1vbmx5LWZlcm5ldC1rZXktMDAwMDAwMDAwMDA=",
        "AIRFLOW_PROVIDER_OAC_STATE_DIR": str(DEMO / "state"),
    }

    started = step("Creating the Airflow metadata database (SQLite) in .demo/airflow-home")
    run([str(BIN / "airflow"), "db", "migrate"], env, quiet=True)
    done(started)

    port = free_port()
    started = step(
        f"Starting the emulator: OAC instances 'prod' on 127.0.0.1:{port} and 'test' on :{port + 1}, "
        "each with its own IAM domain, one object store (auto-approve on)"
    )
    emulator = subprocess.Popen(
        [
            str(BIN / "airflow-oac"),
            "emulator",
            "--port",
            str(port),
            "--instances",
            "2",
            "--auto-approve",
            "--work-request-seconds",
            "3",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        from airflow_provider_oac.emulator import EmulatorConfig, EmulatorControl

        base = f"http://127.0.0.1:{port}"
        test_base = f"http://127.0.0.1:{port + 1}"
        control = EmulatorControl(base)
        test_control = EmulatorControl(test_base)
        deadline = time.monotonic() + 30
        while True:
            try:
                control.counters()
                test_control.counters()
                break
            except Exception:
                if emulator.poll() is not None or time.monotonic() > deadline:
                    print(emulator.stdout.read() if emulator.stdout else "", file=sys.stderr)
                    raise SystemExit("demo: the emulator did not start") from None
                time.sleep(0.2)
        config = EmulatorConfig(**control.config())
        test_config = EmulatorConfig(**test_control.config())
        done(started)

        def login(conn_id: str, url: str, instance: EmulatorConfig) -> None:
            run(
                [
                    str(BIN / "airflow-oac"),
                    "login",
                    "--conn-id",
                    conn_id,
                    "--oac-url",
                    url,
                    "--iam-url",
                    f"{url}/iam",
                    "--client-id",
                    instance.client_id,
                    "--scope",
                    instance.scope,
                    "--bucket",
                    "oac-demo-snapshots",
                    "--no-browser",
                ],
                env,
            )

        started = step("airflow-oac login (device flow; the emulator approves the code as the user would)")
        login("oac_default", base, config)
        done(started)

        started = step("airflow-oac status")
        run([str(BIN / "airflow-oac"), "status"], env)
        done(started)

        run(
            [str(BIN / "airflow"), "variables", "set", "oac_snapshot_password", "demo-Snapshot-Pa55"],
            env,
            quiet=True,
        )

        started = step("Running example DAG oac_pre_deployment_backup (snapshot, then deploy)")
        run([str(BIN / "airflow"), "dags", "test", "oac_pre_deployment_backup"], env, quiet=True)
        snapshots = control.snapshots()
        if not snapshots:
            raise SystemExit("demo: no snapshot was created")
        snapshot = snapshots[-1]
        print(f"    snapshot {snapshot['name']!r} created, id {snapshot['id']}")
        done(started)

        started = step(f"Running example DAG oac_rollback (restore {snapshot['name']!r})")
        run(
            [
                str(BIN / "airflow"),
                "dags",
                "test",
                "oac_rollback",
                "--conf",
                json.dumps({"snapshot_name": snapshot["name"]}),
            ],
            env,
            quiet=True,
        )
        restores = control.restores()
        print(
            f"    restores started: {len(restores)} (snapshot {restores[-1]['snapshot_id'] if restores else '-'})"
        )
        done(started)

        started = step(
            "Logging in to PROD and TEST as connections oac_prod and oac_test (two identity domains)"
        )
        login("oac_prod", base, config)
        login("oac_test", test_base, test_config)
        run(
            [str(BIN / "airflow"), "variables", "set", "oac_refresh_password", "demo-Refresh-Pa55word"],
            env,
            quiet=True,
        )
        done(started)

        before = test_control.state()["content"]
        started = step("Running example DAG oac_environment_refresh (PROD -> TEST, safety snapshot, notify)")
        run([str(BIN / "airflow"), "dags", "test", "oac_environment_refresh"], env, quiet=True)
        after = test_control.state()["content"]
        print(f"    TEST held {before!r}; now {after!r} (PROD holds {control.state()['content']!r})")
        print("    Per instance (prod also counts the rollback above):")
        print_copy_figures({"prod": control, "test": test_control})
        done(started)

        print("\n==> Work requests (prod)")
        for work_request in control.work_requests():
            print(
                f"    {work_request['id']}  {work_request.get('operationType', '?'):17} "
                f"{work_request.get('status', '?'):10} accepted {work_request.get('timeAccepted')} "
                f"finished {work_request.get('timeFinished')}"
            )
        counters = control.counters()
        print("\n==> What the emulator saw")
        for key in (
            "device_authorizations",
            "refreshes",
            "snapshots_created",
            "restores_started",
            "oac_requests",
        ):
            print(f"    {key:24} {counters.get(key)}")
        print(f"\nDemo finished in {time.monotonic() - total:.1f} s. Airflow home: {HOME}")
        return 0
    finally:
        emulator.terminate()
        try:
            emulator.wait(timeout=10)
        except subprocess.TimeoutExpired:
            emulator.kill()


if __name__ == "__main__":
    sys.exit(main())
