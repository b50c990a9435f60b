"""Register, list, delete and prune operators, and the restore's safety snapshot, in real DAG runs
(``dag.test()``) against the emulator, counted by the emulator."""

from __future__ import annotations

import time

import pytest

from airflow_provider_oac.errors import OACConfigError
from airflow_provider_oac.hooks.oac import OACHook
from airflow_provider_oac.operators.lifecycle import OACDeleteSnapshotOperator, OACPruneSnapshotsOperator
from airflow_provider_oac.operators.snapshot import OACRestoreSnapshotOperator
from tests.helpers import SNAPSHOT_PASSWORD, console_text, own_login, stored_work_records, write_dag

pytestmark = pytest.mark.usefixtures("airflow_db")

PASSWORD = SNAPSHOT_PASSWORD
API = "/api/20210901"
IMPORTS = f"""
from datetime import timedelta

from airflow_provider_oac.operators.lifecycle import (
    OACDeleteSnapshotOperator,
    OACListSnapshotsOperator,
    OACPruneSnapshotsOperator,
    OACRegisterSnapshotOperator,
)
from airflow_provider_oac.operators.snapshot import OACCreateSnapshotOperator, OACRestoreSnapshotOperator
PASSWORD = {PASSWORD!r}
"""


@pytest.fixture(autouse=True)
def logged_in(tmp_path, monkeypatch, emulator):
    with own_login(emulator, "oac_default", tmp_path, monkeypatch, work_request_seconds=0.2):
        yield


def run_dag(dag_id: str, tasks: str, *, retries: int = 0):
    return write_dag(dag_id, tasks, retries=retries, imports=IMPORTS).test()


def states(dag_run) -> dict[str, str]:
    return {ti.task_id: ti.state for ti in dag_run.get_task_instances()}


def tries(dag_run, task_id: str) -> int:
    [ti] = [ti for ti in dag_run.get_task_instances() if ti.task_id == task_id]
    return ti.try_number


def xcom(dag_run, task_id: str, key: str = "return_value"):
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = (
            session.query(XComModel)
            .filter_by(dag_id=dag_run.dag_id, run_id=dag_run.run_id, task_id=task_id, key=key)
            .one_or_none()
        )
        return None if row is None else XComModel.deserialize_value(row)


def make(name: str) -> str:
    """A finished snapshot called ``name`` (made with the hook, outside any DAG); its id."""
    hook = OACHook("oac_default")
    accepted = hook.create_snapshot(name, PASSWORD)
    work_request = hook.wait_for_work_request(accepted.work_request_id, poll_interval=0.05)
    return hook.client.find_created_snapshot(name, work_request).id


def counters(emulator) -> dict[str, int]:
    return emulator.control.counters()


# --- register ----------------------------------------------------------------------------------------


def test_register_operator_registers_a_bar_file_and_returns_the_snapshot_id(emulator):
    emulator.control.put_bar_object("test-bucket", "exported.bar", PASSWORD)
    run = run_dag(
        "oac_lc_register",
        """
        OACRegisterSnapshotOperator(
            task_id="register", name="imported", bar_uri="file:///exported.bar", password=PASSWORD,
            poll_interval=0.1,
        )
        """,
    )
    assert states(run) == {"register": "success"}
    [snapshot] = [s for s in emulator.control.snapshots() if s["registered"]]
    assert snapshot["type"] == "REGISTER"
    assert xcom(run, "register") == snapshot["id"]
    assert xcom(run, "register", "work_request_id") == snapshot["work_request_id"]
    assert counters(emulator)["snapshots_registered"] == 1


def test_a_register_retry_reattaches_instead_of_registering_again(emulator):
    emulator.control.put_bar_object("test-bucket", "exported.bar", PASSWORD)
    emulator.control.add_fault("GET /api/20210901/workRequests/*", "status", status=404, times=1)
    run = run_dag(
        "oac_lc_register_retry",
        """
        OACRegisterSnapshotOperator(
            task_id="register", name="imported", bar_uri="file:///exported.bar", poll_interval=0.1
        )
        """,
        retries=1,
    )
    assert states(run) == {"register": "success"}
    assert tries(run, "register") == 2
    assert counters(emulator)["snapshots_registered"] == 1


def test_a_register_whose_answer_is_lost_waits_for_the_snapshot_instead_of_posting_again(emulator):
    emulator.control.put_bar_object("test-bucket", "exported.bar", PASSWORD)
    emulator.control.add_fault("POST /api/20210901/snapshots", "accept_then_error", status=502)
    run = run_dag(
        "oac_lc_register_lost",
        """
        OACRegisterSnapshotOperator(
            task_id="register", name="lost", bar_uri="file:///exported.bar", poll_interval=0.1
        )
        """,
        retries=1,
    )
    assert states(run) == {"register": "success"}
    assert counters(emulator)["snapshots_registered"] == 1
    assert xcom(run, "register") == emulator.control.snapshots()[0]["id"]


def test_register_with_if_exists_reuse_registers_nothing_the_second_time(emulator):
    emulator.control.put_bar_object("test-bucket", "exported.bar", PASSWORD)
    first = make("imported")
    run = run_dag(
        "oac_lc_register_reuse",
        """
        OACRegisterSnapshotOperator(
            task_id="register", name="imported", bar_uri="file:///exported.bar", if_exists="reuse"
        )
        """,
    )
    assert states(run) == {"register": "success"}
    assert xcom(run, "register") == first
    assert counters(emulator)["snapshots_registered"] == 0


def test_register_of_a_missing_bar_file_fails_with_oacs_message(emulator, capfd):
    run = run_dag(
        "oac_lc_register_missing",
        """
        OACRegisterSnapshotOperator(
            task_id="register", name="ghost", bar_uri="file:///nowhere.bar", poll_interval=0.1
        )
        """,
    )
    assert states(run) == {"register": "failed"}
    assert "nowhere.bar was not found in bucket test-bucket" in capfd.readouterr().out


# --- list ------------------------------------------------------------------------------------------------


def test_list_operator_returns_matching_snapshots_as_json_safe_dicts_newest_first(emulator):
    older, newer = make("nightly-1"), make("nightly-2")
    make("golden")
    run = run_dag(
        "oac_lc_list",
        'OACListSnapshotsOperator(task_id="list", name_pattern="nightly-*")',
    )
    assert states(run) == {"list": "success"}
    listed = xcom(run, "list")
    assert [entry["id"] for entry in listed] == [newer, older]
    assert set(listed[0]) == {"id", "name", "created_by", "time_created", "bar_uri"}
    assert listed[0]["time_created"].endswith("Z")
    assert listed[0]["created_by"] == emulator.config.username


def test_list_operator_filters_by_creation_time_from_a_template(emulator):
    make("nightly-1")
    run = run_dag(
        "oac_lc_list_template",
        'OACListSnapshotsOperator(task_id="list", created_after="{{ (dag_run.start_date).isoformat() }}")',
    )
    assert states(run) == {"list": "success"}
    assert xcom(run, "list") == []


# --- delete ----------------------------------------------------------------------------------------------


def test_delete_by_id_deregisters_the_snapshot_and_keeps_its_bar_file(emulator):
    snapshot_id = make("doomed")
    run = run_dag(
        "oac_lc_delete", f'OACDeleteSnapshotOperator(task_id="delete", snapshot_id={snapshot_id!r})'
    )
    assert states(run) == {"delete": "success"}
    assert xcom(run, "delete") == [snapshot_id]
    assert counters(emulator)["snapshots_deleted"] == 1
    assert OACHook("oac_default").list_snapshots() == []
    assert [b["object"] for b in emulator.control.bar_objects()] == ["doomed.bar"]


def test_delete_with_delete_storage_also_removes_the_bar_file(emulator):
    snapshot_id = make("doomed")
    run = run_dag(
        "oac_lc_delete_storage",
        f'OACDeleteSnapshotOperator(task_id="delete", snapshot_id={snapshot_id!r}, delete_storage=True)',
    )
    assert states(run) == {"delete": "success"}
    assert emulator.control.bar_objects() == []


def test_delete_by_name_deletes_every_snapshot_of_that_name_only(emulator):
    first = make("dup")
    emulator.control.put_bar_object("test-bucket", "other.bar", PASSWORD)
    hook = OACHook("oac_default")
    accepted = hook.register_snapshot("dup", "file:///other.bar")
    hook.wait_for_work_request(accepted.work_request_id, poll_interval=0.05)
    keep = make("keep")
    run = run_dag("oac_lc_delete_name", 'OACDeleteSnapshotOperator(task_id="delete", snapshot_name="dup")')
    assert states(run) == {"delete": "success"}
    assert first in xcom(run, "delete")
    assert len(xcom(run, "delete")) == 2
    assert [s.id for s in hook.list_snapshots()] == [keep]


def test_deleting_a_missing_snapshot_succeeds_by_default(emulator):
    run = run_dag(
        "oac_lc_delete_missing",
        """
        OACDeleteSnapshotOperator(task_id="by_id", snapshot_id="0b7e1c52-0000-4000-8000-000000000000")
        OACDeleteSnapshotOperator(task_id="by_name", snapshot_name="never-made")
        """,
    )
    assert states(run) == {"by_id": "success", "by_name": "success"}
    assert xcom(run, "by_id") == []
    assert counters(emulator)["snapshots_deleted"] == 0


def test_deleting_a_missing_snapshot_fails_with_missing_ok_false(emulator, capfd):
    run = run_dag(
        "oac_lc_delete_missing_strict",
        """
        OACDeleteSnapshotOperator(
            task_id="by_id", snapshot_id="0b7e1c52-0000-4000-8000-000000000000", missing_ok=False
        )
        OACDeleteSnapshotOperator(task_id="by_name", snapshot_name="never-made", missing_ok=False)
        """,
    )
    assert states(run) == {"by_id": "failed", "by_name": "failed"}
    out = capfd.readouterr().out
    assert "was not found" in out
    assert "No snapshot named 'never-made' in OAC to delete" in out


# --- prune -----------------------------------------------------------------------------------------------


def test_prune_operator_keeps_the_newest_n_and_returns_the_deleted_ids(emulator):
    ids = [make(f"nightly-{day}") for day in range(4)]
    golden = make("golden")
    run = run_dag(
        "oac_lc_prune",
        'OACPruneSnapshotsOperator(task_id="prune", name_pattern="nightly-*", keep_last=2)',
    )
    assert states(run) == {"prune": "success"}
    assert xcom(run, "prune") == ids[:2]
    assert counters(emulator)["snapshots_deleted"] == 2
    assert {s.id for s in OACHook("oac_default").list_snapshots()} == {*ids[2:], golden}


def test_prune_dry_run_deletes_nothing_and_returns_what_would_go(emulator, capfd):
    ids = [make(f"nightly-{day}") for day in range(3)]
    run = run_dag(
        "oac_lc_prune_dry",
        'OACPruneSnapshotsOperator(task_id="prune", name_pattern="nightly-*", keep_last=1, dry_run=True)',
    )
    assert states(run) == {"prune": "success"}
    assert xcom(run, "prune") == ids[:2]
    assert counters(emulator)["snapshots_deleted"] == 0
    assert "would delete 2" in capfd.readouterr().out


def test_prune_with_max_age_and_keep_last_keeps_the_newest_even_when_old(emulator):
    ids = [make(f"nightly-{day}") for day in range(3)]
    time.sleep(1.2)  # every snapshot is now older than max_age
    run = run_dag(
        "oac_lc_prune_age",
        """
        OACPruneSnapshotsOperator(
            task_id="prune", name_pattern="nightly-*", keep_last=1, max_age=timedelta(seconds=1),
            delete_storage=True,
        )
        """,
    )
    assert states(run) == {"prune": "success"}
    assert xcom(run, "prune") == ids[:2]
    assert [b["object"] for b in emulator.control.bar_objects()] == ["nightly-2.bar"]


def test_prune_by_age_leaves_young_snapshots_alone(emulator):
    make("nightly-1")
    run = run_dag(
        "oac_lc_prune_young",
        'OACPruneSnapshotsOperator(task_id="prune", name_pattern="nightly-*", max_age=timedelta(days=30))',
    )
    assert states(run) == {"prune": "success"}
    assert xcom(run, "prune") == []
    assert counters(emulator)["snapshots_deleted"] == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name_pattern": "n*"}, "needs keep_last"),
        ({"name_pattern": "n*", "keep_last": 0}, "keep_last must be a whole number of at least 1"),
        ({"name_pattern": "n*", "max_age": "30d"}, "max_age must be a timedelta or a number"),
        ({"name_pattern": "n*", "keep_last": 1, "dry_run": "yes"}, "dry_run must be True or False"),
        ({"name_pattern": "", "keep_last": 1}, "name_pattern is empty"),
    ],
)
def test_a_senseless_prune_rule_fails_at_dag_definition(kwargs, message):
    with pytest.raises(OACConfigError, match=message):
        OACPruneSnapshotsOperator(task_id="prune", **kwargs)


def test_delete_needs_exactly_one_of_id_or_name():
    with pytest.raises(OACConfigError, match="exactly one of snapshot_id or snapshot_name"):
        OACDeleteSnapshotOperator(task_id="d")
    with pytest.raises(OACConfigError, match="delete_storage must be True or False"):
        OACDeleteSnapshotOperator(task_id="d", snapshot_id="x", delete_storage="yes")


# --- restore with a safety snapshot --------------------------------------------------------------------------


RESTORE_WITH_SAFETY = """
OACRestoreSnapshotOperator(
    task_id="restore", snapshot_name="golden", password=PASSWORD, poll_interval=0.1,
    safety_snapshot_name="before-refresh-{{{{ ts_nodash }}}}", deferrable={deferrable},
)
"""


def failed_polls(emulator) -> list[str]:
    """The work requests whose poll got the injected 404."""
    return [
        entry["path"].rsplit("/", 1)[1]
        for entry in emulator.control.request_log()
        if entry["status"] == 404 and "/workRequests/" in entry["path"]
    ]


def assert_one_safety_snapshot_then_one_restore_of_the_target(emulator, run, golden: str) -> None:
    assert states(run) == {"restore": "success"}
    snapshots = emulator.control.snapshots()
    [safety] = [s for s in snapshots if s["name"].startswith("before-refresh-")]
    assert counters(emulator)["snapshots_created"] == 2  # golden + one safety snapshot
    [restore] = emulator.control.restores()
    assert restore["snapshot_id"] == golden
    assert restore["status"] == "SUCCEEDED"
    assert xcom(run, "restore", "safety_snapshot_id") == safety["id"]
    assert xcom(run, "restore") == restore["work_request_id"]


def test_restore_takes_the_safety_snapshot_first_then_restores_the_target(emulator):
    golden = make("golden")
    run = run_dag("oac_lc_safety", RESTORE_WITH_SAFETY.format(deferrable=False))
    assert_one_safety_snapshot_then_one_restore_of_the_target(emulator, run, golden)
    [safety] = [s for s in emulator.control.snapshots() if s["name"] != "golden"]
    [restore] = emulator.control.restores()
    assert safety["time_created"] <= restore["time_accepted"]


def test_deferrable_restore_waits_for_both_steps_in_the_trigger(emulator):
    golden = make("golden")
    run = run_dag("oac_lc_safety_deferred", RESTORE_WITH_SAFETY.format(deferrable=True))
    assert_one_safety_snapshot_then_one_restore_of_the_target(emulator, run, golden)


def test_a_retry_during_the_safety_snapshot_reattaches_to_it(emulator):
    golden = make("golden")
    emulator.control.add_fault("GET /api/20210901/workRequests/*", "status", status=404, times=1)
    run = run_dag("oac_lc_safety_retry", RESTORE_WITH_SAFETY.format(deferrable=False), retries=1)
    assert_one_safety_snapshot_then_one_restore_of_the_target(emulator, run, golden)
    assert tries(run, "restore") == 2
    [safety] = [s for s in emulator.control.snapshots() if s["name"] != "golden"]
    assert failed_polls(emulator) == [safety["work_request_id"]]


def test_a_retry_during_the_restore_reattaches_without_a_second_safety_snapshot(emulator):
    golden = make("golden")
    emulator.control.configure(work_request_seconds=0)  # the safety snapshot is done at its first poll
    # The first poll (the safety snapshot's) passes; the second (the restore's) fails the try.
    emulator.control.add_fault("GET /api/20210901/workRequests/*", "delay", delay=0.01, times=1)
    emulator.control.add_fault("GET /api/20210901/workRequests/*", "status", status=404, times=1)
    run = run_dag("oac_lc_restore_retry", RESTORE_WITH_SAFETY.format(deferrable=False), retries=1)
    assert_one_safety_snapshot_then_one_restore_of_the_target(emulator, run, golden)
    assert tries(run, "restore") == 2
    assert failed_polls(emulator) == [emulator.control.restores()[0]["work_request_id"]]


def test_a_failed_safety_snapshot_starts_no_restore(emulator, capfd):
    make("golden")
    emulator.control.add_fault(
        "POST /api/20210901/snapshots",
        "fail_work_request",
        code="StorageWriteFailed",
        message="Bucket is full",
    )
    run = run_dag("oac_lc_safety_failed", RESTORE_WITH_SAFETY.format(deferrable=False))
    assert states(run) == {"restore": "failed"}
    assert counters(emulator)["restores_started"] == 0
    assert "Bucket is full" in capfd.readouterr().out


def test_a_failed_deferred_safety_snapshot_starts_no_restore(emulator, capfd):
    make("golden")
    emulator.control.add_fault("POST /api/20210901/snapshots", "fail_work_request", message="Bucket is full")
    run = run_dag("oac_lc_safety_failed_deferred", RESTORE_WITH_SAFETY.format(deferrable=True))
    assert states(run) == {"restore": "failed"}
    assert counters(emulator)["restores_started"] == 0
    assert "The safety snapshot failed, so the restore was not started" in capfd.readouterr().out


def test_a_deferred_restore_refused_after_the_safety_snapshot_is_started_by_the_retry(emulator):
    """The restore POST after the deferred safety snapshot gets a retryable 409: the retry restores
    (once), without a second safety snapshot. On Airflow 3.0 the retry is resumed with the safety
    snapshot's event (3.0 keeps a deferral's resume for retries): it must not succeed without the
    restore."""
    golden = make("golden")
    emulator.control.add_fault(f"POST {API}/system/actions/restoreSnapshot", "status", status=409, times=1)
    run = run_dag("oac_lc_restore_refused_deferred", RESTORE_WITH_SAFETY.format(deferrable=True), retries=1)
    assert counters(emulator)["restores_started"] == 1
    assert_one_safety_snapshot_then_one_restore_of_the_target(emulator, run, golden)
    assert tries(run, "restore") == 2


def snapshot_posts(emulator) -> int:
    path = "/api/20210901/snapshots"
    return sum(1 for r in emulator.control.request_log() if r["method"] == "POST" and r["path"] == path)


def test_a_deferred_safety_snapshot_whose_answer_was_lost_waits_for_it_in_the_trigger(emulator, capfd):
    """OAC takes the safety snapshot but its answer is lost: the task never posts it again and, being
    deferrable, waits for the name in the triggerer (no worker slot held), then restores."""
    golden = make("golden")
    emulator.control.add_fault("POST /api/20210901/snapshots", "accept_then_error", status=502)
    run = run_dag("oac_lc_safety_lost_deferred", RESTORE_WITH_SAFETY.format(deferrable=True))
    assert_one_safety_snapshot_then_one_restore_of_the_target(emulator, run, golden)
    assert snapshot_posts(emulator) == 2  # golden, then the safety snapshot once
    out = console_text(capfd.readouterr().out)
    assert "the triggerer waits for a snapshot named 'before-refresh-" in out


def test_a_deferred_safety_snapshot_without_answer_or_snapshot_fails_in_time_and_never_posts_again(
    emulator, capfd
):
    """No answer and no snapshot: the wait by name runs in the triggerer for the task's ``timeout``
    (not an hour), the restore is never started, and the retry waits again instead of posting."""
    make("golden")
    emulator.control.add_fault("POST /api/20210901/snapshots", "status", status=500, times=5)
    started = time.monotonic()
    run = run_dag(
        "oac_lc_safety_no_answer_deferred",
        """
        OACRestoreSnapshotOperator(
            task_id="restore", snapshot_name="golden", password=PASSWORD, poll_interval=0.2, timeout=1,
            safety_snapshot_name="before-refresh", deferrable=True,
        )
        """,
        retries=1,
    )
    assert states(run) == {"restore": "failed"}
    assert time.monotonic() - started < 120  # two tries of a 1 s wait, not the hour of no timeout
    assert snapshot_posts(emulator) == 2  # golden, then the safety snapshot once: the retry waited
    assert [s["name"] for s in emulator.control.snapshots()] == ["golden"]
    assert counters(emulator)["restores_started"] == 0
    out = console_text(capfd.readouterr().out)
    assert "the triggerer waits for a snapshot named 'before-refresh'" in out
    assert "no snapshot of that name appeared in time" in out
    assert "the restore was not started" in out
    assert "running the task again only waits again" in out
    records = stored_work_records(run, "restore")
    assert "safety_snapshot" in records["oac_work"]  # the intent stays: no second POST, ever


def test_a_safety_snapshot_name_that_exists_already_fails_before_anything_starts(emulator, capfd):
    make("golden")
    make("before-refresh")
    run = run_dag(
        "oac_lc_safety_exists",
        """
        OACRestoreSnapshotOperator(
            task_id="restore", snapshot_name="golden", password=PASSWORD, safety_snapshot_name="before-refresh",
        )
        """,
        retries=2,
    )
    assert states(run) == {"restore": "failed"}
    assert counters(emulator)["snapshots_created"] == 2  # the two made above, nothing more
    assert counters(emulator)["restores_started"] == 0
    assert "cannot be this run's safety snapshot" in capfd.readouterr().out


def test_a_login_that_dies_during_the_deferred_safety_snapshot_fails_once_and_keeps_the_record(
    emulator, capfd
):
    make("golden")  # also leaves the task a fresh access token to start with
    emulator.control.configure(work_request_seconds=60)
    # In the trigger, OAC rejects the token (401) and IAM refuses the refresh: the login is gone.
    emulator.control.add_fault("GET /api/20210901/workRequests/*", "expire_token", times=1)
    emulator.control.add_fault("POST /iam/oauth2/v1/token", "status", status=400, code="invalid_grant")
    run = run_dag("oac_lc_safety_dead_login", RESTORE_WITH_SAFETY.format(deferrable=True), retries=3)
    assert states(run) == {"restore": "failed"}
    assert tries(run, "restore") == 1
    assert "airflow-oac login" in capfd.readouterr().out
    assert counters(emulator)["restores_started"] == 0
    # OAC carries on with the safety snapshot: after a new login, clearing the task re-attaches to it.
    records = stored_work_records(run, "restore")
    assert list(records) == ["oac_work"]
    assert "safety_snapshot" in records["oac_work"]


# --- a retry that Airflow 3.0 resumes with the previous try's trigger event ------------------------------


class TaskInstanceStub:
    """What the operators read of ``context["ti"]``, for one try of one task instance."""

    def __init__(self, try_number: int):
        self.dag_id, self.run_id, self.task_id, self.map_index = "oac_replay", "manual__1", "restore", -1
        self.try_number = try_number
        self.xcoms: dict[str, object] = {}

    def xcom_push(self, key: str, value: object) -> None:
        self.xcoms[key] = value


class StateStoreStub(dict):
    """The task state store (Airflow 3.3's), kept across the tries as Airflow keeps it."""

    def set(self, key: str, value: object) -> None:
        self[key] = value

    def delete(self, key: str) -> None:
        self.pop(key, None)


def trigger_event(trigger) -> dict:
    import asyncio

    async def first():
        async for event in trigger.run():
            return event.payload
        raise AssertionError("the trigger ended without an event")

    return asyncio.run(first())


def test_a_retry_resumed_with_the_safety_snapshots_old_event_still_restores(emulator):
    """Airflow 3.0 keeps ``next_method``/``next_kwargs`` on a task instance that goes up for retry,
    so the retry resumes with the trigger event of the try before instead of running ``execute``.

    Try 1 takes the safety snapshot (deferred), resumes, and its restore POST is refused with a
    retryable 409. Try 2 gets the safety snapshot's event again: it must still start the restore
    (once), not succeed with the safety snapshot's work request id and no restore."""
    from airflow.providers.common.compat.sdk import AirflowException, TaskDeferred

    golden = make("golden")
    operator = OACRestoreSnapshotOperator(
        task_id="restore", snapshot_name="golden", password=PASSWORD, poll_interval=0.1,
        safety_snapshot_name="before-refresh", deferrable=True,
    )  # fmt: skip
    store = StateStoreStub()

    def context(try_number: int) -> dict:
        return {"ti": TaskInstanceStub(try_number), "task_state_store": store}

    # Try 1: the safety snapshot is posted, and the task defers.
    with pytest.raises(TaskDeferred) as safety:
        operator.execute(context(1))
    # What Airflow's triggerer stores for the resume: the deferral's kwargs and the event.
    resume_kwargs = {**(safety.value.kwargs or {}), "event": trigger_event(safety.value.trigger)}
    emulator.control.add_fault(
        "POST /api/20210901/system/actions/restoreSnapshot", "status", status=409, times=1
    )
    with pytest.raises(AirflowException, match="409"):
        operator.resume_execution(safety.value.method_name, dict(resume_kwargs), context(1))
    assert counters(emulator)["restores_started"] == 0

    # Try 2, as Airflow 3.0 runs it: the same next_method and next_kwargs, a later try number.
    with pytest.raises(TaskDeferred) as restore:
        operator.resume_execution(safety.value.method_name, dict(resume_kwargs), context(2))
    assert counters(emulator)["restores_started"] == 1
    [started] = emulator.control.restores()
    assert started["snapshot_id"] == golden
    assert restore.value.trigger.work_request_id == started["work_request_id"]

    # Its own event then finishes try 2 with the restore's work request id.
    finished = {**(restore.value.kwargs or {}), "event": trigger_event(restore.value.trigger)}
    assert (
        operator.resume_execution(restore.value.method_name, finished, context(2))
        == started["work_request_id"]
    )
    assert counters(emulator)["restores_started"] == 1
    assert counters(emulator)["snapshots_created"] == 2  # golden + one safety snapshot
    assert store == {}  # done: no record left
