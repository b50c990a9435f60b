"""A real Airflow deployment in a temporary AIRFLOW_HOME, for tests that need the real thing.

API server, scheduler (LocalExecutor), DAG processor and triggerer run as subprocesses, so tasks
run under Airflow's supervisor: secrets masking, no ORM access from tasks, real deferral.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BIN = Path(sys.executable).parent
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")


# The example DAGs a deployment loads: the ones the deployment tests trigger, plus the keep-alive and
# the asset consumer. Not the whole folder: the deployments unpause new DAGs, and scheduled examples
# such as oac_nightly_snapshot would start runs (and snapshots) of their own.
DEPLOYMENT_EXAMPLES = ("oac_pre_deployment_backup", "oac_rollback", "oac_keep_alive", "oac_snapshot_consumer")


def example_dags_folder(target: Path, names: tuple[str, ...] = DEPLOYMENT_EXAMPLES) -> Path:
    """A DAGs folder holding copies of these example DAG files."""
    import shutil

    examples = Path(__file__).resolve().parent.parent / "example_dags"
    target.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copy(examples / f"{name}.py", target / f"{name}.py")
    return target


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class AirflowDeployment:
    def __init__(
        self,
        home: Path,
        *,
        dags_folder: Path,
        db_url: str | None = None,
        env: dict[str, str] | None = None,
        components: tuple[str, ...] = COMPONENTS,
        parallelism: int = 8,
    ):
        self.home = home
        self.home.mkdir(parents=True, exist_ok=True)
        self.api_port = free_port()
        self.components = components
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self._token: str | None = None
        self.env = {
            **{
                k: v
                for k, v in os.environ.items()
                if not k.startswith(("AIRFLOW_CONN_", "AIRFLOW_VAR_", "AIRFLOW__"))
            },
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": str(parallelism),
            "AIRFLOW__CORE__FERNET_KEY": "ZGVwbG95bWVudC10ZXN0LWZlcm5ldC1rZXktMDAwMDA=",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": db_url or f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.api_port),
            # One process, no uvicorn supervisor: with [api] workers > 1 (default 4), uvicorn kills
            # and restarts a worker that does not answer its health check within 5 s, and on a busy
            # 2-core machine Airflow 3.0.6's workers never finish importing in time (the API server
            # never comes up: "Child process [...] died" forever).
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{self.api_port}",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{self.api_port}/execution/",
            "AIRFLOW__API_AUTH__JWT_SECRET": "deployment-test-jwt-secret-0000000000000000",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "5",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
            "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            **(env or {}),
        }

    # --- lifecycle -------------------------------------------------------------------------------

    def airflow(
        self, *args: str, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(BIN / "airflow"), *args], env=self.env, text=True, capture_output=True, timeout=timeout
        )
        if check and result.returncode != 0:
            raise RuntimeError(
                f"airflow {' '.join(args)} failed ({result.returncode}):\n{result.stderr[-3000:]}"
            )
        return result

    def python(
        self, code: str, *, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-c", code], env=self.env, text=True, capture_output=True, timeout=timeout
        )
        if check and result.returncode != 0:
            raise RuntimeError(f"python -c failed ({result.returncode}):\n{result.stderr[-3000:]}")
        return result

    def start(self) -> AirflowDeployment:
        self.airflow("db", "migrate", timeout=300)
        for component in self.components:
            log = open(self.home / f"{component}.log", "wb")  # noqa: SIM115 - closed with the process
            self.processes[component] = subprocess.Popen(
                [str(BIN / "airflow"), component],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._wait_for_api()
        return self

    def _wait_for_api(self, timeout: float = 120) -> None:
        import requests

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, proc in self.processes.items():
                if proc.poll() is not None:
                    raise RuntimeError(f"{name} exited early:\n{self.component_log(name)[-3000:]}")
            try:
                if requests.get(f"http://127.0.0.1:{self.api_port}/api/v2/monitor/health", timeout=2).ok:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.5)
        raise RuntimeError("the API server did not come up")

    def stop(self) -> None:
        for proc in self.processes.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for proc in self.processes.values():
            try:
                proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

    def __enter__(self) -> AirflowDeployment:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def component_log(self, name: str) -> str:
        return (self.home / f"{name}.log").read_text(errors="replace")

    # --- DAG runs --------------------------------------------------------------------------------------

    def _auth_headers(self) -> dict[str, str]:
        """Airflow 3.1 wants a token even when every user is an admin: SimpleAuthManager's
        no-credentials token route gives one then (3.0, 3.2+ also accept no token)."""
        import requests

        if self._token is None:
            response = requests.get(f"http://127.0.0.1:{self.api_port}/auth/token", timeout=60)
            self._token = response.json()["access_token"] if response.ok else ""
        return {"Authorization": f"Bearer {self._token}"} if self._token else {}

    def wait_for_dag(self, dag_id: str, timeout: float = 180) -> None:
        import requests

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            response = requests.get(
                f"http://127.0.0.1:{self.api_port}/api/v2/dags/{dag_id}",
                headers=self._auth_headers(),
                timeout=30,
            )
            if response.ok:
                return
            time.sleep(1)
        raise RuntimeError(
            f"DAG {dag_id} was not parsed in time:\n{self.component_log('dag-processor')[-3000:]}"
        )

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        """Call the deployment's REST API (every user is an admin here: SimpleAuthManager)."""
        import requests

        response = requests.request(
            method,
            f"http://127.0.0.1:{self.api_port}/api/v2{path}",
            timeout=60,
            headers=self._auth_headers(),
            **kwargs,
        )
        if not response.ok:
            raise RuntimeError(f"{method} {path} -> {response.status_code}: {response.text[:2000]}")
        return response.json() if response.content else None

    def trigger(self, dag_id: str, *, conf: dict[str, Any] | None = None, run_id: str | None = None) -> str:
        """Start a DAG run. With SQLite, the API server's write can lose to a running task's and
        answer 500 "Database error" (database locked past its 5 s busy timeout: seen once in CI);
        the run id is ours, so asking again cannot start a second run (a 409 means the first one
        did)."""
        import uuid

        run_id = run_id or f"manual__test_{uuid.uuid4().hex}"
        body: dict[str, Any] = {"logical_date": None, "conf": conf or {}, "dag_run_id": run_id}
        for attempt in range(1, 5):
            try:
                return self.api("POST", f"/dags/{dag_id}/dagRuns", json=body)["dag_run_id"]
            except RuntimeError as exc:
                if attempt > 1 and "-> 409" in str(exc):
                    return run_id
                if "-> 500" not in str(exc) or "Database error" not in str(exc) or attempt == 4:
                    raise
                time.sleep(2 * attempt)
        raise AssertionError("unreachable")

    def run_states(self, dag_id: str) -> dict[str, str]:
        runs = self.api("GET", f"/dags/{dag_id}/dagRuns", params={"limit": 1000})["dag_runs"]
        return {run["dag_run_id"]: run["state"] for run in runs}

    def wait_for_runs(self, dag_id: str, run_ids: list[str], timeout: float = 300) -> dict[str, str]:
        deadline = time.monotonic() + timeout
        states: dict[str, str] = {}
        while time.monotonic() < deadline:
            states = {r: s for r, s in self.run_states(dag_id).items() if r in run_ids}
            if len(states) == len(run_ids) and all(s in ("success", "failed") for s in states.values()):
                return states
            time.sleep(1)
        raise RuntimeError(
            f"runs of {dag_id} did not finish in time: {states}\n{self.component_log('scheduler')[-3000:]}"
        )

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str]:
        tis = self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"]
        return {ti["task_id"]: ti["state"] for ti in tis}

    def log_files(self) -> list[Path]:
        return [p for p in (self.home / "logs").rglob("*") if p.is_file()] + [
            self.home / f"{c}.log" for c in self.components
        ]
