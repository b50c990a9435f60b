"""Rollback: restore this OAC instance from one of its own earlier snapshots.

Pick the snapshot with ``airflow-oac snapshots list`` (for example the ``pre-deploy-...`` snapshot
``oac_pre_deployment_backup`` took, whose id is also that run's ``backup`` XCom), then trigger::

    airflow dags trigger oac_rollback --conf '{"snapshot_name": "pre-deploy-20260131T120000123456"}'

The newest snapshot of that name is restored. Needs the ``oac_default`` connection and the
Variable ``oac_snapshot_password`` (the password the snapshot was made with).
"""

from __future__ import annotations

# [START howto_oac_rollback]
from datetime import datetime

from airflow.sdk import Param, dag

from airflow_provider_oac.operators.snapshot import OACRestoreSnapshotOperator


@dag(
    dag_id="oac_rollback",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["oac", "example"],
    params={
        "snapshot_name": Param(
            type="string", minLength=1, description="Snapshot to restore, from airflow-oac snapshots list"
        )
    },
)
def oac_rollback():
    OACRestoreSnapshotOperator(
        task_id="restore",
        snapshot_name="{{ params.snapshot_name }}",
        password="{{ var.value.oac_snapshot_password }}",
        poll_interval=2,
        timeout=3 * 3600,
    )


oac_rollback()
# [END howto_oac_rollback]
