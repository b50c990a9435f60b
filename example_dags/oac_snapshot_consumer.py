"""Runs after each new OAC snapshot: reports it, then applies the retention rule.

Scheduled on the snapshots Asset of the ``oac_default`` connection, ``oac://oac_default/snapshots``.
A snapshot task announces itself by listing that asset in its outlets; its asset event then
carries ``{"snapshot_id", "name", "oac_url"}``::

    from airflow_provider_oac.assets import oac_snapshots_asset

    OACCreateSnapshotOperator(task_id="backup", ..., outlets=[oac_snapshots_asset()])

Needs the ``oac_default`` connection (``airflow-oac login``).
"""

from __future__ import annotations

# [START howto_oac_snapshot_consumer]
from datetime import datetime, timedelta

from airflow.sdk import dag, task

from airflow_provider_oac.assets import oac_snapshots_asset
from airflow_provider_oac.operators.lifecycle import OACPruneSnapshotsOperator

SNAPSHOTS = oac_snapshots_asset("oac_default")


@dag(
    dag_id="oac_snapshot_consumer",
    schedule=[SNAPSHOTS],
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["oac", "example"],
)
def oac_snapshot_consumer():
    @task
    def report(triggering_asset_events=None) -> list[str]:
        # One run may stand for several snapshots: Airflow batches events that arrive close together.
        snapshot_ids = []
        for event in (triggering_asset_events or {}).get(SNAPSHOTS, []):
            print(f"New OAC snapshot {event.extra.get('name')!r}: id {event.extra.get('snapshot_id')}")
            snapshot_ids.append(event.extra.get("snapshot_id"))
        return snapshot_ids

    # Keep a week of pre-deployment backups, and any younger than 30 days.
    prune = OACPruneSnapshotsOperator(
        task_id="prune",
        name_pattern="pre-deploy-*",
        keep_last=7,
        max_age=timedelta(days=30),
    )

    report() >> prune


oac_snapshot_consumer()
# [END howto_oac_snapshot_consumer]
