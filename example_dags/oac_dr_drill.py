"""Disaster-recovery drill: bring the standby instance, in another region, up to the primary.

What Oracle's full-stack DR scripts do by hand (create on the primary, register on the standby,
restore), as one task with the password in a Variable instead of the script. The standby finds
the primary's BAR file through ``bucketOciRegion`` / ``bucketOciNamespace``: the copy names the
primary bucket's region and namespace, taken from the ``oac_primary`` connection's
``bucket_region`` and ``bucket_namespace`` extras. The drill's snapshot and BAR file are deleted
afterwards (``delete_bar=True``).

Needs the connections ``oac_primary`` and ``oac_standby`` (one ``airflow-oac login`` each) and the
Variable ``oac_dr_password``. Trigger it by hand, or schedule it for your drill calendar.
"""

from __future__ import annotations

# [START howto_oac_dr_drill]
from datetime import datetime

from airflow.sdk import dag

from airflow_provider_oac.assets import oac_refresh_asset
from airflow_provider_oac.operators.copy import OACCopySnapshotOperator


@dag(
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["oac", "example", "dr"],
    default_args={"retries": 2},
)
def oac_dr_drill():
    OACCopySnapshotOperator(
        task_id="primary_to_standby",
        source_conn_id="oac_primary",
        target_conn_id="oac_standby",
        snapshot_name="dr-drill-{{ dag_run.run_after.strftime('%Y%m%dT%H%M%S%f') }}",
        password="{{ var.value.oac_dr_password }}",
        delete_bar=True,  # a drill leaves nothing behind in the bucket
        timeout=4 * 3600,
        outlets=[oac_refresh_asset("oac_standby")],
    )


oac_dr_drill()
# [END howto_oac_dr_drill]
