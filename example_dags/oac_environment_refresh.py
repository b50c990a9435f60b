"""Environment refresh: restore OAC from a named snapshot (the newest of that name).

Trigger it with ``{"snapshot_name": "..."}`` as the run's conf, or rely on the default param.
Needs the ``oac_default`` connection and the Variable ``oac_snapshot_password``.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import Param, dag

from airflow_provider_oac.operators.snapshot import OACRestoreSnapshotOperator


@dag(
    dag_id="oac_environment_refresh",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["oac", "example"],
    params={"snapshot_name": Param("golden", type="string", description="Snapshot to restore")},
)
def oac_environment_refresh():
    OACRestoreSnapshotOperator(
        task_id="restore",
        snapshot_name="{{ params.snapshot_name }}",
        password="{{ var.value.oac_snapshot_password }}",
        poll_interval=2,
        timeout=3 * 3600,
    )


oac_environment_refresh()
