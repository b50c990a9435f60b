"""The create and restore operators in real DAG runs (``dag.test()``) against the emulator."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from airflow_provider_oac.errors import OACConfigError
from airflow_provider_oac.operators.snapshot import OACCreateSnapshotOperator, OACRestoreSnapshotOperator
from tests.conftest import REPO
from tests.helpers import SNAPSHOT_PASSWORD, console_text, dag_bag, own_login, write_dag

pytestmark = pytest.mark.usefixtures("airflow_db")

PASSWORD = SNAPSHOT_PASSWORD
WEAK = "snapshotPassword123"  # Oracle's own older example: no special character
NETWORK = ("oac_requests", "token_requests")


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch, emulator):
    from airflow.models import Variable

    with own_login(emulator, "oac_default", tmp_path, monkeypatch, work_request_seconds=0.3):
        Variable.set("oac_snapshot_password", PASSWORD)
        yield


def example_dag(dag_id: str):
    bag = dag_bag(REPO / "example_dags")
    assert not bag.import_errors, bag.import_errors
    return bag.get_dag(dag_id)


def states(dag_run) -> dict[str, str]:
    return {ti.task_id: ti.state for ti in dag_run.get_task_instances()}


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


IMPORTS = f"""
from airflow_provider_oac.operators.snapshot import OACCreateSnapshotOperator, OACRestoreSnapshotOperator
PASSWORD = {PASSWORD!r}
"""


def run_dag(dag_id: str, tasks: str, *, retries: int = 0):
    return write_dag(dag_id, tasks, retries=retries, imports=IMPORTS).test()


def test_backup_dag_creates_one_snapshot_and_passes_its_id_downstream(emulator):
    run = example_dag("oac_pre_deployment_backup").test(
        logical_date=datetime(2026, 3, 1, 12, tzinfo=timezone.utc)
    )
    assert states(run) == {"backup": "success", "deploy": "success"}
    snapshots = emulator.control.snapshots()
    assert len(snapshots) == 1
    assert snapshots[0]["name"] == f"pre-deploy-{run.run_after.strftime('%Y%m%dT%H%M%S%f')}"
    assert xcom(run, "backup") == snapshots[0]["id"]
    assert xcom(run, "deploy") == snapshots[0]["id"]
    assert xcom(run, "backup", "work_request_id") == snapshots[0]["work_request_id"]
    assert emulator.control.counters()["snapshots_created"] == 1


def test_refresh_dag_restores_the_newest_snapshot_of_a_name(emulator):
    example_dag("oac_pre_deployment_backup").test(logical_date=datetime(2026, 3, 2, tzinfo=timezone.utc))
    name = emulator.control.snapshots()[0]["name"]
    run = example_dag("oac_rollback").test(run_conf={"snapshot_name": name})
    assert states(run) == {"restore": "success"}
    restores = emulator.control.restores()
    assert len(restores) == 1
    assert restores[0]["snapshot_id"] == emulator.control.snapshots()[0]["id"]


def test_restore_by_id(emulator):
    run = run_dag(
        "oac_test_restore_by_id",
        """
        backup = OACCreateSnapshotOperator(task_id="backup", name="by-id", password=PASSWORD, poll_interval=0.2)
        restore = OACRestoreSnapshotOperator(
            task_id="restore", snapshot_id=backup.output, password=PASSWORD, poll_interval=0.2
        )
        """,
    )
    assert states(run) == {"backup": "success", "restore": "success"}
    assert emulator.control.counters()["restores_started"] == 1


def test_a_failed_work_request_fails_the_task_with_oacs_own_message(emulator, capfd):
    emulator.control.add_fault(
        "POST /api/20210901/snapshots",
        "fail_work_request",
        code="StorageWriteFailed",
        message="Bucket test-bucket is not writable by the instance principal",
    )
    run = run_dag(
        "oac_test_failed_wr",
        'OACCreateSnapshotOperator(task_id="backup", name="doomed", password=PASSWORD, poll_interval=0.2)',
    )
    assert states(run) == {"backup": "failed"}
    output = capfd.readouterr()
    assert "Bucket test-bucket is not writable by the instance principal" in output.out + output.err


def test_a_wrong_restore_password_fails_with_oacs_message(emulator, capfd):
    run = run_dag(
        "oac_test_wrong_password",
        """
        backup = OACCreateSnapshotOperator(task_id="backup", name="pw", password=PASSWORD, poll_interval=0.2)
        restore = OACRestoreSnapshotOperator(
            task_id="restore", snapshot_name="pw", password="Wrong-Pa55word", poll_interval=0.2
        )
        backup >> restore
        """,
    )
    assert states(run) == {"backup": "success", "restore": "failed"}
    output = capfd.readouterr()
    assert "is incorrect" in output.out + output.err
    assert PASSWORD not in without_in_process_mask_request(output.out + output.err)


def without_in_process_mask_request(text: str) -> str:
    """``text`` without, on Airflow 3.0 only, the task's debug echo of its own ``mask_secret``
    request (``Sending request msg=MaskSecret(value=...)``).

    3.0's ``dag.test()`` runs the task in-process and prints every debug line of its comms
    client, including the value it asks the supervisor to mask. A deployment does not write that
    line anywhere (checked on 3.0.6 with scripts/compat_row.py's deployment, whose check greps
    every log for the password). Every other line stays checked, including the rendered fields
    sent to the supervisor, and on 3.1+ nothing is removed.
    """
    from airflow_provider_oac.version_compat import AIRFLOW_V_3_1_PLUS

    if AIRFLOW_V_3_1_PLUS:
        return text
    echo = ("Sending request", "MaskSecret(")
    return "\n".join(line for line in text.splitlines() if not all(part in line for part in echo))


def test_a_retry_reattaches_to_the_accepted_work_instead_of_creating_again(emulator):
    # The first try's wait fails (OAC answers 404 once); the retry must wait for the same work request.
    emulator.control.add_fault("GET /api/20210901/workRequests/*", "status", status=404, times=1)
    run = run_dag(
        "oac_test_reattach",
        'OACCreateSnapshotOperator(task_id="backup", name="once", password=PASSWORD, poll_interval=0.2)',
        retries=1,
    )
    assert states(run) == {"backup": "success"}
    assert emulator.control.counters()["snapshots_created"] == 1
    assert len(emulator.control.snapshots()) == 1


def test_a_create_whose_answer_is_lost_waits_for_the_snapshot_instead_of_posting_again(emulator):
    emulator.control.add_fault("POST /api/20210901/snapshots", "accept_then_error", status=502)
    run = run_dag(
        "oac_test_lost_answer",
        'OACCreateSnapshotOperator(task_id="backup", name="lost", password=PASSWORD, poll_interval=0.2)',
        retries=1,
    )
    assert states(run) == {"backup": "success"}
    assert emulator.control.counters()["snapshots_created"] == 1


def test_if_exists_fail_refuses_a_second_snapshot_of_the_same_name(emulator, capfd):
    run = run_dag(
        "oac_test_if_exists",
        """
        first = OACCreateSnapshotOperator(task_id="first", name="dup", password=PASSWORD, poll_interval=0.2)
        second = OACCreateSnapshotOperator(task_id="second", name="dup", password=PASSWORD, poll_interval=0.2)
        first >> second
        """,
        retries=2,
    )
    assert states(run) == {"first": "success", "second": "failed"}
    assert emulator.control.counters()["snapshots_created"] == 1
    assert "already exists" in capfd.readouterr().out


def test_deferrable_create_waits_in_the_trigger(emulator):
    run = run_dag(
        "oac_test_deferrable",
        """
        OACCreateSnapshotOperator(
            task_id="backup", name="deferred", password=PASSWORD, poll_interval=0.2, deferrable=True
        )
        """,
    )
    assert states(run) == {"backup": "success"}
    assert xcom(run, "backup") == emulator.control.snapshots()[0]["id"]


def posts(emulator, path: str = "/api/20210901/snapshots") -> int:
    return sum(1 for r in emulator.control.request_log() if r["method"] == "POST" and r["path"] == path)


def test_a_deferred_create_whose_answer_was_lost_waits_for_the_snapshot_in_the_trigger(emulator, capfd):
    # OAC makes the snapshot but its answer is an error: the outcome is unknown, so the task must
    # not post again; deferrable, it waits for the name in the triggerer, not in a worker slot.
    emulator.control.add_fault("POST /api/20210901/snapshots", "accept_then_error", status=502)
    run = run_dag(
        "oac_test_deferred_lost_answer",
        """
        OACCreateSnapshotOperator(
            task_id="backup", name="lost-answer", password=PASSWORD, poll_interval=0.2, timeout=30,
            deferrable=True,
        )
        """,
    )
    assert states(run) == {"backup": "success"}
    assert xcom(run, "backup") == emulator.control.snapshots()[0]["id"]
    assert emulator.control.counters()["snapshots_created"] == 1
    assert posts(emulator) == 1
    assert "the triggerer waits for a snapshot named 'lost-answer'" in capfd.readouterr().out


def test_a_deferred_create_without_answer_or_snapshot_fails_and_never_posts_again(emulator, capfd):
    emulator.control.add_fault("POST /api/20210901/snapshots", "status", status=500, times=5)
    run = run_dag(
        "oac_test_deferred_no_answer",
        """
        OACCreateSnapshotOperator(
            task_id="backup", name="no-answer", password=PASSWORD, poll_interval=0.2, timeout=1,
            deferrable=True,
        )
        """,
        retries=1,
    )
    assert states(run) == {"backup": "failed"}
    assert emulator.control.snapshots() == []
    assert posts(emulator) == 1  # the retry waited for the name again instead of posting
    out = console_text(capfd.readouterr().out)
    assert "no snapshot of that name appeared in time; no second request was sent" in out
    from airflow_provider_oac.version_compat import AIRFLOW_V_3_1_PLUS

    if AIRFLOW_V_3_1_PLUS:
        assert out.count("the triggerer waits for a snapshot named 'no-answer'") == 2
    else:
        # Airflow 3.0's execution API keeps next_method/next_kwargs when a resumed try fails (3.1
        # clears them), so the retry resumes with the first try's event instead of executing and
        # deferring again; it still fails the same way without posting. (3.0's dag.test() may
        # also print each log line twice.)
        assert out.count("the triggerer waits for a snapshot named 'no-answer'") >= 1
    assert "running the task again only waits again" in out  # and how to delete the record:
    from airflow_provider_oac.version_compat import AIRFLOW_V_3_3_PLUS

    assert ("state-store/oac_work" if AIRFLOW_V_3_3_PLUS else "airflow variables delete") in out


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "x", "password": PASSWORD, "if_exists": "overwrite"}, "if_exists='overwrite'"),
        ({"name": "x", "password": PASSWORD, "poll_interval": 0}, "poll_interval must be greater than 0"),
        ({"name": "x", "password": PASSWORD, "timeout": "soon"}, "timeout must be a number"),
    ],
)
def test_bad_create_arguments_fail_at_dag_definition(kwargs, message):
    with pytest.raises(OACConfigError, match=message.replace("(", r"\(")):
        OACCreateSnapshotOperator(task_id="t", **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": " padded ", "password": PASSWORD}, "name has leading or trailing spaces"),
        ({"name": "ok", "password": ""}, "password is empty"),
        ({"name": "ok", "password": 123}, "password must be text"),
        ({"name": "ok", "password": PASSWORD, "bar_uri": ""}, "bar_uri is empty"),
    ],
)
def test_bad_create_values_fail_the_task_without_retries_or_network_calls(emulator, kwargs, message, capfd):
    requests_before = emulator.control.counters()["oac_requests"]
    args = ", ".join(f"{key}={value!r}" for key, value in kwargs.items())
    run = run_dag("oac_test_bad_values", f'OACCreateSnapshotOperator(task_id="backup", {args})', retries=3)
    assert states(run) == {"backup": "failed"}
    assert message in capfd.readouterr().out
    assert emulator.control.counters()["oac_requests"] == requests_before


@pytest.mark.parametrize(
    "operator",
    [
        'OACCreateSnapshotOperator(task_id="t", name="n", password=WEAK)',
        'OACRestoreSnapshotOperator(task_id="t", snapshot_name="n", password=WEAK, safety_snapshot_name="s")',
    ],
)
def test_a_literal_new_snapshot_password_breaking_oracles_rule_fails_at_dag_definition(operator):
    names = {"OACCreateSnapshotOperator": OACCreateSnapshotOperator, "WEAK": WEAK}
    names["OACRestoreSnapshotOperator"] = OACRestoreSnapshotOperator
    with pytest.raises(OACConfigError) as caught:
        eval(operator, names)  # noqa: S307 - our own constant source

    assert "password does not meet Oracle's snapshot password rule (14 to 50 characters" in str(caught.value)
    assert "it lacks a special character" in str(caught.value)
    assert WEAK not in str(caught.value)


@pytest.mark.parametrize(
    ("task", "field"),
    [
        (
            'OACCreateSnapshotOperator(task_id="op", name="weak", password="{{ var.value.weak_password }}")',
            "password does not meet",
        ),
        (
            'OACRestoreSnapshotOperator(task_id="op", snapshot_name="any", safety_snapshot_name="before", '
            'password="{{ var.value.weak_password }}")',
            "password (also the safety snapshot's) does not meet",
        ),
    ],
)
def test_a_templated_weak_password_fails_the_task_before_any_call(emulator, capfd, task, field):
    from airflow.models import Variable

    Variable.set("weak_password", WEAK)
    before = {name: emulator.control.counters()[name] for name in NETWORK}

    run = run_dag("oac_test_weak_password", task, retries=3)

    assert states(run) == {"op": "failed"}
    output = capfd.readouterr()
    assert f"{field} Oracle's snapshot password rule" in console_text(output.out)
    assert "AirflowFailException" in output.out  # bad input: no retries
    assert WEAK not in without_in_process_mask_request(output.out + output.err)
    assert {name: emulator.control.counters()[name] for name in NETWORK} == before
    assert emulator.control.counters()["snapshots_created"] == 0


def test_a_restore_with_an_older_weaker_password_warns_and_restores(emulator, capfd):
    # A BAR made before March 2025 keeps its password; the rule is only warned about on restore.
    from airflow.models import Variable

    emulator.control.put_bar_object("test-bucket", "old.bar", WEAK)
    Variable.set("old_password", WEAK)

    run = run_dag(
        "oac_test_old_password",
        """
        from airflow_provider_oac.operators.lifecycle import OACRegisterSnapshotOperator
        register = OACRegisterSnapshotOperator(
            task_id="register", name="old", bar_uri="file:///old.bar", password="{{ var.value.old_password }}",
            poll_interval=0.2,
        )
        restore = OACRestoreSnapshotOperator(
            task_id="restore", snapshot_name="old", password="{{ var.value.old_password }}", poll_interval=0.2
        )
        register >> restore
        """,
    )

    assert states(run) == {"register": "success", "restore": "success"}
    output = capfd.readouterr().out
    from airflow_provider_oac.version_compat import AIRFLOW_V_3_1_PLUS

    # One warning per task; Airflow 3.0's dag.test() prints each task log line twice (its own
    # stdout handler and the root logger's).
    expected = {2} if AIRFLOW_V_3_1_PLUS else {2, 4}
    assert output.count("does not meet Oracle's snapshot password rule") in expected
    assert "sent anyway" in output
    assert WEAK not in without_in_process_mask_request(output)


def test_a_bar_uri_of_an_undocumented_form_is_warned_about_and_oac_decides(emulator, capfd):
    # OAC documents file:///<object name>; other forms are unconfirmed, so OAC's answer counts.
    run = run_dag(
        "oac_test_bare_uri",
        'OACCreateSnapshotOperator(task_id="backup", name="bare", password=PASSWORD, bar_uri="nightly.bar")',
    )

    assert states(run) == {"backup": "failed"}
    output = capfd.readouterr().out
    assert "bar_uri 'nightly.bar' is not of the form OAC documents, file:///<object name" in output
    assert "Invalid Snapshot BAR URI" in output
    assert emulator.control.counters()["snapshots_created"] == 0


def test_restore_needs_exactly_one_of_id_or_name():
    with pytest.raises(OACConfigError, match="exactly one of snapshot_id or snapshot_name"):
        OACRestoreSnapshotOperator(task_id="r", password=PASSWORD)
    with pytest.raises(OACConfigError, match="exactly one"):
        OACRestoreSnapshotOperator(task_id="r", password=PASSWORD, snapshot_id="a", snapshot_name="b")


def test_a_failed_work_request_is_not_reattached_by_the_retry(emulator):
    emulator.control.add_fault(
        "POST /api/20210901/snapshots", "fail_work_request", code="Transient", message="OAC was restarting"
    )
    run = run_dag(
        "oac_test_failed_then_retried",
        'OACCreateSnapshotOperator(task_id="backup", name="second-chance", password=PASSWORD, poll_interval=0.2)',
        retries=1,
    )
    assert states(run) == {"backup": "success"}
    # The retry posted again (the first work request had failed) and the snapshot exists once.
    assert emulator.control.counters()["work_requests_created"] == 2
    assert [s["name"] for s in emulator.control.snapshots() if s.get("bar_exists")] == ["second-chance"]
