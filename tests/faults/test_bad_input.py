"""The short form of the bad-input matrix (``make faults`` runs every flag, field and argument).

Each bad value gets one line, no traceback, and no network call when it can be checked locally.
"""

from __future__ import annotations

import pytest

from airflow_provider_oac.hooks.oac import OACHook
from airflow_provider_oac.hooks.token_manager import forget_process_cache
from airflow_provider_oac.testing import login
from tests.faults.bad_input import OPERATOR_ARGUMENTS, CLIMatrix, connection_rows, operator_rows

pytestmark = [pytest.mark.usefixtures("airflow_db"), pytest.mark.timeout(600)]


@pytest.fixture
def logged_in(emulator, tmp_path, monkeypatch):
    monkeypatch.setenv("AIRFLOW_PROVIDER_OAC_STATE_DIR", str(tmp_path / "state"))
    forget_process_cache()
    emulator.control.configure(work_request_seconds=0.2)
    login(emulator, "oac_bad_input")
    hook = OACHook("oac_bad_input")
    accepted = hook.create_snapshot("bad-input-source", "Bad-Input-Pa55word")
    work_request = hook.wait_for_work_request(accepted.work_request_id, poll_interval=0.2)
    yield hook.client.find_created_snapshot("bad-input-source", work_request).id, accepted.work_request_id
    forget_process_cache()


def test_bad_cli_flags_get_one_line_and_no_call(emulator, logged_in):
    snapshot_id, work_request_id = logged_in
    matrix = CLIMatrix(emulator, "oac_bad_input", snapshot_id, work_request_id)
    commands = {"login": ["--oac-url", "--scope"], "snapshots restore": ["SNAPSHOT_ID", "--timeout"]}

    rows = matrix.rows(commands)

    assert [(r.surface, r.field, r.value, r.broken) for r in rows if r.broken] == []
    assert len(rows) == 4 * 11


def test_bad_connection_fields_get_one_line_and_no_call(emulator, logged_in):
    rows = connection_rows(emulator, "oac_bad_input", fields=("host", "iam_url", "extra (whole)"))

    assert [(r.field, r.value, r.broken) for r in rows if r.broken] == []


def test_bad_operator_arguments_fail_without_a_call(emulator, logged_in):
    chosen = [a for a in OPERATOR_ARGUMENTS if a[1] in ("password", "snapshot_id", "poll_interval")][:3]

    rows = operator_rows(emulator, "oac_bad_input", chosen)

    assert [(r.surface, r.field, r.value, r.message, r.broken) for r in rows if r.broken] == []


def test_waiting_arguments_of_single_call_operators_are_refused_at_parse_for_every_value(emulator):
    chosen = [a for a in OPERATOR_ARGUMENTS if a[3] == "not taken"]

    rows = operator_rows(emulator, "oac_bad_input", chosen)

    assert len(chosen) == 8
    assert [(r.surface, r.field, r.value, r.message, r.broken) for r in rows if r.broken] == []
    assert all(
        r.message.startswith("at DAG parse: OACConfigError: ") and "does not take" in r.message for r in rows
    )
    assert all(r.network_calls == 0 for r in rows)
