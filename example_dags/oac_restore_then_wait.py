"""Start a restore without waiting, then wait for its work request with the sensor.

Needs the ``oac_default`` connection, a snapshot named ``golden`` and the Variable
``oac_snapshot_password``.
"""

from __future__ import annotations

# [START howto_sensor_oac_work_request]
from datetime import datetime

from airflow.sdk import dag

from airflow_provider_oac.operators.snapshot import OACRestoreSnapshotOperator
from airflow_provider_oac.sensors.work_request import OACWorkRequestSensor


@dag(schedule=None, start_date=datetime(2026, 1, 1), catchup=False, tags=["oac", "example"])
def oac_restore_then_wait():
    restore = OACRestoreSnapshotOperator(
        task_id="restore",
        snapshot_name="golden",
        password="{{ var.value.oac_snapshot_password }}",
        wait_for_completion=False,  # returns the work request id at once
    )
    OACWorkRequestSensor(
        task_id="wait_for_restore",
        work_request_id=restore.output,  # or "{{ ti.xcom_pull(task_ids='restore', key='work_request_id') }}"
        poke_interval=30,
        timeout=3 * 3600,
        mode="reschedule",  # frees the worker slot between pokes; or deferrable=True
    )


oac_restore_then_wait()
# [END howto_sensor_oac_work_request]
