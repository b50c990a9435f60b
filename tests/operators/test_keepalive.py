"""OACKeepAliveOperator and the example DAG oac_keep_alive, against the emulator.

Months pass on the emulator's clock (``advance_clock``), never in real time.
"""

from __future__ import annotations

import time

import pytest

from airflow_provider_oac.hooks.oac import OACHook
from airflow_provider_oac.hooks.token_manager import forget_process_cache
from airflow_provider_oac.operators.keepalive import OACKeepAliveOperator
from tests.conftest import REPO
from tests.helpers import dag_bag, login

pytestmark = pytest.mark.usefixtures("airflow_db")

DAY = 24 * 3600.0


@pytest.fixture(autouse=True)
def state_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("AIRFLOW_PROVIDER_OAC_STATE_DIR", str(tmp_path / "state"))
    forget_process_cache()
    yield
    forget_process_cache()


def keep_alive(conn_id: str):
    return OACKeepAliveOperator(task_id="refresh_login", oac_conn_id=conn_id)


def test_the_example_dag_refreshes_once_and_returns_the_new_expiry(emulator):
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    login(emulator, "oac_default")
    dag = dag_bag(REPO / "example_dags" / "oac_keep_alive.py").get_dag("oac_keep_alive")
    run = dag.test()
    assert {ti.task_id: ti.state for ti in run.get_task_instances()} == {"refresh_login": "success"}
    assert emulator.control.counters()["refreshes"] == 1
    with create_session() as session:
        row = (
            session.query(XComModel)
            .filter_by(run_id=run.run_id, task_id="refresh_login", key="return_value")
            .one()
        )
        expires = XComModel.deserialize_value(row)
    expected = time.strftime("%Y-%m-%dT%H", time.gmtime(time.time() + 7 * DAY))
    assert expires.startswith(expected)


def test_the_example_dag_runs_every_12_hours_well_inside_the_7_day_lifetime():
    from datetime import timedelta

    dag = dag_bag(REPO / "example_dags" / "oac_keep_alive.py").get_dag("oac_keep_alive")
    from airflow_provider_oac.version_compat import AIRFLOW_V_3_2_PLUS

    delta = dag.timetable.delta if AIRFLOW_V_3_2_PLUS else dag.timetable._delta  # public from 3.2
    assert delta == timedelta(hours=12)
    assert dag.default_args["retries"] >= 1


def test_each_run_refreshes_even_while_the_access_token_is_fresh(emulator):
    login(emulator, "oac_ka_twice")
    OACHook("oac_ka_twice").get_access_token()
    keep_alive("oac_ka_twice").execute({})
    keep_alive("oac_ka_twice").execute({})
    counters = emulator.control.counters()
    assert counters["refreshes"] == 3
    assert counters["spent_refresh_token_presentations"] == 0


def test_a_refresh_within_each_lifetime_keeps_an_idle_login_alive_for_three_months(emulator):
    from airflow.providers.common.compat.sdk import AirflowFailException

    # Six days apart is the slowest a 7-day lifetime allows; the example DAG runs every 12 hours.
    emulator.control.configure(reuse_detection=True)
    login(emulator, "oac_ka_months")
    for _ in range(15):
        emulator.control.advance_clock(6 * DAY)
        keep_alive("oac_ka_months").execute({})
    assert emulator.control.counters()["refreshes"] == 15
    assert [entry["active"] for entry in emulator.control.logins()] == [True]
    # Without the keep-alive, the same login dies after IAM's 7 days: the check above can fail.
    emulator.control.advance_clock(8 * DAY)
    with pytest.raises(AirflowFailException, match="has expired or was revoked"):
        keep_alive("oac_ka_months").execute({})


def test_a_dead_login_fails_the_keep_alive_with_one_line_naming_the_command(emulator):
    from airflow.providers.common.compat.sdk import AirflowFailException

    login(emulator, "oac_ka_dead")
    emulator.control.advance_clock(8 * DAY)
    with pytest.raises(AirflowFailException) as excinfo:
        keep_alive("oac_ka_dead").execute({})
    message = str(excinfo.value)
    assert "'oac_ka_dead'" in message
    assert "airflow-oac login --conn-id oac_ka_dead" in message
    assert "\n" not in message


def test_the_keep_alive_logs_the_new_expiry_and_warns_when_the_lifetime_is_under_a_day(emulator, capfd):
    login(emulator, "oac_ka_short", refresh_token_lifetime=10 * 3600)
    keep_alive("oac_ka_short").execute({})
    out = capfd.readouterr().out
    assert "Refreshed the OAC login of connection 'oac_ka_short': it now lasts until" in out
    assert "expires at" in out and "airflow-oac login --conn-id oac_ka_short" in out


def test_the_keep_alive_does_not_warn_with_a_week_left(emulator, capfd):
    login(emulator, "oac_ka_week")
    keep_alive("oac_ka_week").execute({})
    out = capfd.readouterr().out
    assert "it now lasts until" in out
    assert "expires at" not in out
