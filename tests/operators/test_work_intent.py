"""Persist before acting: the work record is written BEFORE a create/register/restore POST, so a
failed record write or a worker killed right after OAC accepted never leads to a second POST.

Real DAG runs (``dag.test()``: the real task runner with the in-process execution API). The
record write fails where Airflow's execution API fails: its task-state-store route answers 503
(:func:`failing_store`). The kill is a SIGKILL of a process running the DAG while OAC holds its
answer to the accepted POST; the retry then runs the same task instance in this process.
"""

from __future__ import annotations

import pytest

from airflow_provider_oac.hooks.oac import OACHook
from airflow_provider_oac.hooks.token_manager import forget_process_cache
from airflow_provider_oac.operators._base import WorkRecord
from tests.faults import work_record
from tests.faults.work_record import retry_in_this_process, run_until_accepted_then_kill
from tests.helpers import console_text, own_login, write_dag

pytestmark = pytest.mark.usefixtures("airflow_db")

PASSWORD = "Snapshot-Pa55word!"
API = "/api/20210901"
IMPORTS = f"""
from airflow_provider_oac.operators.snapshot import OACCreateSnapshotOperator, OACRestoreSnapshotOperator
PASSWORD = {PASSWORD!r}
"""


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch, emulator):
    # Work requests take 2 s, so a retry comes while the first snapshot is still being made.
    with own_login(emulator, "oac_default", tmp_path, monkeypatch, work_request_seconds=2):
        yield


@pytest.fixture
def failing_store():
    with work_record.failing_store() as store:
        yield store


with_id = work_record.with_work_request_id


def posts(emulator, path: str) -> int:
    """POSTs OAC accepted (counted when accepted, so also those whose answer is still held)."""
    counter = "restores_started" if path.endswith("restoreSnapshot") else "snapshots_created"
    return emulator.control.counters()[counter]


def tries(run) -> dict[str, tuple[str, int]]:
    return {ti.task_id: (ti.state, ti.try_number) for ti in run.get_task_instances()}


def how_to_clear(dag_id: str) -> str:
    """What the message tells a person to delete: the task state store key on Airflow 3.3+, the
    Variable (3.0 to 3.2's CLI command) before."""
    from airflow_provider_oac.version_compat import AIRFLOW_V_3_3_PLUS

    return "state-store/oac_work" if AIRFLOW_V_3_3_PLUS else f"airflow variables delete oac_work__{dag_id}__"


def source_snapshot(name: str = "source") -> str:
    hook = OACHook("oac_default")
    accepted = hook.create_snapshot(name, PASSWORD)
    work_request = hook.wait_for_work_request(accepted.work_request_id, poll_interval=0.2)
    return hook.client.find_created_snapshot(name, work_request).id


# --- a failed record write ---------------------------------------------------------------------------


def test_create_whose_accepted_record_write_fails_posts_once(emulator, failing_store):
    failing_store.fail(with_id)
    run = write_dag(
        "oac_intent_create_record_fails",
        'OACCreateSnapshotOperator(task_id="oac", name="once", password=PASSWORD, poll_interval=0.2)',
        retries=1,
        imports=IMPORTS,
    ).test()

    assert failing_store.failed  # the fault did happen
    assert posts(emulator, "/snapshots") == 1
    assert [s["name"] for s in emulator.control.snapshots()] == ["once"]
    assert tries(run)["oac"][0] == "success"


def test_create_whose_intent_write_fails_sends_nothing_in_that_try(emulator, failing_store, capfd):
    failing_store.fail(lambda record: True)  # the task's first write, whatever it is
    run = write_dag(
        "oac_intent_create_intent_fails",
        'OACCreateSnapshotOperator(task_id="oac", name="clean", password=PASSWORD, poll_interval=0.2)',
        retries=1,
        imports=IMPORTS,
    ).test()

    assert failing_store.failed[0].get("work_request_id") is None  # the intent, before any POST
    assert posts(emulator, "/snapshots") == 1  # only by the retry
    assert tries(run)["oac"] == ("success", 2)
    assert "nothing was sent to OAC" in console_text(capfd.readouterr().out)


def test_restore_whose_accepted_record_write_fails_posts_once(emulator, failing_store):
    target = source_snapshot()
    failing_store.fail(with_id)
    run = write_dag(
        "oac_intent_restore_record_fails",
        f'OACRestoreSnapshotOperator(task_id="oac", snapshot_id={target!r}, password=PASSWORD, poll_interval=0.2)',
        retries=1,
        imports=IMPORTS,
    ).test()

    assert failing_store.failed
    assert posts(emulator, "/system/actions/restoreSnapshot") == 1
    assert emulator.control.counters()["restores_started"] == 1
    assert tries(run)["oac"][0] == "success"


def test_a_retry_that_finds_a_restore_intent_fails_without_posting(emulator, failing_store, capfd):
    target = source_snapshot()
    failing_store.fail(with_id)
    # ...and the first try's wait fails, so a retry comes with only the intent on record.
    emulator.control.add_fault(f"GET {API}/workRequests/*", "status", status=404, times=1)
    run = write_dag(
        "oac_intent_restore_retry",
        f'OACRestoreSnapshotOperator(task_id="oac", snapshot_id={target!r}, password=PASSWORD, poll_interval=0.2)',
        retries=2,
        imports=IMPORTS,
    ).test()

    assert posts(emulator, "/system/actions/restoreSnapshot") == 1
    assert tries(run)["oac"] == ("failed", 2)  # the second try refused, and without retries
    out = console_text(capfd.readouterr().out)
    assert "was not sent again" in out
    assert how_to_clear("oac_intent_restore_retry") in out  # how to clear the record deliberately


def test_the_variable_record_of_airflow_3_0_to_3_2_refuses_a_second_restore_too(
    emulator, failing_store, monkeypatch, capfd
):
    real_init = WorkRecord.__init__

    def without_task_state_store(self, context):  # as on Airflow 3.0 to 3.2
        real_init(self, context)
        self._store = None

    monkeypatch.setattr(WorkRecord, "__init__", without_task_state_store)
    target = source_snapshot()
    failing_store.fail(with_id)
    emulator.control.add_fault(f"GET {API}/workRequests/*", "status", status=404, times=1)
    run = write_dag(
        "oac_intent_restore_variable",
        f'OACRestoreSnapshotOperator(task_id="oac", snapshot_id={target!r}, password=PASSWORD, poll_interval=0.2)',
        retries=2,
        imports=IMPORTS,
    ).test()

    assert failing_store.failed  # the Variable write was refused
    assert posts(emulator, "/system/actions/restoreSnapshot") == 1
    assert tries(run)["oac"] == ("failed", 2)
    out = console_text(capfd.readouterr().out)
    assert "airflow variables delete oac_work__oac_intent_restore_variable__" in out


def test_a_safety_snapshot_whose_record_write_fails_is_taken_once(emulator, failing_store):
    target = source_snapshot()
    failing_store.fail(lambda record: record.get("operation") == "safety_snapshot" and with_id(record))
    emulator.control.add_fault(f"GET {API}/workRequests/*", "status", status=404, times=1)
    run = write_dag(
        "oac_intent_safety",
        f"""
        OACRestoreSnapshotOperator(
            task_id="oac", snapshot_id={target!r}, password=PASSWORD, poll_interval=0.2,
            safety_snapshot_name="before-restore",
        )
        """,
        retries=1,
        imports=IMPORTS,
    ).test()

    assert failing_store.failed
    assert posts(emulator, "/snapshots") == 2  # the source, then one safety snapshot
    assert [s["name"] for s in emulator.control.snapshots()].count("before-restore") == 1
    assert emulator.control.counters()["restores_started"] == 1
    assert tries(run)["oac"] == ("success", 2)


# --- a worker killed right after OAC accepted ---------------------------------------------------------


def test_a_worker_killed_after_oac_accepted_the_create_does_not_post_again(emulator):
    dag = write_dag(
        "oac_intent_killed_create",
        'OACCreateSnapshotOperator(task_id="oac", name="killed", password=PASSWORD, poll_interval=0.2)',
        retries=1,
        imports=IMPORTS,
    )
    run_until_accepted_then_kill(emulator, dag.dag_id, f"POST {API}/snapshots", "snapshots_created")
    state, try_number = retry_in_this_process(dag)

    assert posts(emulator, "/snapshots") == 1
    assert [s["name"] for s in emulator.control.snapshots()] == ["killed"]
    assert (state, try_number) == ("success", 2)


def test_a_worker_killed_after_oac_accepted_the_restore_does_not_post_again(emulator):
    target = source_snapshot()
    dag = write_dag(
        "oac_intent_killed_restore",
        f'OACRestoreSnapshotOperator(task_id="oac", snapshot_id={target!r}, password=PASSWORD, poll_interval=0.2)',
        retries=1,
        imports=IMPORTS,
    )
    route = f"POST {API}/system/actions/restoreSnapshot"
    run_until_accepted_then_kill(emulator, dag.dag_id, route, "restores_started")
    state, _ = retry_in_this_process(dag)

    assert posts(emulator, "/system/actions/restoreSnapshot") == 1
    assert emulator.control.counters()["restores_started"] == 1
    assert state == "failed"


def test_a_failed_read_of_the_variable_record_does_not_send_the_restore_again(
    emulator, failing_store, monkeypatch, capfd
):
    """On Airflow 3.0 to 3.2 the record is a Variable. The Task SDK's ``Variable.get(default=...)``
    answers the default when the API server fails (it logs the error and tries the next secrets
    backend): read that way, a retry whose record read failed saw no record and posted again."""
    real_init = WorkRecord.__init__

    def without_task_state_store(self, context):  # as on Airflow 3.0 to 3.2
        real_init(self, context)
        self._store = None

    monkeypatch.setattr(WorkRecord, "__init__", without_task_state_store)
    target = source_snapshot()
    failing_store.fail_reads("oac_work__", with_id)  # the retry's read of the accepted restore
    emulator.control.add_fault(f"GET {API}/workRequests/*", "status", status=404, times=1)
    run = write_dag(
        "oac_intent_restore_variable_read",
        f'OACRestoreSnapshotOperator(task_id="oac", snapshot_id={target!r}, password=PASSWORD, poll_interval=0.2)',
        retries=2,
        imports=IMPORTS,
    ).test()

    assert failing_store.failed_reads  # the fault did happen
    assert emulator.control.counters()["restores_started"] == 1
    assert tries(run)["oac"] == ("success", 3)  # the failed read failed its try; the next re-attached
    out = console_text(capfd.readouterr().out)
    assert "Could not read this task's work record in the Variable 'oac_work__" in out


# --- the way out of a wait by name --------------------------------------------------------------------


def test_a_create_that_waited_by_name_in_vain_says_how_to_run_it_again(emulator, capfd):
    """The intent stays after an unanswered POST, so every new try (a retry, or the task cleared
    as the message advised) only waits for the name again: the message must say how to get out."""
    emulator.control.add_fault(f"POST {API}/snapshots", "status", status=500, times=5)  # not acted on
    run = write_dag(
        "oac_intent_wait_in_vain",
        'OACCreateSnapshotOperator(task_id="oac", name="never", password=PASSWORD, poll_interval=0.2, timeout=1)',
        retries=0,
        imports=IMPORTS,
    ).test()

    assert tries(run)["oac"][0] == "failed"
    assert emulator.control.snapshots() == [] and posts(emulator, "/snapshots") == 0
    out = console_text(capfd.readouterr().out)
    assert "no second request was sent" in out
    assert "running the task again only waits again" in out
    assert how_to_clear("oac_intent_wait_in_vain") in out  # how to delete the record


def test_an_intent_write_whose_answer_fails_does_not_block_the_retry(emulator, failing_store):
    """The API server stored the intent, then answered 503 (or its answer was lost): the try
    fails saying nothing was sent, so the retry must not find that intent and refuse ("OAC may be
    restoring it now") a restore that was never sent."""
    target = source_snapshot()
    failing_store.fail(work_record.intent, after_write=True)
    run = write_dag(
        "oac_intent_committed_then_503",
        f'OACRestoreSnapshotOperator(task_id="oac", snapshot_id={target!r}, password=PASSWORD, poll_interval=0.2)',
        retries=1,
        imports=IMPORTS,
    ).test()

    assert failing_store.failed  # the fault did happen
    assert emulator.control.counters()["restores_started"] == 1  # by the retry
    assert tries(run)["oac"] == ("success", 2)


def test_a_failed_restore_intent_write_after_the_safety_snapshot_keeps_the_safety_record(
    emulator, failing_store
):
    """Undoing that intent puts back the safety snapshot's record, so the retry restores without
    taking (or refusing over) a second safety snapshot."""
    target = source_snapshot()
    failing_store.fail(lambda r: r.get("operation") == "restore" and work_record.intent(r), after_write=True)
    run = write_dag(
        "oac_intent_restore_after_safety_503",
        f"""
        OACRestoreSnapshotOperator(
            task_id="oac", snapshot_id={target!r}, password=PASSWORD, poll_interval=0.2,
            safety_snapshot_name="before-restore",
        )
        """,
        retries=1,
        imports=IMPORTS,
    ).test()

    assert failing_store.failed
    assert [s["name"] for s in emulator.control.snapshots()].count("before-restore") == 1
    assert emulator.control.counters()["restores_started"] == 1
    assert tries(run)["oac"] == ("success", 2)


def test_a_register_with_a_bad_bucket_fails_before_any_call_and_records_no_intent(
    emulator, failing_store, capfd
):
    """Like create, register checks its storage request before the if_exists lookup: a bad bucket
    used to fail only inside the POST call, after a list call and after the intent was written."""
    requests_before = emulator.control.counters()["oac_requests"]
    run = write_dag(
        "oac_intent_register_bad_bucket",
        """
        OACRegisterSnapshotOperator(
            task_id="oac", name="imported", bar_uri="file:///exports/x.bar", bucket="bad bucket!",
            poll_interval=0.2,
        )
        """,
        retries=2,
        imports=IMPORTS
        + "from airflow_provider_oac.operators.lifecycle import OACRegisterSnapshotOperator\n",
    ).test()

    assert tries(run)["oac"] == ("failed", 1)  # bad input: no retries
    assert "is not an OCI bucket name" in console_text(capfd.readouterr().out)
    assert emulator.control.counters()["oac_requests"] == requests_before
    assert failing_store.last is None  # no intent was written


def test_a_restore_whose_token_refresh_fails_before_the_post_is_not_refused_as_sent(
    emulator, tmp_path, monkeypatch, capfd
):
    """A restore by id makes no OAC call before its POST, so its access token used to be fetched
    after the intent was written: a refresh that failed there (here the host's token state
    directory is unusable) left an intent for a restore never sent, and the retry refused it."""
    from tests.helpers import login

    target = source_snapshot()
    emulator.control.configure(access_token_ttl=1)  # every access token needs a refresh at once
    login(emulator, "oac_default")
    (tmp_path / "not-a-dir").write_text("")
    monkeypatch.setenv("AIRFLOW_PROVIDER_OAC_STATE_DIR", str(tmp_path / "not-a-dir" / "state"))
    forget_process_cache()
    run = write_dag(
        "oac_intent_restore_refresh_fails",
        f'OACRestoreSnapshotOperator(task_id="oac", snapshot_id={target!r}, password=PASSWORD, poll_interval=0.2)',
        retries=1,
        imports=IMPORTS,
    ).test()

    assert emulator.control.counters()["restores_started"] == 0
    assert tries(run)["oac"][0] == "failed"
    assert "An earlier try of this task sent the restore" not in console_text(capfd.readouterr().out)
