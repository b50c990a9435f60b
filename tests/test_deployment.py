"""A whole Airflow deployment on PostgreSQL running the example DAGs in deferrable mode.

API server, scheduler (LocalExecutor), DAG processor and triggerer, with a metadata database of
its own on the PostgreSQL server on 127.0.0.1:5432. Several runs at once; the triggerer does the
waiting; the emulator counts what OAC was asked to do.
"""

from __future__ import annotations

import json
import threading
import time
import uuid

import pytest

from tests.deployment import AirflowDeployment, example_dags_folder
from tests.test_real_scheduler import PASSWORD, cli_login, stored_secrets

pytestmark = [pytest.mark.deployment, pytest.mark.postgres, pytest.mark.timeout(1200)]

RUNS = 4


@pytest.fixture
def postgres_database():
    psycopg2 = pytest.importorskip("psycopg2")
    name = f"oac_deploy_{uuid.uuid4().hex[:10]}"
    admin = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname="postgres")
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    yield f"postgresql+psycopg2://postgres@127.0.0.1:5432/{name}"
    with admin.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        )
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
    admin.close()


class SlotSampler(threading.Thread):
    """Samples how many task instances are running (holding a worker slot) and deferred."""

    def __init__(self, deployment: AirflowDeployment):
        super().__init__(daemon=True)
        self.deployment = deployment
        self.samples: list[tuple[int, int]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        import sqlalchemy

        engine = sqlalchemy.create_engine(self.deployment.env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
        query = sqlalchemy.text(
            "SELECT state, count(*) FROM task_instance WHERE task_id IN ('backup', 'restore') GROUP BY state"
        )
        while not self.stop.is_set():
            with engine.connect() as connection:
                counts = dict(connection.execute(query).all())
            self.samples.append((counts.get("running", 0), counts.get("deferred", 0)))
            time.sleep(0.25)
        engine.dispose()


def test_deferrable_example_dags_on_postgres_run_in_parallel_without_duplicates(
    emulator, tmp_path, postgres_database
):
    deployment = AirflowDeployment(
        tmp_path / "home",
        dags_folder=example_dags_folder(tmp_path / "dags"),
        db_url=postgres_database,
        env={
            "AIRFLOW_PROVIDER_OAC_STATE_DIR": str(tmp_path / "state"),
            "AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE": "True",
        },
    )
    deployment.airflow("db", "migrate", timeout=300)
    cli_login(deployment, emulator)
    emulator.control.configure(work_request_seconds=15)
    deployment.airflow("variables", "set", "oac_snapshot_password", PASSWORD)
    started = time.monotonic()
    with deployment:
        deployment.wait_for_dag("oac_pre_deployment_backup")
        deployment.wait_for_dag("oac_rollback")
        sampler = SlotSampler(deployment)
        sampler.start()
        t0 = time.monotonic()
        backups = [deployment.trigger("oac_pre_deployment_backup") for _ in range(RUNS)]
        backup_states = deployment.wait_for_runs("oac_pre_deployment_backup", backups, timeout=600)
        backup_seconds = time.monotonic() - t0
        names = [snapshot["name"] for snapshot in emulator.control.snapshots()]
        t0 = time.monotonic()
        refreshes = [deployment.trigger("oac_rollback", conf={"snapshot_name": name}) for name in names[:2]]
        refresh_states = deployment.wait_for_runs("oac_rollback", refreshes, timeout=600)
        refresh_seconds = time.monotonic() - t0
        sampler.stop.set()
        sampler.join()
        triggerer_log = deployment.component_log("triggerer")

    assert set(backup_states.values()) == {"success"}, backup_states
    assert set(refresh_states.values()) == {"success"}, refresh_states
    counters = emulator.control.counters()
    # No duplicates: one snapshot per run, one restore per refresh run, by the emulator's own count.
    assert counters["snapshots_created"] == RUNS
    assert len(set(names)) == RUNS
    assert counters["restores_started"] == 2
    assert counters["spent_refresh_token_presentations"] == 0
    # The triggerer did the waiting: every task deferred, and no task held a slot while all waited.
    trigger_logs = list((tmp_path / "home" / "logs").rglob("*.trigger.*.log")) or [
        p for p in (tmp_path / "home" / "logs").rglob("*.log") if "trigger" in p.name
    ]
    assert "OACWorkRequestTrigger" in triggerer_log or trigger_logs, "no trigger ran"
    max_deferred = max(d for _, d in sampler.samples)
    running_while_all_deferred = [r for r, d in sampler.samples if d >= RUNS]
    assert max_deferred >= RUNS, sampler.samples
    assert running_while_all_deferred and max(running_while_all_deferred) == 0

    # No secret in any log of the deployment either.
    secrets = {"snapshot password": PASSWORD, **stored_secrets(deployment)}
    texts = {str(p): p.read_text(errors="replace") for p in deployment.log_files()}
    hits = [(w, p) for p, t in texts.items() for w, v in secrets.items() if v and v in t]
    assert hits == []
    figures = {
        "runs": RUNS + 2,
        "backup_runs_seconds": round(backup_seconds, 1),
        "refresh_runs_seconds": round(refresh_seconds, 1),
        "max_deferred_at_once": max_deferred,
        "max_running_while_all_deferred": max(running_while_all_deferred),
        "snapshots_created": counters["snapshots_created"],
        "restores_started": counters["restores_started"],
        "refreshes": counters["refreshes"],
        "total_seconds": round(time.monotonic() - started, 1),
        "log_files_scanned": len(texts),
    }
    print("deployment figures:", json.dumps(figures))
