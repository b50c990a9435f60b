"""The retention planner and list filters: pure functions, a fixed ``now``, no network."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from airflow_provider_oac.client.models import Snapshot
from airflow_provider_oac.client.retention import (
    PrunePlan,
    RetentionRule,
    filter_snapshots,
    plan_prune,
    snapshot_as_dict,
)
from airflow_provider_oac.errors import OACConfigError

NOW = datetime(2026, 3, 31, 12, 0, tzinfo=timezone.utc)


def snap(snapshot_id: str, name: str | None, days_old: float | None, created_by: str = "jane") -> Snapshot:
    created = None if days_old is None else NOW - timedelta(days=days_old)
    return Snapshot(
        id=snapshot_id, name=name, created_by=created_by, time_created=created, bar_uri=f"file:///{name}.bar"
    )


def nightly(count: int) -> list[Snapshot]:
    """nightly-0 (today) ... nightly-<count-1> (count-1 days old), listed in no particular order."""
    snapshots = [snap(f"id-{day}", f"nightly-{day}", day) for day in range(count)]
    return snapshots[1::2] + snapshots[::2]


def plan(snapshots, **rule) -> PrunePlan:
    return plan_prune(snapshots, RetentionRule(**rule), NOW)


def ids(snapshots) -> list[str]:
    return [s.id for s in snapshots]


# --- keep_last ------------------------------------------------------------------------------------


def test_keep_last_keeps_the_newest_n_and_deletes_the_rest_oldest_first():
    result = plan(nightly(5), name_pattern="nightly-*", keep_last=2)
    assert ids(result.keep) == ["id-0", "id-1"]
    assert ids(result.delete) == ["id-4", "id-3", "id-2"]
    assert result.delete_ids == ["id-4", "id-3", "id-2"]


def test_keep_last_larger_than_the_matching_count_deletes_nothing():
    result = plan(nightly(3), name_pattern="nightly-*", keep_last=10)
    assert result.delete == ()
    assert len(result.keep) == 3


def test_keep_last_ranks_snapshots_created_at_the_same_moment_by_id_so_plans_are_stable():
    same_time = [snap("b", "nightly-x", 1), snap("a", "nightly-y", 1), snap("c", "nightly-z", 1)]
    first = plan(same_time, name_pattern="nightly-*", keep_last=1)
    second = plan(list(reversed(same_time)), name_pattern="nightly-*", keep_last=1)
    assert ids(first.keep) == ids(second.keep) == ["c"]
    assert ids(first.delete) == ids(second.delete) == ["a", "b"]


# --- max_age --------------------------------------------------------------------------------------


def test_max_age_deletes_only_snapshots_older_than_the_age():
    result = plan(nightly(6), name_pattern="nightly-*", max_age=timedelta(days=3, hours=12))
    assert ids(result.delete) == ["id-5", "id-4"]
    assert ids(result.keep) == ["id-0", "id-1", "id-2", "id-3"]


def test_a_snapshot_exactly_max_age_old_is_kept():
    result = plan([snap("edge", "nightly-edge", 2)], name_pattern="nightly-*", max_age=timedelta(days=2))
    assert result.delete == ()


def test_max_age_in_seconds_is_the_same_as_a_timedelta():
    by_seconds = plan(nightly(5), name_pattern="nightly-*", max_age=2.5 * 86400)
    by_timedelta = plan(nightly(5), name_pattern="nightly-*", max_age=timedelta(days=2.5))
    assert by_seconds.delete_ids == by_timedelta.delete_ids == ["id-4", "id-3"]


def test_a_snapshot_dated_in_the_future_by_clock_skew_is_not_old():
    result = plan([snap("future", "nightly-f", -0.5)], name_pattern="nightly-*", max_age=60)
    assert result.delete == ()


def test_max_age_alone_may_delete_every_matching_snapshot():
    snapshots = [snap("a", "nightly-a", 2), snap("b", "nightly-b", 3)]
    result = plan(snapshots, name_pattern="nightly-*", max_age=timedelta(days=1))
    assert ids(result.delete) == ["b", "a"]
    assert result.keep == ()


# --- both -----------------------------------------------------------------------------------------


def test_with_both_rules_a_snapshot_goes_only_when_beyond_the_newest_n_and_too_old():
    result = plan(nightly(6), name_pattern="nightly-*", keep_last=2, max_age=timedelta(days=3, hours=12))
    # id-2 and id-3 are beyond the newest two but young enough; id-4 and id-5 are both.
    assert ids(result.delete) == ["id-5", "id-4"]
    assert ids(result.keep) == ["id-0", "id-1", "id-2", "id-3"]


def test_with_both_rules_the_newest_n_stay_however_old_they_are():
    ancient = [snap("a", "nightly-a", 400), snap("b", "nightly-b", 500), snap("c", "nightly-c", 600)]
    result = plan(ancient, name_pattern="nightly-*", keep_last=2, max_age=timedelta(days=30))
    assert ids(result.keep) == ["a", "b"]
    assert ids(result.delete) == ["c"]


# --- which snapshots are considered ---------------------------------------------------------------


def test_only_snapshots_whose_name_matches_the_pattern_are_considered():
    others = [snap("golden", "golden", 900), snap("manual", "manual-backup", 800), snap("noname", None, 700)]
    result = plan(nightly(3) + others, name_pattern="nightly-*", keep_last=1)
    assert set(ids(result.delete)) == {"id-1", "id-2"}
    assert "golden" not in ids(result.keep) + ids(result.delete)


def test_the_pattern_is_case_sensitive_and_supports_fnmatch_classes():
    snapshots = [snap("upper", "Nightly-1", 9), snap("digit", "nightly-7", 9), snap("letter", "nightly-x", 9)]
    result = plan(snapshots, name_pattern="nightly-[0-9]", max_age=1)
    assert ids(result.delete) == ["digit"]


def test_snapshots_without_a_creation_time_are_never_deleted_and_do_not_count_towards_keep_last():
    snapshots = [*nightly(3), snap("undated", "nightly-undated", None)]
    result = plan(snapshots, name_pattern="nightly-*", keep_last=1, max_age=1)
    assert ids(result.undated) == ["undated"]
    assert ids(result.keep) == ["id-0"]
    assert ids(result.delete) == ["id-2", "id-1"]


def test_a_naive_now_is_read_as_utc():
    naive = plan_prune(
        nightly(4), RetentionRule("nightly-*", max_age=timedelta(days=1, hours=12)), NOW.replace(tzinfo=None)
    )
    assert naive.delete_ids == ["id-3", "id-2"]
    assert naive.now == NOW


# --- bad rules ------------------------------------------------------------------------------------


def test_a_rule_with_neither_keep_last_nor_max_age_is_refused():
    with pytest.raises(OACConfigError, match="needs keep_last .* max_age .* or both"):
        RetentionRule("nightly-*")


@pytest.mark.parametrize("keep_last", [0, -1, True, "3", 2.0])
def test_keep_last_must_be_a_whole_number_of_at_least_one(keep_last):
    with pytest.raises(OACConfigError, match="keep_last must be a whole number of at least 1"):
        RetentionRule("nightly-*", keep_last=keep_last)


@pytest.mark.parametrize(
    ("max_age", "message"),
    [
        (0, "greater than 0"),
        (-5, "greater than 0"),
        ("7d", "timedelta or a number"),
        (timedelta(0), "greater than 0"),
        (True, "timedelta or a number"),
    ],
)
def test_max_age_must_be_a_positive_age(max_age, message):
    with pytest.raises(OACConfigError, match=message):
        RetentionRule("nightly-*", max_age=max_age)


@pytest.mark.parametrize("pattern", ["", "  ", None, "nightly-*\n"])
def test_the_name_pattern_must_be_one_line_of_text(pattern):
    with pytest.raises(OACConfigError, match="name_pattern"):
        RetentionRule(pattern, keep_last=1)


def test_errors_are_one_line():
    with pytest.raises(OACConfigError) as caught:
        RetentionRule("x")
    assert "\n" not in str(caught.value)


# --- describing a plan ----------------------------------------------------------------------------


def test_a_dry_run_summary_says_what_would_go():
    result = plan(nightly(4), name_pattern="nightly-*", keep_last=3)
    assert result.dry_run
    assert result.summary() == (
        "Prune of snapshots named 'nightly-*': keep the newest 3: 4 match, would delete 1, keeps 3."
    )
    assert result.lines() == ["id-3  nightly-3  created 2026-03-28T12:00:00Z (3 d ago)"]


# --- list filters ---------------------------------------------------------------------------------


def test_filters_return_newest_first():
    assert ids(filter_snapshots(nightly(4))) == ["id-0", "id-1", "id-2", "id-3"]


def test_filter_by_exact_name_and_by_pattern():
    snapshots = [*nightly(3), snap("g", "golden", 5)]
    assert ids(filter_snapshots(snapshots, name="golden")) == ["g"]
    assert ids(filter_snapshots(snapshots, name_pattern="nightly-[12]")) == ["id-1", "id-2"]
    assert filter_snapshots(snapshots, name="nightly") == []


def test_creation_bounds_are_exclusive_and_leave_out_undated_snapshots():
    snapshots = [*nightly(5), snap("undated", "nightly-u", None)]
    window = filter_snapshots(
        snapshots, created_after=NOW - timedelta(days=3), created_before=NOW - timedelta(days=1)
    )
    assert ids(window) == ["id-2"]
    assert "undated" in ids(filter_snapshots(snapshots))


def test_creation_bounds_accept_iso_text_as_templates_render_it():
    snapshots = nightly(5)
    assert ids(filter_snapshots(snapshots, created_after="2026-03-29T12:00:00Z")) == ["id-0", "id-1"]
    assert ids(filter_snapshots(snapshots, created_after="2026-03-29T14:00:00+02:00")) == ["id-0", "id-1"]


def test_filter_by_creator():
    snapshots = [snap("a", "x", 1, created_by="jane"), snap("b", "y", 2, created_by="joe")]
    assert ids(filter_snapshots(snapshots, created_by="joe")) == ["b"]


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ({"created_after": "yesterday"}, "created_after 'yesterday' is not an ISO 8601 date-time"),
        ({"created_before": 1700000000}, "created_before must be a datetime"),
        ({"name_pattern": ""}, "name_pattern is empty"),
        ({"name": " x"}, "name has leading or trailing spaces"),
    ],
)
def test_bad_filters_are_refused_with_one_line(filters, message):
    with pytest.raises(OACConfigError, match=message):
        filter_snapshots(nightly(2), **filters)


def test_a_snapshot_summary_is_json_safe():
    record = snapshot_as_dict(snap("id-1", "nightly-1", 1))
    assert json.loads(json.dumps(record)) == {
        "id": "id-1",
        "name": "nightly-1",
        "created_by": "jane",
        "time_created": "2026-03-30T12:00:00Z",
        "bar_uri": "file:///nightly-1.bar",
    }
    assert snapshot_as_dict(Snapshot(id="bare"))["time_created"] is None
