"""The secret scan: known refresh tokens, access tokens and a snapshot password, used through the
CLI and by the example DAGs under a real scheduler (waiting in the worker, then deferred), with
failures on purpose; then every log file, XCom value, rendered template field, CLI output and
emulator log line is searched for them. Target: 0 hits.

Reuses the deployment helpers of tests/test_real_scheduler.py (login through the CLI, the tokens
the deployment holds, the XCom and rendered-field texts of its database).
"""

from __future__ import annotations

import logging
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.deployment import BIN, AirflowDeployment, example_dags_folder
from tests.test_real_scheduler import PASSWORD, cli_login, database_texts, stored_secrets

API = "/api/20210901"


@dataclass(slots=True)
class Scan:
    places: dict[str, str] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def hits(self) -> list[tuple[str, str]]:
        return [
            (what, place)
            for place, text in self.places.items()
            for what, value in self.secrets.items()
            if value and value in text
        ]

    def kinds(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for place in self.places:
            kind = place.split(":", 1)[0]
            counts[kind] = counts.get(kind, 0) + 1
        return counts


class EmulatorLog(logging.Handler):
    """The emulator's request log lines (``log_requests``), as an operator of it would see them."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def _cli(
    deployment: AirflowDeployment, *args: str, env: dict[str, str] | None = None, stdin: str = ""
) -> str:
    result = subprocess.run(
        [str(BIN / "airflow-oac"), *args],
        env={**deployment.env, **(env or {})},
        text=True,
        input=stdin,
        capture_output=True,
        timeout=300,
    )
    return f"$ airflow-oac {' '.join(args)}\n(exit {result.returncode})\n{result.stdout}\n{result.stderr}"


def run_deployment(emulator: Any, home: Path, *, deferrable: bool, scan: Scan) -> None:
    """The example DAGs under a real scheduler, with one run failing, and the CLI around them."""
    label = "deferrable" if deferrable else "sync"
    deployment = AirflowDeployment(
        home,
        dags_folder=example_dags_folder(home / "dags"),
        env={
            "AIRFLOW_PROVIDER_OAC_STATE_DIR": str(home / "state"),
            "AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE": str(deferrable),
        },
    )
    deployment.airflow("db", "migrate", timeout=300)
    cli_login(deployment, emulator)
    deployment.airflow("variables", "set", "oac_snapshot_password", PASSWORD)
    password_env = {"OAC_SCAN_PASSWORD": PASSWORD}
    outputs = [_cli(deployment, "status")]
    with deployment:
        deployment.wait_for_dag("oac_pre_deployment_backup")
        deployment.wait_for_dag("oac_rollback")
        backup = deployment.trigger("oac_pre_deployment_backup")
        deployment.wait_for_runs("oac_pre_deployment_backup", [backup])
        name = emulator.control.snapshots()[-1]["name"]
        refresh = deployment.trigger("oac_rollback", conf={"snapshot_name": name})
        deployment.wait_for_runs("oac_rollback", [refresh])
        # Failures: an unknown snapshot, and OAC failing the restore's work request.
        missing = deployment.trigger("oac_rollback", conf={"snapshot_name": "no-such-snapshot"})
        emulator.control.add_fault(
            f"POST {API}/system/actions/restoreSnapshot",
            "fail_work_request",
            times=5,
            message="Restore failed: the BAR file could not be decrypted",
        )
        failing = deployment.trigger("oac_rollback", conf={"snapshot_name": name})
        deployment.wait_for_runs("oac_rollback", [missing, failing])
        emulator.control.clear_faults()
    # The CLI around a deployment: status, snapshot commands (the password from the environment
    # and from stdin), a wrong password, the printed connection, and logout last.
    outputs += [
        _cli(deployment, "status"),
        _cli(deployment, "snapshots", "list"),
        _cli(deployment, "snapshots", "list", "--json"),
        _cli(
            deployment,
            *("snapshots", "create", "--name", f"scan-{label}", "--password-env", "OAC_SCAN_PASSWORD"),
            *("--poll-interval", "0.5"),
            env=password_env,
        ),
        _cli(
            deployment,
            *("snapshots", "restore", "--name", f"scan-{label}", "--password-stdin", "--yes"),
            *("--poll-interval", "0.5"),
            stdin=PASSWORD + "\n",
        ),
        _cli(
            deployment,
            *("snapshots", "restore", "--name", f"scan-{label}", "--password-env", "OAC_SCAN_WRONG"),
            *("--yes", "--poll-interval", "0.5"),
            env={"OAC_SCAN_WRONG": "Wrong-" + PASSWORD},
        ),
        _cli(deployment, "login", "--print-json"),
    ]
    scan.secrets.update({f"{label}: {k}": v for k, v in stored_secrets(deployment).items()})
    outputs.append(_cli(deployment, "logout"))
    scan.secrets[f"{label}: snapshot password"] = PASSWORD
    for index, text in enumerate(outputs):
        scan.places[f"CLI output: {label} #{index}"] = text
    for path in deployment.log_files():
        scan.places[f"log file: {path}"] = path.read_text(errors="replace")
    for place, text in database_texts(home / "airflow.db").items():
        kind = "XCom" if place.startswith("xcom") else "rendered template fields"
        scan.places[f"{kind}: {label} {place}"] = text
    task_logs = [p for p in scan.places if "/logs/dag_id=" in p and f"/{home.name}/" in p]
    if not task_logs:
        scan.notes.append(f"{label}: no task log found (the scan would prove nothing)")


def run_scan(emulator: Any, work_dir: Path) -> Scan:
    """Both deployments and the emulator's own request log; the places searched and the secrets."""
    scan = Scan()
    handler = EmulatorLog()
    emulator_logger = logging.getLogger("airflow_provider_oac.emulator")
    emulator_logger.addHandler(handler)
    previous_level = emulator_logger.level
    emulator_logger.setLevel(logging.INFO)
    try:
        for deferrable in (False, True):
            emulator.control.reset()
            emulator.control.configure(log_requests=True, work_request_seconds=2)
            run_deployment(
                emulator,
                work_dir / ("deferrable" if deferrable else "sync"),
                deferrable=deferrable,
                scan=scan,
            )
    finally:
        emulator_logger.removeHandler(handler)
        emulator_logger.setLevel(previous_level)
    scan.places["emulator log: request lines"] = "\n".join(handler.lines)
    if not handler.lines:
        scan.notes.append("the emulator logged no request line")
    os.environ.pop("OAC_SCAN_PASSWORD", None)
    return scan
