"""`airflow-oac login / status / logout` against the emulator, run as a user runs them."""

from __future__ import annotations

import json
import time

import pytest

from airflow_provider_oac.hooks.config import login_key
from airflow_provider_oac.hooks.token_store import VariableTokenStore
from airflow_provider_oac.login.connections import existing_connection
from tests.helpers import CLIProcess, cli, cli_login_args

pytestmark = pytest.mark.usefixtures("airflow_db")


def error_lines(stderr: str) -> list[str]:
    """The error lines (the countdown also writes to stderr)."""
    return [line for line in stderr.splitlines() if line.startswith("airflow-oac: error:")]


def stored_connection(conn_id: str):
    return existing_connection(conn_id)


def test_login_approved_writes_the_connection_and_says_who_until_when(emulator):
    emulator.control.configure(auto_approve=True, device_interval=1)
    result = cli(*cli_login_args(emulator, "oac_cli_ok"), "--bucket", "snaps")
    assert result.returncode == 0, result.stderr
    assert "one-time code:" in result.stdout
    assert f"{emulator.iam_url}/ui/v1/device" in result.stdout
    assert f"as {emulator.config.username}" in result.stdout
    assert "lasts until" in result.stdout
    conn = stored_connection("oac_cli_ok")
    assert conn.conn_type == "oac"
    assert conn.host == emulator.url
    assert conn.login == emulator.config.client_id
    assert conn.password  # the refresh token
    extra = json.loads(conn.extra)
    assert extra["iam_url"] == emulator.iam_url
    assert extra["bucket"] == "snaps"
    assert extra["subject"] == emulator.config.username
    assert conn.password not in result.stdout + result.stderr


def test_login_waits_for_the_person_to_approve_the_code(emulator):
    emulator.control.configure(device_interval=1)
    login = CLIProcess(*cli_login_args(emulator, "oac_cli_wait"))
    code = login.user_code()
    deadline = time.monotonic() + 30
    while emulator.control.counters()["device_polls"] < 1:  # polled and told "pending" ...
        assert time.monotonic() < deadline, "the CLI never polled"
        time.sleep(0.05)
    assert login.proc.poll() is None  # ... and still waiting
    emulator.control.approve(code)
    status, out, err = login.finish()
    assert status == 0, err
    assert "Logged in" in out


def test_login_denied_fails_with_one_line_and_writes_nothing(emulator):
    emulator.control.configure(device_interval=1)
    login = CLIProcess(*cli_login_args(emulator, "oac_cli_denied"))
    emulator.control.deny(login.user_code())
    status, out, err = login.finish()
    assert status == 1
    assert error_lines(err) == [error_lines(err)[0]]
    assert "declined" in err.lower()
    assert "Traceback" not in err
    assert stored_connection("oac_cli_denied") is None


def test_login_code_expiry_ends_the_wait_with_a_clear_message(emulator):
    emulator.control.configure(device_interval=1, device_code_ttl=3)
    result = cli(*cli_login_args(emulator, "oac_cli_expired"))
    assert result.returncode == 1
    assert "expired" in result.stderr.lower()
    assert "Traceback" not in result.stderr
    assert stored_connection("oac_cli_expired") is None


def test_login_slows_down_when_iam_says_slow_down(emulator):
    emulator.control.configure(device_interval=1)
    emulator.control.add_fault(
        "POST /iam/oauth2/v1/token", "status", status=400, body=json.dumps({"error": "slow_down"}), times=1
    )
    login = CLIProcess(*cli_login_args(emulator, "oac_cli_slow"))
    code = login.user_code()
    started = time.monotonic()
    emulator.control.approve(code)
    status, _, err = login.finish()
    assert status == 0, err
    # first poll after 1 s got slow_down; the next one waits 1 + 5 s.
    assert time.monotonic() - started >= 5.5
    assert emulator.control.counters()["device_polls"] == 1  # the faulted poll never reached the state


def test_login_without_interval_from_iam_polls_every_5_seconds(emulator):
    emulator.control.configure(auto_approve=True)  # device_interval None: IAM sends none
    started = time.monotonic()
    result = cli(*cli_login_args(emulator, "oac_cli_default_interval"))
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert elapsed >= 5.0
    assert emulator.control.counters()["device_polls"] == 1


def test_a_second_login_supersedes_the_first_refresh_token(emulator):
    emulator.control.configure(auto_approve=True, device_interval=1)
    assert cli(*cli_login_args(emulator, "oac_cli_twice")).returncode == 0
    first = stored_connection("oac_cli_twice").password
    assert cli(*cli_login_args(emulator, "oac_cli_twice")).returncode == 0
    second = stored_connection("oac_cli_twice").password
    assert first != second
    # Re-login with only --conn-id reuses the stored URLs, client id and scope.
    result = cli("login", "--conn-id", "oac_cli_twice", "--no-browser")
    assert result.returncode == 0, result.stderr


def test_status_proves_a_refresh_works_and_never_prints_a_token(emulator):
    emulator.control.configure(auto_approve=True, device_interval=1)
    assert cli(*cli_login_args(emulator, "oac_cli_status")).returncode == 0
    refreshes = emulator.control.counters()["refreshes"]
    result = cli("status", "--conn-id", "oac_cli_status")
    assert result.returncode == 0, result.stderr
    assert "Refresh:     works now" in result.stdout
    assert emulator.config.username in result.stdout
    assert emulator.control.counters()["refreshes"] == refreshes + 1

    conn = stored_connection("oac_cli_status")

    record = VariableTokenStore(conn.password).read(
        "oac_cli_status", login_key("oac_cli_status", conn.password)
    )
    assert record is not None and record.generation == 1
    for secret in (conn.password, record.refresh_token, record.access_token):
        assert secret not in result.stdout + result.stderr


def test_logout_revokes_at_iam_and_removes_the_refresh_token(emulator):
    emulator.control.configure(auto_approve=True, device_interval=1)
    assert cli(*cli_login_args(emulator, "oac_cli_logout")).returncode == 0
    result = cli("logout", "--conn-id", "oac_cli_logout")
    assert result.returncode == 0, result.stderr
    assert "IAM revoked" in result.stdout
    assert emulator.control.counters()["revocations"] == 1
    assert not stored_connection("oac_cli_logout").password
    status = cli("status", "--conn-id", "oac_cli_logout")
    assert status.returncode == 1
    assert "airflow-oac login --conn-id oac_cli_logout" in status.stderr


AUDIENCE_WITH_SLASH = "https://emulator0audience00000000000000000.analytics.ocp.oraclecloud.com/"
AUDIENCE_WITH_PORT = "https://emulator0audience00000000000000000.analytics.ocp.oraclecloud.com:443"


@pytest.mark.parametrize(
    ("audience", "warning"),
    [(AUDIENCE_WITH_SLASH, "has a slash before urn:opc:resource:consumer::all"), (AUDIENCE_WITH_PORT, None)],
)
def test_login_accepts_an_audience_ending_in_a_slash_or_a_port_as_iam_stores_it(emulator, audience, warning):
    # IAM joins the audience and the resource exactly as the audience is stored.
    emulator.control.configure(audience=audience, auto_approve=True, device_interval=1)
    conn_id = f"oac_cli_audience_{'slash' if warning else 'port'}"

    result = cli(*cli_login_args(emulator, conn_id))

    assert result.returncode == 0, result.stderr
    assert "Logged in" in result.stdout
    assert json.loads(stored_connection(conn_id).extra)["scope"] == emulator.config.scope
    warnings = [line for line in result.stderr.splitlines() if line.startswith("Warning:")]
    if warning is None:
        assert warnings == []
    else:
        [line] = warnings
        assert warning in line and "usually https://" in line


def test_login_with_a_scope_iam_refuses_says_invalid_scope_and_how_the_scope_is_built(emulator):
    emulator.control.configure(audience=AUDIENCE_WITH_SLASH, auto_approve=True, device_interval=1)
    wrong_scope = f"{AUDIENCE_WITH_SLASH.rstrip('/')}urn:opc:resource:consumer::all offline_access"
    argv = cli_login_args(emulator, "oac_cli_invalid_scope")
    argv[argv.index("--scope") + 1] = wrong_scope

    result = cli(*argv)

    assert result.returncode == 1
    [line] = error_lines(result.stderr)
    assert "invalid_scope" in line
    assert "IAM rejected the scope 'https://emulator0audience" in line  # the CLI cuts long values
    assert "primary audience exactly as IAM stores it" in line
    assert "Configuration > Resources" in line
    assert "Traceback" not in result.stderr
    assert emulator.control.counters()["device_authorizations"] == 0
    assert stored_connection("oac_cli_invalid_scope") is None


def test_a_refresh_iam_refuses_with_invalid_scope_says_so_and_keeps_the_login(emulator):
    emulator.control.configure(auto_approve=True, device_interval=1)
    assert cli(*cli_login_args(emulator, "oac_cli_refresh_scope")).returncode == 0
    # The OAC app's audience changes in IAM after the login: IAM refuses the login's scope.
    emulator.control.configure(audience=AUDIENCE_WITH_PORT)

    result = cli("status", "--conn-id", "oac_cli_refresh_scope")

    assert result.returncode == 1
    [line] = error_lines(result.stderr)
    assert "IAM rejected the login's scope (HTTP 400, invalid_scope" in line
    assert "primary audience exactly as IAM stores it" in line
    assert "airflow-oac login --scope" in line
    assert "Traceback" not in result.stderr
    assert emulator.control.counters()["refreshes"] == 0
    [session] = emulator.control.logins()
    assert session["active"]  # the refresh token was refused, not spent
