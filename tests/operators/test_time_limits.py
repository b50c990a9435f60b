"""Time limits and kills (issue 15, item 3): ``execution_timeout`` bounds a wait in the worker and
a deferred one alike, and a kill or a time limit ends the wait with one line naming the work
request and how to check on it, keeping the record (OAC has no cancel call). The whole behaviour
in a real deployment: tests/test_time_limits_deployment.py."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest

from airflow_provider_oac.triggers.work_request import OUTCOME_TIMEOUT, OACWorkRequestTrigger
from airflow_provider_oac.version_compat import AIRFLOW_V_3_1_PLUS, AIRFLOW_V_3_2_PLUS
from tests.helpers import SNAPSHOT_PASSWORD, own_login

pytestmark = pytest.mark.usefixtures("airflow_db")


@pytest.fixture(autouse=True)
def logged_in(tmp_path, monkeypatch, emulator):
    # Work requests that do not end while a test looks.
    with own_login(emulator, "oac_limits", tmp_path, monkeypatch, work_request_seconds=3600):
        yield


class TaskInstanceStub:
    def __init__(self, started_seconds_ago: float, try_number: int = 1):
        self.start_date = datetime.now(timezone.utc) - timedelta(seconds=started_seconds_ago)
        self.try_number = try_number


def backup(**kwargs):
    from airflow_provider_oac.operators.snapshot import OACCreateSnapshotOperator

    return OACCreateSnapshotOperator(
        task_id="backup", oac_conn_id="oac_limits", name="limited", password=SNAPSHOT_PASSWORD,
        poll_interval=5, **kwargs,
    )  # fmt: skip


def test_a_deferral_is_cut_to_what_is_left_of_execution_timeout():
    """Airflow 3.0 to 3.3 leave a deferral's timeout as given, whatever execution_timeout says:
    the operator cuts the trigger's own timeout to what is left, and Airflow's deferral timeout to
    that plus two polls (a backstop)."""
    from airflow.providers.common.compat.sdk import TaskDeferred

    operator = backup(deferrable=True, execution_timeout=timedelta(seconds=30))
    trigger = OACWorkRequestTrigger("wr-1", "oac_limits", poll_interval=5)
    with pytest.raises(TaskDeferred) as deferred:
        operator.defer_to_trigger({"ti": TaskInstanceStub(10)}, trigger, None)
    assert deferred.value.trigger.timeout == pytest.approx(20, abs=1)
    assert deferred.value.timeout.total_seconds() == pytest.approx(30, abs=1)
    assert deferred.value.trigger.serialize()[1]["limited_by"] == "execution_timeout"

    # A longer timeout of the operator's own is cut too; a shorter one is kept as it is.
    trigger = OACWorkRequestTrigger("wr-1", "oac_limits", poll_interval=5, timeout=600)
    with pytest.raises(TaskDeferred) as deferred:
        operator.defer_to_trigger({"ti": TaskInstanceStub(10)}, trigger, timedelta(seconds=600))
    assert deferred.value.trigger.timeout == pytest.approx(20, abs=1)
    trigger = OACWorkRequestTrigger("wr-1", "oac_limits", poll_interval=5, timeout=5)
    with pytest.raises(TaskDeferred) as deferred:
        operator.defer_to_trigger({"ti": TaskInstanceStub(10)}, trigger, timedelta(seconds=5))
    assert deferred.value.trigger.timeout == 5
    assert deferred.value.timeout == timedelta(seconds=5)


def test_a_deferral_after_execution_timeout_passed_fails_at_once_naming_the_work_request():
    from airflow.providers.common.compat.sdk import AirflowTaskTimeout

    operator = backup(deferrable=True, execution_timeout=timedelta(seconds=30))
    trigger = OACWorkRequestTrigger("wr-9", "oac_limits", poll_interval=5)
    with pytest.raises(AirflowTaskTimeout, match="work request wr-9"):
        operator.defer_to_trigger({"ti": TaskInstanceStub(31)}, trigger, None)


def test_the_trigger_ends_at_its_timeout_not_a_poll_later(monkeypatch):
    """Neither the first wait's jitter (here its largest draw, a whole interval) nor a poll
    interval may carry the wait past its timeout."""
    import random

    from airflow_provider_oac.hooks.oac import OACHook

    monkeypatch.setattr(random, "uniform", lambda low, high: high)
    accepted = OACHook("oac_limits").create_snapshot("slow", SNAPSHOT_PASSWORD)
    trigger = OACWorkRequestTrigger(accepted.work_request_id, "oac_limits", poll_interval=10, timeout=1)

    async def first():
        async for event in trigger.run():
            return event.payload

    started = time.monotonic()
    payload = asyncio.run(first())
    took = time.monotonic() - started
    assert payload["status"] == OUTCOME_TIMEOUT
    assert took < 4, f"the wait ended {took:.1f} s after a 1 s timeout (poll interval 10 s)"
    assert "within 1 s" in payload["message"]
    assert f"airflow-oac snapshots wait {accepted.work_request_id} --conn-id oac_limits" in payload["message"]


def logged(capfd) -> list[str]:
    """What Airflow's loggers wrote (structlog, to the process's output), without the dumps
    Python's logging prints when a handler fails: in a whole suite on Airflow 3.0 a handler left
    on a closed stream by an earlier test repeats each record as ``Arguments: (...)``."""
    out, err = capfd.readouterr()
    return [line for line in (out + err).splitlines() if not line.startswith(("Message: ", "Arguments: "))]


def test_the_trigger_on_kill_names_the_work_request_and_how_to_check(capfd):
    trigger = OACWorkRequestTrigger("wr-7", "oac_limits", poll_interval=5)
    asyncio.run(trigger.on_kill())
    lines = [line for line in logged(capfd) if "Stopped waiting" in line]
    assert len(lines) == 1
    assert "OAC has no call to cancel it" in lines[0]
    assert "airflow-oac snapshots wait wr-7 --conn-id oac_limits" in lines[0]


def test_a_worker_wait_killed_then_timed_out_logs_one_line_and_keeps_the_record(capfd, emulator):
    """As Airflow's task runner does: SIGTERM (a user marked the task failed) calls on_kill; then
    execution_timeout's alarm raises AirflowTaskTimeout in the wait. One line names the work
    request and how to check on it; the task fails with that message; nothing is posted again."""
    from airflow.providers.common.compat.sdk import AirflowTaskTimeout

    if AIRFLOW_V_3_1_PLUS:
        from airflow.sdk.execution_time.timeout import timeout
    else:  # 3.0's task runner uses core's
        from airflow.utils.timeout import timeout  # type: ignore[no-redef]

    from airflow_provider_oac.hooks.oac import OACHook

    accepted = OACHook("oac_limits").create_snapshot("waited", SNAPSHOT_PASSWORD)
    operator = backup(execution_timeout=timedelta(seconds=2))
    previous = signal.signal(signal.SIGTERM, lambda *_: operator.on_kill())
    killer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGTERM))
    try:
        killer.start()
        with pytest.raises(AirflowTaskTimeout) as failed, timeout(2):
            operator.wait({"ti": TaskInstanceStub(0)}, accepted.work_request_id)
    finally:
        killer.cancel()
        signal.signal(signal.SIGTERM, previous)
    lines = logged(capfd)
    stopped = [line for line in lines if "Stopped waiting" in line]
    assert len(stopped) == 1, lines
    assert "the task was killed" in stopped[0]
    assert f"airflow-oac snapshots wait {accepted.work_request_id} --conn-id oac_limits" in stopped[0]
    assert f"on {emulator.control.base_url}" in stopped[0]
    assert accepted.work_request_id in str(failed.value)
    assert emulator.control.counters()["snapshots_created"] == 1


class StateStore(dict):
    def set(self, key, value):
        self[key] = value

    def delete(self, key):
        self.pop(key, None)


def test_airflow_ending_the_deferral_itself_names_the_recorded_work_request(capfd):
    """Airflow's own deferral timeout (the backstop) or a crashed trigger resumes the task with
    ``__fail__`` and no event: the task names the work request from its record before failing."""
    from airflow.sdk.bases.operator import TriggerFailureReason

    if AIRFLOW_V_3_2_PLUS:
        from airflow.sdk.exceptions import TaskDeferralTimeout
    else:  # 3.0 and 3.1 raise core's (3.1.8 has none in airflow.sdk.exceptions)
        from airflow.exceptions import TaskDeferralTimeout  # type: ignore[no-redef]

    operator = backup(deferrable=True)
    ti = TaskInstanceStub(0)
    ti.dag_id, ti.run_id, ti.task_id, ti.map_index = "limits", "run-1", "backup", -1
    # Airflow 3.3's task state store needs a task supervisor: a dict stands in for it here.
    context = {"ti": ti, "task_state_store": StateStore()}
    record = operator.work_record(context)
    record.set(operation="create", name="limited", work_request_id="wr-5")
    with pytest.raises(TaskDeferralTimeout):
        operator.resume_execution("__fail__", {"error": TriggerFailureReason.TRIGGER_TIMEOUT}, context)
    assert record.get() is not None, "the record must stay"
    stopped = [line for line in logged(capfd) if "Stopped waiting for OAC work request wr-5" in line]
    assert len(stopped) == 1
    assert "Airflow ended the deferral" in stopped[0]
