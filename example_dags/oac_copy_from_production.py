"""Register a BAR file another OAC instance exported into a shared bucket, then restore it here.

This is an environment refresh: production's content copied into this (test) instance. Needs the
``oac_default`` connection of the target instance and the Variable ``oac_prod_snapshot_password``
(the password production's snapshot was made with).
"""

from __future__ import annotations

# [START howto_operator_oac_register_snapshot]
from datetime import datetime

from airflow.sdk import dag

from airflow_provider_oac.operators.lifecycle import OACRegisterSnapshotOperator
from airflow_provider_oac.operators.snapshot import OACRestoreSnapshotOperator


@dag(
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["oac", "example"],
    default_args={"retries": 2},
)
def oac_copy_from_production():
    registered = OACRegisterSnapshotOperator(
        task_id="register",
        name="from-prod-golden",
        bar_uri="file:///golden.bar",  # the object in the bucket
        bucket="oac-shared-snapshots",
        if_exists="reuse",
    )
    OACRestoreSnapshotOperator(
        task_id="restore",
        snapshot_id=registered.output,
        password="{{ var.value.oac_prod_snapshot_password }}",
    )


oac_copy_from_production()
# [END howto_operator_oac_register_snapshot]
