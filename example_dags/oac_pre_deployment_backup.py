"""Pre-deployment backup: snapshot OAC, then deploy.

The snapshot name carries the run's ``run_after`` time (set once per run, for manual runs too,
which have no logical date in Airflow 3), so a retry or a re-run of the same run finds the same
snapshot instead of making another. Microseconds keep two runs triggered in the same second
apart: OAC lists a snapshot only once it exists, so a name check cannot see a create in flight. The deploy step gets the snapshot id from XCom, so a
rollback knows exactly what to restore.

Needs: the ``oac_default`` connection (``airflow-oac login``) with a ``bucket`` extra, and the
Variable ``oac_snapshot_password`` (its name contains "password", so Airflow masks it). Oracle
requires 14 to 50 characters with a number, an uppercase and a lowercase letter and a special
character; a weaker password fails the task before any call.
"""

from __future__ import annotations

# [START howto_oac_pre_deployment_backup]
from datetime import datetime

from airflow.sdk import dag, task

from airflow_provider_oac.operators.snapshot import OACCreateSnapshotOperator


@dag(
    dag_id="oac_pre_deployment_backup",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["oac", "example"],
    default_args={"retries": 2},
)
def oac_pre_deployment_backup():
    backup = OACCreateSnapshotOperator(
        task_id="backup",
        name="pre-deploy-{{ dag_run.run_after.strftime('%Y%m%dT%H%M%S%f') }}",
        password="{{ var.value.oac_snapshot_password }}",
        if_exists="reuse",
        poll_interval=2,
        timeout=3600,
    )

    @task
    def deploy(snapshot_id: str) -> str:
        # Your deployment goes here (catalog import, dataset reload, ...). If it goes wrong,
        # restore `snapshot_id` with the oac_rollback DAG.
        print(f"Deploying; rollback point is OAC snapshot {snapshot_id}")
        return snapshot_id

    deploy(backup.output)


oac_pre_deployment_backup()
# [END howto_oac_pre_deployment_backup]
