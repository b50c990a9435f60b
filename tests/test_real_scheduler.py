"""The example DAGs under a real Airflow (scheduler, LocalExecutor, triggerer, API server).

Tasks run under Airflow's supervisor here, as in production: secrets masking applies and tasks
have no database access. These tests check what ``dag.test()`` cannot.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path

import pytest

from airflow_provider_oac.testing import cli_login_args
from tests.deployment import BIN, AirflowDeployment, example_dags_folder

pytestmark = [pytest.mark.scheduler, pytest.mark.timeout(900)]

PASSWORD = "Known-Snapshot-Pa55word-7f3a"


def cli_login(deployment: AirflowDeployment, emulator, *, iam_url: str | None = None) -> None:
    """``airflow-oac login`` against ``emulator`` into ``deployment``; ``iam_url`` replaces the
    emulator's IAM URL in the connection (a forwarder in front of it)."""
    emulator.control.configure(auto_approve=True, device_interval=1, work_request_seconds=2)
    result = subprocess.run(
        [
            str(BIN / "airflow-oac"),
            *cli_login_args(emulator, iam_url=iam_url),
            "--bucket",
            "real-scheduler-bucket",
        ],
        env=deployment.env,
        text=True,
        capture_output=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr


def stored_secrets(deployment: AirflowDeployment) -> dict[str, str]:
    """The refresh and access tokens this deployment holds now (connection and token store)."""
    code = """
import dataclasses, json
from airflow.models import Connection, Variable
from airflow.utils.session import create_session
from airflow_provider_oac.hooks.token_store import VARIABLE_PREFIX, record_from_text
with create_session() as s:
    conn = s.query(Connection).filter_by(conn_id="oac_default").one()
    rows = s.query(Variable).filter(Variable.key.like(VARIABLE_PREFIX + "oac_default__%")).all()
    records = [record_from_text("oac_default", r.val, conn.password) for r in rows]
    print(json.dumps({"login": conn.password, "records": [dataclasses.asdict(r) for r in records if r]}))
"""
    data = json.loads(deployment.python(code).stdout.strip().splitlines()[-1])
    secrets = {"initial refresh token": data["login"]}
    for record in data["records"]:
        secrets[f"refresh token gen {record['generation']}"] = record["refresh_token"]
        secrets[f"access token gen {record['generation']}"] = record["access_token"]
    return secrets


def database_texts(db_path: Path) -> dict[str, str]:
    """Every XCom value and rendered template field, as text."""
    with sqlite3.connect(db_path) as db:
        texts = {}
        for row in db.execute("SELECT dag_id, run_id, task_id, key, value FROM xcom"):
            texts[f"xcom {row[0]}/{row[2]}/{row[3]}"] = str(row[4])
        for row in db.execute(
            "SELECT dag_id, run_id, task_id, rendered_fields FROM rendered_task_instance_fields"
        ):
            texts[f"rendered fields {row[0]}/{row[2]}"] = str(row[3])
    return texts


def test_example_dags_under_a_real_scheduler_leak_no_secret(emulator, tmp_path):
    deployment = AirflowDeployment(
        tmp_path / "home",
        dags_folder=example_dags_folder(tmp_path / "dags"),
        env={
            "AIRFLOW_PROVIDER_OAC_STATE_DIR": str(tmp_path / "state"),
            # Waits in the worker, where task logs pass through the supervisor's masking
            # (the deployment test runs the deferrable path).
            "AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE": "False",
        },
    )
    deployment.airflow("db", "migrate", timeout=300)
    cli_login(deployment, emulator)
    deployment.airflow("variables", "set", "oac_snapshot_password", PASSWORD)
    with deployment:
        deployment.wait_for_dag("oac_pre_deployment_backup")
        backup_run = deployment.trigger("oac_pre_deployment_backup")
        assert deployment.wait_for_runs("oac_pre_deployment_backup", [backup_run]) == {backup_run: "success"}
        name = emulator.control.snapshots()[0]["name"]
        refresh_run = deployment.trigger("oac_rollback", conf={"snapshot_name": name})
        assert deployment.wait_for_runs("oac_rollback", [refresh_run]) == {refresh_run: "success"}
        # A failing run too: its error path must not leak either.
        failing_run = deployment.trigger("oac_rollback", conf={"snapshot_name": "no-such-snapshot"})
        assert deployment.wait_for_runs("oac_rollback", [failing_run]) == {failing_run: "failed"}

    counters = emulator.control.counters()
    assert counters["snapshots_created"] == 1
    assert counters["restores_started"] == 1
    assert counters["spent_refresh_token_presentations"] == 0

    secrets = {"snapshot password": PASSWORD, **stored_secrets(deployment)}
    places = {str(path): path.read_text(errors="replace") for path in deployment.log_files()}
    places.update(database_texts(tmp_path / "home" / "airflow.db"))
    task_logs = [p for p in places if "/logs/dag_id=" in p]
    assert len(task_logs) >= 3, sorted(places)
    hits = [
        (what, place)
        for place, text in places.items()
        for what, value in secrets.items()
        if value and value in text
    ]
    assert hits == [], hits
    # The password was rendered into the task's fields and masked there, not merely absent.
    rendered = [text for place, text in places.items() if place.startswith("rendered fields")]
    assert any("***" in text for text in rendered), rendered
    print(f"searched {len(places)} places for {len(secrets)} secrets: {len(hits)} hits")
