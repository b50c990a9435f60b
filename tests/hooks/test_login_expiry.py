"""Warnings before the login expires: in task logs, OACHook.test_connection() and airflow-oac status.

Time travels on an injected clock (the hook's TokenManager), never by sleeping.
"""

from __future__ import annotations

import time

import pytest

from airflow_provider_oac.hooks.oac import OACHook
from airflow_provider_oac.hooks.token_manager import TokenManager, forget_process_cache
from airflow_provider_oac.hooks.token_store import VariableTokenStore
from airflow_provider_oac.operators.keepalive import OACKeepAliveOperator
from airflow_provider_oac.sensors.work_request import OACWorkRequestSensor
from tests.helpers import cli, cli_login_args, login

pytestmark = pytest.mark.usefixtures("airflow_db")

HOUR = 3600.0
DAY = 24 * HOUR


@pytest.fixture(autouse=True)
def state_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("AIRFLOW_PROVIDER_OAC_STATE_DIR", str(tmp_path / "state"))
    forget_process_cache()
    yield
    forget_process_cache()


class Clock:
    def __init__(self):
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def clocked_hook(conn_id: str, clock: Clock) -> OACHook:
    hook = OACHook(conn_id)
    hook.token_manager = TokenManager(hook.config, VariableTokenStore(hook.config.refresh_token), clock=clock)
    return hook


def operator_on(hook: OACHook):
    operator = OACKeepAliveOperator(task_id="t", oac_conn_id=hook.oac_conn_id)
    operator.hook = hook
    return operator


def test_task_logs_warn_once_the_last_refresh_is_six_days_old(emulator, capfd):
    login(emulator, "oac_x_task")
    clock = Clock()
    hook = clocked_hook("oac_x_task", clock)
    hook.get_access_token()  # a refresh now: the login lasts 7 days from here
    operator = operator_on(hook)
    clock.now += 5 * DAY
    operator.warn_if_login_expiring()
    assert "expires at" not in capfd.readouterr().out
    clock.now += 1.5 * DAY
    operator.warn_if_login_expiring()
    out = capfd.readouterr().out
    assert "The OAC login of connection 'oac_x_task' expires at" in out
    assert "(12.0 h)" in out
    assert "airflow-oac login --conn-id oac_x_task" in out
    assert "OACKeepAliveOperator" in out


def test_without_any_refresh_the_warning_counts_from_the_login_time(emulator):
    login(emulator, "oac_x_login_time")
    clock = Clock()
    hook = clocked_hook("oac_x_login_time", clock)
    assert hook.login_expiry_warning() is None
    clock.now += 6.5 * DAY
    assert "expires at" in hook.login_expiry_warning()


def test_the_warning_uses_the_lifetime_set_on_the_connection(emulator):
    login(emulator, "oac_x_lifetime", refresh_token_lifetime=2 * DAY)
    clock = Clock()
    hook = clocked_hook("oac_x_lifetime", clock)
    hook.get_access_token()
    assert hook.login_expiry_warning() is None
    clock.now += DAY + HOUR
    assert "(23.0 h)" in hook.login_expiry_warning()


def test_a_warning_never_fails_the_task(emulator, capfd):
    login(emulator, "oac_x_broken")
    hook = OACHook("oac_x_broken")

    class BrokenStore(VariableTokenStore):
        def read(self, conn_id, login_key):
            raise ConnectionError("the API server went away")

    hook.token_manager = TokenManager(hook.config, BrokenStore())
    operator_on(hook).warn_if_login_expiring()  # no exception
    assert "expires at" not in capfd.readouterr().out


def test_test_connection_warns_when_the_login_expires_within_a_day(emulator):
    login(emulator, "oac_x_short", refresh_token_lifetime=10 * HOUR)
    ok, message = OACHook("oac_x_short").test_connection()
    assert ok, message
    assert "The OAC login of connection 'oac_x_short' expires at" in message
    assert "airflow-oac login --conn-id oac_x_short" in message


def test_test_connection_does_not_warn_with_a_week_left(emulator):
    login(emulator, "oac_x_week")
    ok, message = OACHook("oac_x_week").test_connection()
    assert ok, message
    assert "expires at" not in message


def test_status_warns_when_the_login_expires_within_a_day(emulator):
    emulator.control.configure(auto_approve=True, device_interval=1)
    args = [*cli_login_args(emulator, "oac_x_status"), "--refresh-token-lifetime", str(10 * HOUR)]
    assert cli(*args).returncode == 0
    result = cli("status", "--conn-id", "oac_x_status")
    assert result.returncode == 0, result.stderr
    assert "Warning: The OAC login of connection 'oac_x_status' expires at" in result.stdout
    assert "airflow-oac login --conn-id oac_x_status" in result.stdout


def test_status_does_not_warn_with_a_week_left(emulator):
    emulator.control.configure(auto_approve=True, device_interval=1)
    assert cli(*cli_login_args(emulator, "oac_x_status_ok")).returncode == 0
    result = cli("status", "--conn-id", "oac_x_status_ok")
    assert result.returncode == 0, result.stderr
    assert "Login expires:" in result.stdout
    assert "Warning" not in result.stdout


def test_an_oac_task_logs_the_warning_in_a_dag_run(emulator, capfd):
    from tests.helpers import write_dag

    emulator.control.configure(work_request_seconds=0.3)
    login(emulator, "oac_x_dag", refresh_token_lifetime=10 * HOUR)
    run = write_dag(
        "oac_test_expiry_warning",
        """
        OACCreateSnapshotOperator(
            task_id="backup", oac_conn_id="oac_x_dag", name="warned", password="Snapshot-Pa55word!",
            poll_interval=0.2,
        )
        """,
        imports="from airflow_provider_oac.operators.snapshot import OACCreateSnapshotOperator",
    ).test()
    assert {ti.task_id: ti.state for ti in run.get_task_instances()} == {"backup": "success"}
    out = capfd.readouterr().out
    warning = [
        line for line in out.splitlines() if "The OAC login of connection 'oac_x_dag' expires at" in line
    ]
    # structlog's "[warning" (3.1+) or the logging module's "WARNING -" (dag.test() on 3.0)
    assert warning and ("[warning" in warning[0] or " WARNING - " in warning[0]), warning


def test_the_sensor_logs_the_warning_too(emulator, capfd):
    emulator.control.configure(work_request_seconds=0)
    login(emulator, "oac_x_sensor", refresh_token_lifetime=10 * HOUR)
    accepted = OACHook("oac_x_sensor").create_snapshot("sensed", "Snapshot-Pa55word!")
    sensor = OACWorkRequestSensor(
        task_id="wait",
        oac_conn_id="oac_x_sensor",
        work_request_id=accepted.work_request_id,
        poke_interval=0.1,
    )
    sensor.execute({})
    assert "The OAC login of connection 'oac_x_sensor' expires at" in capfd.readouterr().out
