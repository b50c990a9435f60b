"""The triggers on their own: what they serialize to (the triggerer rebuilds them from it) and the
events they send, polling the emulator over real HTTP."""

from __future__ import annotations

import asyncio
import importlib

import pytest

from airflow_provider_oac.triggers.work_request import (
    OUTCOME_SUCCEEDED,
    OUTCOME_TIMEOUT,
    OACSnapshotNameTrigger,
    OACWorkRequestTrigger,
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
    ],
    ids=["work request", "snapshot name"],
)
def test_a_trigger_is_rebuilt_from_what_it_serializes(trigger):
    assert rebuilt(trigger).serialize() == trigger.serialize()


def test_the_name_trigger_reports_the_snapshot_once_it_is_listed():
    from airflow_provider_oac.hooks.oac import OACHook

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
