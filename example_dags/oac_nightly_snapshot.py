"""Nightly snapshot: one snapshot per run, named after the run's ``run_after`` time.

``run_after`` is set once per run, also for runs triggered by hand (which have no logical date in
Airflow 3), so every try of a run uses the same name and ``if_exists="reuse"`` makes a retry or a
re-run return that run's snapshot instead of taking another. The microseconds keep two runs
triggered in the same second apart.

The README's minimal DAG is the marked region of this file (tests/test_example_dags.py checks).
Needs the ``oac_default`` connection with a ``bucket`` extra and the Variable ``oac_snapshot_password``.
"""

from __future__ import annotations

# [START howto_oac_nightly_snapshot]
from datetime import datetime

from airflow.sdk import dag

from airflow_provider_oac.operators.snapshot import OACCreateSnapshotOperator


@dag(schedule="@daily", start_date=datetime(2026, 1, 1), catchup=False, default_args={"retries": 2})
def oac_nightly_snapshot():
    OACCreateSnapshotOperator(
        task_id="snapshot",
        name="nightly-{{ dag_run.run_after.strftime('%Y%m%dT%H%M%S%f') }}",  # also on manual runs
        password="{{ var.value.oac_snapshot_password }}",  # masked in logs
        bucket="oac-snapshots",  # or leave out: the connection's `bucket` extra
        if_exists="reuse",  # a retry or re-run of the same run returns that run's snapshot
        timeout=3600,
    )


oac_nightly_snapshot()
# [END howto_oac_nightly_snapshot]
