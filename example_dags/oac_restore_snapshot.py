"""Restore OAC from a snapshot, after taking a safety snapshot of the current state.

Trigger it with the name of the snapshot to restore, as ``airflow-oac snapshots list`` shows it::

    airflow dags trigger oac_restore_snapshot --conf '{"snapshot_name": "golden"}'

Needs the ``oac_default`` connection with a ``bucket`` extra (for the safety snapshot), the Variable
``oac_snapshot_password`` and a running triggerer (``deferrable=True``).
"""

from __future__ import annotations

# [START howto_operator_oac_restore_snapshot]
from datetime import datetime

from airflow.sdk import Param, dag

from airflow_provider_oac.operators.snapshot import OACRestoreSnapshotOperator


@dag(
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["oac", "example"],
    params={"snapshot_name": Param("golden", type="string", minLength=1)},
)
def oac_restore_snapshot():
    OACRestoreSnapshotOperator(
        task_id="restore",
        snapshot_name="{{ params.snapshot_name }}",  # or snapshot_id="..."
        password="{{ var.value.oac_snapshot_password }}",
        # Snapshot the current state first, so the restore itself can be undone:
        safety_snapshot_name="before-restore-{{ dag_run.run_after.strftime('%Y%m%dT%H%M%S%f') }}",
        timeout=3 * 3600,
        deferrable=True,  # wait in the triggerer, not in a worker slot
    )


oac_restore_snapshot()
# [END howto_operator_oac_restore_snapshot]
