"""Environment refresh: every week, copy production's content into the test instance.

A snapshot is taken on PROD, its BAR file registered on TEST, a safety snapshot of TEST taken,
then TEST restored from PROD's snapshot; TEST's temporary registration is removed afterwards. A
``notify`` task then tells people that TEST now holds production's content (replace the print
with your e-mail or chat notifier).

Needs two connections, one login each (``airflow-oac login --conn-id oac_prod ...`` and
``--conn-id oac_test``): they may sit in different identity domains. Both name the shared
bucket in their ``bucket`` extra. The Variable ``oac_refresh_password`` protects the BAR files
(Oracle's rule: 14-50 characters with upper and lower case, a digit and a special character).
Downstream DAGs can be scheduled on ``oac_refresh_asset("oac_test")``.
"""

from __future__ import annotations

# [START howto_oac_environment_refresh]
from datetime import datetime

from airflow.sdk import dag, task

from airflow_provider_oac.assets import oac_refresh_asset
from airflow_provider_oac.operators.copy import OACCopySnapshotOperator

RUN = "{{ dag_run.run_after.strftime('%Y%m%dT%H%M%S%f') }}"


@dag(
    schedule="0 4 * * SUN",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["oac", "example"],
    default_args={"retries": 2},
)
def oac_environment_refresh():
    refresh = OACCopySnapshotOperator(
        task_id="refresh_test_from_prod",
        source_conn_id="oac_prod",
        target_conn_id="oac_test",
        snapshot_name=f"prod-for-test-{RUN}",
        safety_snapshot_name=f"test-before-refresh-{RUN}",
        password="{{ var.value.oac_refresh_password }}",
        timeout=4 * 3600,
        outlets=[oac_refresh_asset("oac_test")],
    )

    @task
    def notify(result: dict) -> str:
        # The notify point: send this to the people who use TEST.
        message = (
            f"TEST ({result['target_url']}) now holds PROD's content of snapshot "
            f"{result['source_snapshot_name']!r}. To undo: restore safety snapshot "
            f"{result['safety_snapshot_id']} on TEST."
        )
        print(message)
        return message

    notify(refresh.output)


oac_environment_refresh()
# [END howto_oac_environment_refresh]
