"""Retention for the nightly snapshots: keep the newest 7, and anything younger than 30 days.

Needs the ``oac_default`` connection.
"""

from __future__ import annotations

# [START howto_operator_oac_prune_snapshots]
from datetime import datetime, timedelta

from airflow.sdk import dag

from airflow_provider_oac.operators.lifecycle import OACPruneSnapshotsOperator


@dag(schedule="@daily", start_date=datetime(2026, 1, 1), catchup=False, tags=["oac", "example"])
def oac_retention():
    OACPruneSnapshotsOperator(
        task_id="prune",
        name_pattern="nightly-*",  # only the snapshots this DAG family owns
        keep_last=7,
        max_age=timedelta(days=30),  # keep the newest 7, and anything younger than 30 days
        delete_storage=True,  # also delete their BAR files
        dry_run=False,  # True: only log what would be deleted
    )


oac_retention()
# [END howto_operator_oac_prune_snapshots]
