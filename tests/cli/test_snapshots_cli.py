"""`airflow-oac snapshots ...` against the emulator, run as users run it (a subprocess, no terminal)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest

from airflow_provider_oac.hooks.oac import OACHook
from airflow_provider_oac.login.connections import existing_connection
from tests.helpers import BIN, SNAPSHOT_PASSWORD, cli, own_login

pytestmark = pytest.mark.usefixtures("airflow_db")

PASSWORD = SNAPSHOT_PASSWORD
CONN = "oac_cli_snaps"


@pytest.fixture(autouse=True)
def logged_in(tmp_path, monkeypatch, emulator):
    with own_login(emulator, CONN, tmp_path, monkeypatch, work_request_seconds=0.2):
        yield


def snaps(
    *args: str, stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``airflow-oac snapshots ARGS --conn-id CONN``, with ``stdin`` piped in when given."""
    argv = ["snapshots", *args, "--conn-id", CONN]
    if stdin is None:
        return cli(*argv, env=env)
    return subprocess.run(
        [str(BIN / "airflow-oac"), *argv],
        env={**os.environ, **(env or {})},
        input=stdin,
        text=True,
        capture_output=True,
        timeout=120,
    )


def with_password(*args: str) -> subprocess.CompletedProcess[str]:
    return snaps(*args, "--password-env", "SNAP_PW", "--poll-interval", "0.1", env={"SNAP_PW": PASSWORD})


def make(name: str) -> str:
    """A finished snapshot called ``name``, made in-process with the hook (the CLI is what is tested)."""
    hook = OACHook(CONN)
    accepted = hook.create_snapshot(name, PASSWORD)
    work_request = hook.wait_for_work_request(accepted.work_request_id, poll_interval=0.05)
    return hook.client.find_created_snapshot(name, work_request).id


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    """The single error line; fails when there is a traceback or more than one line."""
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("airflow-oac: error:")]
    assert len(errors) == 1, result.stderr
    return errors[0]


def secrets() -> list[str]:
    return [PASSWORD, existing_connection(CONN).password]


def assert_no_secret(result: subprocess.CompletedProcess[str]) -> None:
    for secret in secrets():
        assert secret not in result.stdout + result.stderr


def counters(emulator) -> dict[str, int]:
    return emulator.control.counters()


# --- list and get ----------------------------------------------------------------------------------------


def test_list_json_is_every_snapshot_newest_first(emulator):
    first, second = make("nightly-1"), make("nightly-2")
    result = snaps("list", "--json")
    assert result.returncode == 0, result.stderr
    listed = json.loads(result.stdout)
    assert [entry["id"] for entry in listed] == [second, first]
    assert listed[0] == {
        "id": second,
        "name": "nightly-2",
        "created_by": emulator.config.username,
        "time_created": listed[0]["time_created"],
        "bar_uri": "file:///nightly-2.bar",
    }
    assert listed[0]["time_created"].endswith("Z")


def test_list_shows_a_readable_table_filtered_by_name_pattern(emulator):
    nightly = make("nightly-1")
    make("golden")
    result = snaps("list", "--name-pattern", "nightly-*")
    assert result.returncode == 0, result.stderr
    header, *rows = result.stdout.splitlines()
    assert header.split() == ["ID", "NAME", "CREATED", "CREATED", "BY", "BAR"]
    assert len(rows) == 1
    assert rows[0].startswith(nightly) and "nightly-1" in rows[0] and "UTC" in rows[0]


def test_list_says_so_when_there_are_no_snapshots(emulator):
    result = snaps("list")
    assert (result.returncode, result.stdout.strip()) == (0, "No snapshots.")
    assert json.loads(snaps("list", "--json").stdout) == []


def test_get_json_shows_the_snapshot_and_where_its_bar_file_is(emulator):
    snapshot_id = make("golden")
    result = snaps("get", snapshot_id, "--json")
    assert result.returncode == 0, result.stderr
    details = json.loads(result.stdout)
    assert details["id"] == snapshot_id
    assert details["name"] == "golden"
    assert details["storage"]["bucket"] == "test-bucket"
    assert details["storage"]["auth_type"] == "OCI_RESOURCE_PRINCIPAL"
    plain = snaps("get", snapshot_id)
    assert "golden" in plain.stdout and "test-bucket" in plain.stdout


def test_get_of_an_unknown_id_fails_with_oacs_message_on_one_line(emulator):
    result = snaps("get", "0b7e1c52-0000-4000-8000-000000000000")
    assert result.returncode == 1
    assert "was not found" in one_line_error(result)


def test_an_id_that_cannot_be_an_oac_id_is_refused_before_any_call(emulator):
    before = counters(emulator)["oac_requests"]
    result = snaps("get", "../system")
    assert result.returncode == 2
    assert "is not an OAC id" in one_line_error(result)
    assert counters(emulator)["oac_requests"] == before


# --- create ----------------------------------------------------------------------------------------------


def test_create_waits_and_prints_the_new_snapshot_id(emulator):
    result = with_password("create", "--name", "from-cli")
    assert result.returncode == 0, result.stderr
    [snapshot] = emulator.control.snapshots()
    assert result.stdout.strip() == f"Snapshot 'from-cli' created: id {snapshot['id']}"
    assert "SUCCEEDED" in result.stderr  # progress goes to stderr
    assert counters(emulator)["snapshots_created"] == 1
    assert_no_secret(result)


def test_create_json_carries_the_ids_a_script_needs(emulator):
    result = with_password("create", "--name", "scripted", "--json")
    assert result.returncode == 0, result.stderr
    [snapshot] = emulator.control.snapshots()
    assert json.loads(result.stdout) == {
        "name": "scripted",
        "work_request_id": snapshot["work_request_id"],
        "snapshot_id": snapshot["id"],
        "status": "SUCCEEDED",
    }


def test_create_reads_the_password_from_stdin(emulator):
    result = snaps(
        "create", "--name", "piped", "--password-stdin", "--poll-interval", "0.1", stdin=PASSWORD + "\n"
    )
    assert result.returncode == 0, result.stderr
    # The BAR file is protected by exactly that password: a restore with it succeeds.
    restore = with_password("restore", "--name", "piped", "--yes")
    assert restore.returncode == 0, restore.stderr
    assert_no_secret(result)


def test_create_no_wait_then_wait_for_the_work_request(emulator):
    started = with_password("create", "--name", "later", "--no-wait", "--json")
    assert started.returncode == 0, started.stderr
    accepted = json.loads(started.stdout)
    assert (accepted["status"], accepted["snapshot_id"]) == ("ACCEPTED", None)
    waited = snaps("wait", accepted["work_request_id"], "--poll-interval", "0.1", "--json")
    assert waited.returncode == 0, waited.stderr
    work_request = json.loads(waited.stdout)
    assert work_request["status"] == "SUCCEEDED"
    assert work_request["operation_type"] == "CREATE_SNAPSHOT"
    assert work_request["snapshot_id"] == emulator.control.snapshots()[0]["id"]


def test_create_needs_a_password_source_and_never_takes_the_password_as_a_flag(emulator):
    result = snaps("create", "--name", "x")
    assert result.returncode == 2
    assert "one of the arguments --password-env --password-stdin is required" in one_line_error(result)
    help_text = snaps("create", "--help").stdout
    assert "visible to every user of this host" in " ".join(help_text.split())


def test_create_with_an_unset_password_variable_fails_before_any_call(emulator):
    before = counters(emulator)["oac_requests"]
    result = snaps("create", "--name", "x", "--password-env", "NOT_SET_ANYWHERE")
    assert result.returncode == 2
    assert "Environment variable NOT_SET_ANYWHERE is not set" in one_line_error(result)
    assert counters(emulator)["oac_requests"] == before


@pytest.mark.parametrize("source", ["env", "stdin"])
def test_create_with_a_password_breaking_oracles_rule_fails_before_any_call(emulator, source):
    before = {name: counters(emulator)[name] for name in ("oac_requests", "token_requests")}
    weak = "snapshotPassword123"
    if source == "env":
        result = snaps("create", "--name", "weak", "--password-env", "PW", env={"PW": weak})
    else:
        result = snaps("create", "--name", "weak", "--password-stdin", stdin=weak + "\n")

    assert result.returncode == 2
    line = one_line_error(result)
    assert "snapshot password does not meet Oracle's snapshot password rule (14 to 50 characters" in line
    assert "it lacks a special character" in line
    assert weak not in result.stdout + result.stderr
    assert {name: counters(emulator)[name] for name in before} == before


def test_restore_with_an_older_weaker_password_warns_and_restores(emulator):
    # A BAR made before March 2025 keeps its older password: warned about, not refused.
    emulator.control.put_bar_object("test-bucket", "old.bar", "Admin123")

    hook = OACHook(CONN)
    accepted = hook.register_snapshot("old", "file:///old.bar", password="Admin123")
    hook.wait_for_work_request(accepted.work_request_id, poll_interval=0.05)

    result = snaps("restore", "--name", "old", "--yes", "--password-env", "PW", env={"PW": "Admin123"})

    assert result.returncode == 0, result.stderr
    [warning] = [line for line in result.stderr.splitlines() if line.startswith("Warning:")]
    assert "does not meet Oracle's snapshot password rule" in warning and "sent anyway" in warning
    assert "Admin123" not in result.stdout + result.stderr
    assert emulator.control.restores()[0]["status"] == "SUCCEEDED"


def test_create_refuses_a_name_that_exists_and_creates_nothing(emulator):
    make("taken")
    result = with_password("create", "--name", "taken")
    assert result.returncode == 2
    assert "already exists" in one_line_error(result)
    assert counters(emulator)["snapshots_created"] == 1


def test_a_failed_create_exits_1_with_oacs_message_and_json_still_names_the_work_request(emulator):
    emulator.control.add_fault(
        "POST /api/20210901/snapshots",
        "fail_work_request",
        code="StorageWriteFailed",
        message="Bucket is full",
    )
    result = with_password("create", "--name", "doomed", "--json")
    assert result.returncode == 1
    assert "Bucket is full" in one_line_error(result)
    report = json.loads(result.stdout)
    assert report["status"] == "FAILED"
    assert report["work_request_id"]
    assert report["errors"] == [{"code": "StorageWriteFailed", "message": "Bucket is full"}]


# --- restore ---------------------------------------------------------------------------------------------


def test_restore_without_yes_and_no_terminal_refuses_before_any_call(emulator):
    make("golden")
    before = counters(emulator)["oac_requests"]
    result = with_password("restore", "--name", "golden")
    assert result.returncode == 2
    assert "pass --yes" in one_line_error(result)
    assert counters(emulator)["oac_requests"] == before
    assert counters(emulator)["restores_started"] == 0


def test_restore_by_name_restores_the_newest_of_that_name(emulator):
    make("golden")
    newest = make("golden-2")
    result = with_password("restore", "--name", "golden-2", "--yes")
    assert result.returncode == 0, result.stderr
    [restore] = emulator.control.restores()
    assert (restore["snapshot_id"], restore["status"]) == (newest, "SUCCEEDED")
    assert result.stdout.strip() == f"Restored {emulator.url} from snapshot {newest}."
    assert_no_secret(result)


def test_restore_by_id_without_waiting_prints_the_work_request_as_json(emulator):
    snapshot_id = make("golden")
    result = with_password("restore", snapshot_id, "--yes", "--no-wait", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["snapshot_id"] == snapshot_id
    assert report["status"] == "ACCEPTED"
    assert report["work_request_id"] == emulator.control.restores()[0]["work_request_id"]


def test_restore_with_a_wrong_password_fails_with_oacs_message(emulator):
    make("golden")
    result = snaps(
        "restore",
        "--name",
        "golden",
        "--yes",
        "--password-env",
        "PW",
        "--poll-interval",
        "0.1",
        env={"PW": "Wrong-Pa55word"},
    )
    assert result.returncode == 1
    assert "is incorrect" in one_line_error(result)
    assert "Wrong-Pa55word" not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("restore", "--yes"), "give either SNAPSHOT_ID or --name"),
        (("restore", "abc", "--name", "x", "--yes"), "give either SNAPSHOT_ID or --name"),
        (("restore", "--name", "nope", "--yes"), "No snapshot named 'nope'"),
        (
            ("restore", "--name", "x", "--yes", "--poll-interval", "0"),
            "--poll-interval must be greater than 0",
        ),
        (("restore", "--name", "x", "--yes", "--timeout", "soon"), "invalid float value: 'soon'"),
    ],
)
def test_bad_restore_input_is_one_line_exit_2(emulator, args, message):
    result = snaps(*args, "--password-env", "SNAP_PW", env={"SNAP_PW": PASSWORD})
    assert result.returncode == 2
    assert message in one_line_error(result)
    assert counters(emulator)["restores_started"] == 0


# --- delete ----------------------------------------------------------------------------------------------


def test_delete_with_yes_deregisters_and_keeps_the_bar_file(emulator):
    snapshot_id = make("doomed")
    result = snaps("delete", snapshot_id, "--yes", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "snapshot_id": snapshot_id,
        "name": "doomed",
        "deleted": True,
        "delete_storage": False,
    }
    assert counters(emulator)["snapshots_deleted"] == 1
    assert [b["object"] for b in emulator.control.bar_objects()] == ["doomed.bar"]


def test_delete_storage_also_removes_the_bar_file(emulator):
    snapshot_id = make("doomed")
    result = snaps("delete", snapshot_id, "--delete-storage", "--yes")
    assert result.returncode == 0, result.stderr
    assert "and its BAR file" in result.stdout
    assert emulator.control.bar_objects() == []


def test_delete_without_yes_and_no_terminal_deletes_nothing(emulator):
    snapshot_id = make("kept")
    result = snaps("delete", snapshot_id)
    assert result.returncode == 2
    assert "pass --yes" in one_line_error(result)
    assert counters(emulator)["snapshots_deleted"] == 0


def test_delete_of_an_unknown_snapshot_fails_on_one_line(emulator):
    result = snaps("delete", "0b7e1c52-0000-4000-8000-000000000000", "--yes")
    assert result.returncode == 1
    assert "was not found" in one_line_error(result)


# --- wait ------------------------------------------------------------------------------------------------


def test_wait_gives_up_after_the_timeout_and_says_oac_carries_on(emulator):
    emulator.control.add_fault("POST /api/20210901/snapshots", "stuck_work_request")
    started = json.loads(with_password("create", "--name", "stuck", "--no-wait", "--json").stdout)
    result = snaps("wait", started["work_request_id"], "--timeout", "0.5", "--poll-interval", "0.1")
    assert result.returncode == 1
    assert "still IN_PROGRESS" in one_line_error(result)


def test_wait_for_an_unknown_work_request_fails_on_one_line(emulator):
    result = snaps("wait", "0b7e1c52-0000-4000-8000-000000000000", "--poll-interval", "0.1")
    assert result.returncode == 1
    assert "was not found" in one_line_error(result)


def test_ctrl_c_while_waiting_stops_only_the_wait(emulator):
    emulator.control.add_fault("POST /api/20210901/snapshots", "stuck_work_request")
    process = subprocess.Popen(
        [
            str(BIN / "airflow-oac"),
            "snapshots",
            "create",
            "--name",
            "stuck",
            "--password-env",
            "SNAP_PW",
            "--poll-interval",
            "0.1",
            "--conn-id",
            CONN,
        ],
        env={**os.environ, "SNAP_PW": PASSWORD},
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        # A shell without job control starts background jobs with SIGINT ignored, and Python then
        # installs no KeyboardInterrupt handler: give the CLI the default a terminal would.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    assert process.stderr is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if "Work request" in process.stderr.readline():
            break
    process.send_signal(signal.SIGINT)
    _out, err = process.communicate(timeout=30)
    assert process.returncode == 130
    assert "OAC carries on with work request" in err
    assert "Traceback" not in err
    assert counters(emulator)["snapshots_created"] == 1
