"""The triggers on their own: what they serialize to (the triggerer rebuilds them from it) and the
events they send, polling the emulator over real HTTP."""

from __future__ import annotations

import asyncio
import importlib

import pytest

from airflow_provider_oac.hooks.oac import OACHook
from airflow_provider_oac.sensors.work_request import OACWorkRequestSensor
from airflow_provider_oac.triggers.work_request import (
    OUTCOME_SUCCEEDED,
    OUTCOME_TIMEOUT,
    OACSnapshotNameTrigger,
    OACWorkRequestTrigger,
    WaitEvent,
)
from tests.helpers import SNAPSHOT_PASSWORD, own_login

pytestmark = pytest.mark.usefixtures("airflow_db")

PASSWORD = SNAPSHOT_PASSWORD


@pytest.fixture(autouse=True)
def logged_in(tmp_path, monkeypatch, emulator):
    with own_login(emulator, "oac_triggers", tmp_path, monkeypatch, work_request_seconds=0.2):
        yield


def rebuilt(trigger):
    path, kwargs = trigger.serialize()
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)(**kwargs)


def first_event(trigger) -> dict:
    async def run():
        async for event in trigger.run():
            return event.payload
        raise AssertionError("the trigger ended without an event")

    return asyncio.run(run())


@pytest.mark.parametrize(
    "trigger",
    [
        OACWorkRequestTrigger("wr-1", "oac_triggers", poll_interval=3, timeout=60, started_at=1.0),
        OACSnapshotNameTrigger(
            "nightly", "register", "oac_triggers", poll_interval=3, timeout=60, started_at=1.0
        ),
        OACWorkRequestTrigger("wr-1", "oac_triggers", poll_interval=3, started_at=1.0, deferred_in_try=2),
    ],
    ids=["work request", "snapshot name", "with the try that deferred"],
)
def test_a_trigger_is_rebuilt_from_what_it_serializes(trigger):
    assert rebuilt(trigger).serialize() == trigger.serialize()


def test_the_name_trigger_reports_the_snapshot_once_it_is_listed():
    hook = OACHook("oac_triggers")
    accepted = hook.create_snapshot("appears-later", PASSWORD)
    event = first_event(
        OACSnapshotNameTrigger("appears-later", oac_conn_id="oac_triggers", poll_interval=0.1)
    )
    hook.wait_for_work_request(accepted.work_request_id, poll_interval=0.1)
    assert event["status"] == OUTCOME_SUCCEEDED
    assert event["snapshot_id"] == hook.find_snapshots("appears-later")[0].id


def test_the_name_trigger_times_out_saying_nothing_was_sent_again(emulator):
    event = first_event(
        OACSnapshotNameTrigger("never-made", oac_conn_id="oac_triggers", poll_interval=0.1, timeout=0.3)
    )
    assert event["status"] == OUTCOME_TIMEOUT
    assert "no snapshot of that name appeared in time; no second request was sent" in event["message"]
    assert emulator.control.counters()["snapshots_created"] == 0


# --- the events: what Airflow stores in its database ------------------------------------------------

#: The events as earlier versions of the provider wrote them (raw dicts): Airflow keeps a trigger's
#: event in its database, so a task deferred before an upgrade resumes with one of these.
STORED_BY_AN_OLDER_VERSION = {
    "work request succeeded": {
        "status": "succeeded",
        "work_request_id": "wr-1",
        "work_request_status": "SUCCEEDED",
        "operation_type": "CREATE_SNAPSHOT",
        "snapshot_id": "snap-1",
        "message": None,
    },
    "work request failed": {
        "status": "failed",
        "work_request_id": "wr-1",
        "work_request_status": "FAILED",
        "operation_type": "CREATE_SNAPSHOT",
        "snapshot_id": None,
        "message": "OAC work request wr-1 ended FAILED: Bucket is full",
    },
    "work request timeout": {"status": "timeout", "work_request_id": "wr-1", "message": "did not finish"},
    "dead login": {"status": "login_required", "work_request_id": "wr-1", "message": "log in again"},
    "name found": {
        "status": "succeeded",
        "snapshot_name": "nightly",
        "snapshot_id": "snap-2",
        "work_request_id": None,
        "message": None,
    },
    "name timeout": {
        "status": "timeout",
        "snapshot_name": "nightly",
        "work_request_id": None,
        "message": "no snapshot of that name appeared in time",
    },
}


@pytest.mark.parametrize("stored", STORED_BY_AN_OLDER_VERSION.values(), ids=STORED_BY_AN_OLDER_VERSION.keys())
def test_an_event_stored_by_an_older_version_loads_and_is_written_back_the_same(stored):
    event = WaitEvent.from_dict(stored)

    assert event.to_dict() == stored
    assert list(event.to_dict()) == list(stored)  # the same keys, in the same order
    assert event.succeeded == (stored["status"] == OUTCOME_SUCCEEDED)
    assert event.by_name == ("snapshot_name" in stored)
    assert WaitEvent.from_dict(dict(stored, added_by_a_newer_version=1)) == event


def test_no_event_at_all_is_a_failure_that_says_so():
    event = WaitEvent.from_dict(None)

    assert not event.succeeded
    assert event.reason == "the trigger ended without a result"


def test_the_triggers_send_their_events_as_plain_dicts(emulator):
    hook = OACHook("oac_triggers")
    accepted = hook.create_snapshot("as-dict", PASSWORD)
    payload = first_event(OACWorkRequestTrigger(accepted.work_request_id, "oac_triggers", poll_interval=0.1))

    assert type(payload) is dict
    assert payload == {
        "status": OUTCOME_SUCCEEDED,
        "work_request_id": accepted.work_request_id,
        "work_request_status": "SUCCEEDED",
        "operation_type": "CREATE_SNAPSHOT",
        "snapshot_id": hook.find_snapshots("as-dict")[0].id,
        "message": None,
    }


def test_the_event_names_the_try_that_deferred(emulator):
    accepted = OACHook("oac_triggers").create_snapshot("tried", PASSWORD)
    trigger = OACWorkRequestTrigger(
        accepted.work_request_id, "oac_triggers", poll_interval=0.1, deferred_in_try=2
    )
    payload = first_event(rebuilt(trigger))

    assert payload["deferred_in_try"] == 2
    assert WaitEvent.from_dict(payload).succeeded


class TaskInstanceStub:
    def __init__(self, try_number: int):
        self.try_number = try_number


def test_a_sensor_resumed_with_an_earlier_trys_event_waits_again(emulator):
    """Airflow 3.0 resumes a retry with the trigger event of the try before (it keeps a deferral's
    resume for retries): the retry of a sensor whose wait timed out must wait again, not fail the
    same way at once."""
    from airflow.providers.common.compat.sdk import AirflowException, TaskDeferred

    emulator.control.configure(work_request_seconds=30)
    accepted = OACHook("oac_triggers").create_snapshot("sensed", PASSWORD)
    sensor = OACWorkRequestSensor(
        task_id="wait", work_request_id=accepted.work_request_id, oac_conn_id="oac_triggers",
        poke_interval=0.1, timeout=0.3, deferrable=True,
    )  # fmt: skip
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({"ti": TaskInstanceStub(1)})
    resume_kwargs = {**(deferred.value.kwargs or {}), "event": first_event(deferred.value.trigger)}
    assert resume_kwargs["event"]["status"] == OUTCOME_TIMEOUT
    with pytest.raises(AirflowException, match="did not finish"):
        sensor.resume_execution(deferred.value.method_name, dict(resume_kwargs), {"ti": TaskInstanceStub(1)})

    # Try 2 is resumed with try 1's timed-out event: it waits again (the work request goes on).
    with pytest.raises(TaskDeferred) as again:
        sensor.resume_execution(deferred.value.method_name, resume_kwargs, {"ti": TaskInstanceStub(2)})
    assert again.value.trigger.work_request_id == accepted.work_request_id
    assert again.value.trigger.deferred_in_try == 2
