"""Keep the OAC login of ``oac_default`` alive while no other OAC DAG runs.

Why every 12 hours: IAM's refresh token expires a fixed time after the last refresh (7 days by
default; the connection's ``refresh_token_lifetime`` extra if your identity domain differs), and
every refresh starts that time again. Refreshing every 12 hours leaves about 14 runs per
lifetime, so an idle deployment stays logged in for months, and the login survives IAM outages,
a paused DAG or a stopped scheduler of up to six days. Each run costs one token request, far
below IAM's per-domain rate limits. Schedule it at least twice per lifetime if you shorten it.

A temporary IAM failure is retried (3 times, 30 minutes apart); a login that is already dead
fails at once and names the command to run: ``airflow-oac login --conn-id oac_default``. Add one
task per connection if you have several.
"""

from __future__ import annotations

# [START howto_operator_oac_keep_alive]
from datetime import datetime, timedelta

from airflow.sdk import dag

from airflow_provider_oac.operators.keepalive import OACKeepAliveOperator


@dag(
    dag_id="oac_keep_alive",
    schedule=timedelta(hours=12),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["oac", "example"],
    default_args={"retries": 3, "retry_delay": timedelta(minutes=30)},
)
def oac_keep_alive():
    OACKeepAliveOperator(task_id="refresh_login", oac_conn_id="oac_default")


oac_keep_alive()
# [END howto_operator_oac_keep_alive]
