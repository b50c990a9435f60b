"""Delete every snapshot of a name, and its BAR files.

Trigger it with the name, as ``airflow-oac snapshots list`` shows it::

    airflow dags trigger oac_delete_snapshot --conf '{"snapshot_name": "scratch"}'

Needs the ``oac_default`` connection.
"""

from __future__ import annotations

# [START howto_operator_oac_delete_snapshot]
from datetime import datetime

from airflow.sdk import Param, dag

from airflow_provider_oac.operators.lifecycle import OACDeleteSnapshotOperator


@dag(
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["oac", "example"],
    params={"snapshot_name": Param("scratch", type="string", minLength=1)},
)
def oac_delete_snapshot():
    OACDeleteSnapshotOperator(
        task_id="delete",
        snapshot_name="{{ params.snapshot_name }}",  # or snapshot_id="..."
        delete_storage=True,  # also delete the BAR files: irreversible
    )


oac_delete_snapshot()
# [END howto_operator_oac_delete_snapshot]
