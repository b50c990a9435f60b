"""Report the nightly snapshots taken in the day before each run.

The time window comes from the run's ``run_after``, which every run has (``data_interval_start``
is not set for runs triggered by hand in Airflow 3). Needs the ``oac_default`` connection.
"""

from __future__ import annotations

# [START howto_operator_oac_list_snapshots]
from datetime import datetime

from airflow.sdk import dag, task

from airflow_provider_oac.operators.lifecycle import OACListSnapshotsOperator


@dag(schedule="@daily", start_date=datetime(2026, 1, 1), catchup=False, tags=["oac", "example"])
def oac_snapshot_report():
    listed = OACListSnapshotsOperator(
        task_id="list",
        name_pattern="nightly-*",
        created_after="{{ (dag_run.run_after - macros.timedelta(days=1)).isoformat() }}",
    )

    @task
    def report(snapshots: list[dict]) -> list[str]:
        for snapshot in snapshots:
            print(snapshot["time_created"], snapshot["name"], snapshot["id"])
        return [snapshot["name"] for snapshot in snapshots]

    report(listed.output)


oac_snapshot_report()
# [END howto_operator_oac_list_snapshots]
