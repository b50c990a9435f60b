"""OACHook's register, filtered list and prune against the emulator (real HTTP)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from airflow_provider_oac.errors import OACAPIError, OACConfigError, OACWorkRequestFailed
from airflow_provider_oac.hooks.oac import OACHook
from tests.helpers import SNAPSHOT_PASSWORD, own_login

pytestmark = pytest.mark.usefixtures("airflow_db")

PASSWORD = SNAPSHOT_PASSWORD


@pytest.fixture(autouse=True)
def logged_in(tmp_path, monkeypatch, emulator):
    with own_login(emulator, "oac_lifecycle", tmp_path, monkeypatch, work_request_seconds=0.1):
        yield


def hook() -> OACHook:
    return OACHook("oac_lifecycle")


def make(name: str) -> str:
    """A finished snapshot called ``name``; its id."""
    oac = hook()
    accepted = oac.create_snapshot(name, PASSWORD)
    work_request = oac.wait_for_work_request(accepted.work_request_id, poll_interval=0.05)
    return oac.client.find_created_snapshot(name, work_request).id


def emulator_now(emulator) -> datetime:
    return datetime.fromisoformat(emulator.control.state()["now"].replace("Z", "+00:00"))


def oac_requests(emulator) -> int:
    return emulator.control.counters()["oac_requests"]


# --- register ----------------------------------------------------------------------------------------


def test_register_makes_a_bar_file_in_the_bucket_a_listed_snapshot(emulator):
    emulator.control.put_bar_object("test-bucket", "file:///exported.bar", PASSWORD)
    oac = hook()
    accepted = oac.register_snapshot("imported", "file:///exported.bar", password=PASSWORD)
    oac.wait_for_work_request(accepted.work_request_id, poll_interval=0.05)
    [snapshot] = oac.list_snapshots(name="imported")
    assert snapshot.bar_uri == "file:///exported.bar"
    assert emulator.control.counters()["snapshots_registered"] == 1
    assert emulator.control.counters()["snapshots_created"] == 0


def test_register_without_a_password_leaves_it_for_the_restore(emulator):
    emulator.control.put_bar_object("test-bucket", "exported.bar", PASSWORD)
    oac = hook()
    accepted = oac.register_snapshot("no-password", "file:///exported.bar")
    oac.wait_for_work_request(accepted.work_request_id, poll_interval=0.05)
    assert [s.name for s in oac.list_snapshots()] == ["no-password"]


def test_register_of_a_missing_bar_file_fails_with_oacs_message(emulator):
    oac = hook()
    accepted = oac.register_snapshot("ghost", "file:///nowhere.bar", password=PASSWORD)
    with pytest.raises(OACWorkRequestFailed, match="nowhere.bar was not found in bucket test-bucket"):
        oac.wait_for_work_request(accepted.work_request_id, poll_interval=0.05)
    assert oac.list_snapshots() == []


def test_register_passes_a_bare_object_name_to_oac_which_decides(emulator):
    # Which BAR URI forms OAC takes beyond file:/// is unconfirmed: not refused locally.
    with pytest.raises(OACAPIError, match="Invalid Snapshot BAR URI"):
        hook().register_snapshot("x", "exported.bar", password=PASSWORD)


def test_register_passes_other_uri_forms_to_oac_and_reports_its_refusal(emulator):
    with pytest.raises(OACAPIError, match="Invalid Snapshot BAR URI"):
        hook().register_snapshot("x", "oci://bucket/x.bar", password=PASSWORD)


# --- list with filters ---------------------------------------------------------------------------------


def test_list_filters_on_the_client_side_and_returns_newest_first(emulator):
    first = make("nightly-1")
    second = make("nightly-2")
    make("golden")
    oac = hook()
    assert [s.id for s in oac.list_snapshots(name_pattern="nightly-*")] == [second, first]
    assert [s.id for s in oac.list_snapshots(name="nightly-1")] == [first]
    assert oac.list_snapshots(created_by=emulator.config.username, name="golden")
    assert oac.list_snapshots(created_after=emulator_now(emulator) + timedelta(minutes=1)) == []


def test_a_bad_list_filter_fails_before_any_call(emulator):
    before = oac_requests(emulator)
    with pytest.raises(OACConfigError, match="created_after 'last week' is not an ISO 8601 date-time"):
        hook().list_snapshots(created_after="last week")
    assert oac_requests(emulator) == before


# --- prune -----------------------------------------------------------------------------------------------


def test_prune_is_a_dry_run_by_default_and_deletes_nothing(emulator):
    ids = [make(f"nightly-{day}") for day in range(3)]
    plan = hook().prune_snapshots(name_pattern="nightly-*", keep_last=1)
    assert plan.dry_run
    assert plan.delete_ids == ids[:2]
    assert plan.deleted == ()
    assert emulator.control.counters()["snapshots_deleted"] == 0
    assert len(hook().list_snapshots()) == 3


def test_prune_deletes_beyond_the_newest_n_and_keeps_bar_files_unless_asked(emulator):
    ids = [make(f"nightly-{day}") for day in range(4)]
    make("golden")
    plan = hook().prune_snapshots(name_pattern="nightly-*", keep_last=2, dry_run=False)
    assert list(plan.deleted) == ids[:2]
    assert emulator.control.counters()["snapshots_deleted"] == 2
    assert sorted(s.name or "" for s in hook().list_snapshots()) == ["golden", "nightly-2", "nightly-3"]
    assert all(s["bar_exists"] for s in emulator.control.snapshots())
    assert len(emulator.control.bar_objects()) == 5


def test_prune_with_delete_storage_also_deletes_the_bar_files(emulator):
    for day in range(3):
        make(f"nightly-{day}")
    hook().prune_snapshots(name_pattern="nightly-*", keep_last=1, delete_storage=True, dry_run=False)
    assert [b["object"] for b in emulator.control.bar_objects()] == ["nightly-2.bar"]


def test_prune_by_age_deletes_only_snapshots_older_than_max_age(emulator):
    old = make("nightly-old")
    emulator.control.advance_clock(3 * 86400)
    make("nightly-new")
    plan = hook().prune_snapshots(
        name_pattern="nightly-*", max_age=timedelta(days=2), dry_run=False, now=emulator_now(emulator)
    )
    assert list(plan.deleted) == [old]
    assert [s.name for s in hook().list_snapshots()] == ["nightly-new"]


def test_prune_with_both_rules_keeps_young_snapshots_beyond_the_newest_n(emulator):
    old = make("nightly-a")
    emulator.control.advance_clock(3 * 86400)
    make("nightly-b")
    make("nightly-c")
    plan = hook().prune_snapshots(
        name_pattern="nightly-*", keep_last=1, max_age=2 * 86400, dry_run=False, now=emulator_now(emulator)
    )
    assert list(plan.deleted) == [old]
    assert emulator.control.counters()["snapshots_deleted"] == 1


def test_prune_treats_a_snapshot_already_gone_as_deleted(emulator):
    ids = [make(f"nightly-{day}") for day in range(2)]
    emulator.control.add_fault(f"DELETE /api/20210901/snapshots/{ids[0]}", "status", status=404)
    plan = hook().prune_snapshots(name_pattern="nightly-*", keep_last=1, dry_run=False)
    assert list(plan.deleted) == [ids[0]]


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"name_pattern": "nightly-*"}, "needs keep_last"),
        ({"name_pattern": "", "keep_last": 1}, "name_pattern is empty"),
        ({"name_pattern": "n*", "keep_last": 0}, "keep_last must be a whole number"),
        ({"name_pattern": "n*", "max_age": "30d"}, "max_age must be a timedelta or a number"),
        ({"name_pattern": "n*", "keep_last": 1, "dry_run": "no"}, "dry_run must be True or False"),
    ],
)
def test_a_bad_prune_rule_fails_before_any_call(emulator, rule, message):
    before = oac_requests(emulator)
    with pytest.raises(OACConfigError, match=message):
        hook().prune_snapshots(**rule)
    assert oac_requests(emulator) == before


def test_prune_measures_age_from_the_current_time_by_default(emulator):
    make("nightly-now")
    plan = hook().prune_snapshots(name_pattern="nightly-*", max_age=timedelta(hours=1))
    assert plan.delete == ()
    assert abs(plan.now - datetime.now(timezone.utc)) < timedelta(minutes=1)
