"""`airflow-oac login --print-env / --print-json`, and bad input to every flag that chooses where the
connection goes: one line, exit 2, no traceback, no network call.

The printed paths run with a metadata database that cannot be opened, which proves they never
touch it.
"""

from __future__ import annotations

import json
import shlex

import pytest

from airflow_provider_oac.hooks.oac import OACHook
from airflow_provider_oac.hooks.token_manager import forget_process_cache
from airflow_provider_oac.hooks.token_store import VariableTokenStore
from airflow_provider_oac.login.connections import existing_connection
from tests.deployment import free_port
from tests.helpers import cli, cli_login_args

pytestmark = pytest.mark.usefixtures("airflow_db")

#: A metadata database that cannot exist: any access fails the command.
NO_DATABASE = {"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "sqlite:////nonexistent-dir/airflow.db"}


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("airflow-oac: error:")]


def assert_usage_error(result, *fragments: str) -> None:
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert len(error_lines(result.stderr)) == 1, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in result.stderr


CLOSED_API = f"http://127.0.0.1:{free_port()}"


@pytest.mark.parametrize(
    ("flags", "env", "message"),
    [
        (["--api-url", "ftp://airflow.example.com"], {}, "--api-url must start with https://"),
        (["--api-url", "http://airflow.example.com"], {}, "plain http://"),
        (["--api-url", f"{CLOSED_API}/api/v2"], {}, "includes an API path"),
        (["--api-url", CLOSED_API], {}, "--api-url needs credentials"),
        (["--api-url", CLOSED_API, "--api-username", "admin"], {}, "--api-username needs --api-password-env"),
        (
            ["--api-url", CLOSED_API, "--api-password-env", "PW"],
            {"PW": "x"},
            "--api-password-env needs --api-username",
        ),
        (
            ["--api-url", CLOSED_API, "--api-username", "admin", "--api-password-env", "OAC_TEST_UNSET"],
            {},
            "the environment variable OAC_TEST_UNSET is not set",
        ),
        (
            ["--api-url", CLOSED_API, "--api-username", "admin", "--api-password-env", "s3cret pw!"],
            {},
            "takes the name of an environment variable",
        ),
        (
            ["--api-url", CLOSED_API, "--api-token-env", "OAC_TEST_EMPTY"],
            {"OAC_TEST_EMPTY": " "},
            "is not set or empty",
        ),
        (
            ["--api-url", CLOSED_API, "--api-token-env", "TOK", "--api-username", "admin"],
            {"TOK": "x"},
            "give one way to sign in",
        ),
        (["--api-username", "admin"], {}, "--api-username goes only with --api-url"),
        (["--api-token-env", "TOK"], {"TOK": "x"}, "--api-token-env goes only with --api-url"),
        (["--print-env", "--print-json"], {}, "give one of them"),
        (["--print-json", "--api-url", CLOSED_API], {}, "give one of them"),
        (
            ["--include-refresh-token"],
            {},
            "--include-refresh-token goes only with --print-env or --print-json",
        ),
    ],
)
def test_bad_destination_flags_fail_with_one_line_before_any_network_call(emulator, flags, env, message):
    result = cli(*cli_login_args(emulator, "oac_dest_bad"), *flags, env={**NO_DATABASE, **env})
    assert_usage_error(result, message)
    assert emulator.control.request_log() == []


def test_a_password_passed_instead_of_a_variable_name_is_never_echoed(emulator):
    secret = "hunter2 with spaces"
    result = cli(
        *cli_login_args(emulator, "oac_dest_echo"),
        *["--api-url", CLOSED_API, "--api-username", "admin", "--api-password-env", secret],
    )
    assert_usage_error(result)
    assert secret not in result.stdout + result.stderr


def test_a_connection_id_the_rest_api_refuses_is_caught_locally(emulator):
    result = cli(
        *cli_login_args(emulator, "oac dest/slash"),
        *["--api-url", CLOSED_API, "--api-token-env", "TOK"],
        env={"TOK": "x"},
    )
    assert_usage_error(result, "letters, digits, '_', '.' or '-'")


def test_print_env_needs_a_connection_id_a_shell_can_name(emulator):
    result = cli(*cli_login_args(emulator, "oac-dashed"), "--print-env", env=NO_DATABASE)
    assert_usage_error(result, "AIRFLOW_CONN_OAC-DASHED", "--print-json")


def test_a_printed_connection_needs_every_url_flag(emulator):
    result = cli(
        "login", "--conn-id", "oac_dest_partial", "--oac-url", emulator.url, "--print-json", env=NO_DATABASE
    )
    assert_usage_error(result, "--iam-url, --client-id, --scope missing")


def test_a_bad_url_flag_is_caught_before_the_api_is_asked(emulator):
    args = cli_login_args(emulator, "oac_dest_url")
    args[args.index("--oac-url") + 1] = "https://myoac.example.com/api/20210901"
    result = cli(*args, "--api-url", CLOSED_API, "--api-token-env", "TOK", env={"TOK": "x"})
    assert_usage_error(result, "--oac-url", "API path")


def test_print_json_without_the_refresh_token_runs_no_login_and_prints_the_other_fields(emulator):
    result = cli(
        *cli_login_args(emulator, "oac_dest_preview"), "--print-json", "--bucket", "snaps", env=NO_DATABASE
    )
    assert result.returncode == 0, result.stderr
    connection = json.loads(result.stdout)
    assert connection == {
        "conn_type": "oac",
        "description": "Oracle Analytics Cloud (written by airflow-oac login)",
        "host": emulator.url,
        "login": emulator.config.client_id,
        "extra": {"bucket": "snaps", "iam_url": emulator.iam_url, "scope": emulator.config.scope},
    }
    assert "No login was run" in result.stderr and "--include-refresh-token" in result.stderr
    assert emulator.control.request_log() == []


def test_print_env_with_the_refresh_token_logs_in_and_prints_one_shell_assignment(emulator):
    emulator.control.configure(auto_approve=True, device_interval=1)
    result = cli(
        *cli_login_args(emulator, "oac_printed"), "--print-env", "--include-refresh-token", env=NO_DATABASE
    )
    assert result.returncode == 0, result.stderr
    (line,) = result.stdout.splitlines()  # only the assignment: the rest went to stderr
    name, value = shlex.split(line)[0].split("=", 1)
    assert name == "AIRFLOW_CONN_OAC_PRINTED"
    connection = json.loads(value)
    assert connection["password"]  # the refresh token
    assert connection["extra"]["subject"] == emulator.config.username
    assert "login_at" in connection["extra"]
    warnings = [x for x in result.stderr.splitlines() if "contains the login's refresh token, a secret" in x]
    assert len(warnings) == 1
    assert "one-time code:" in result.stderr


def test_a_printed_connection_works_and_rotated_tokens_go_to_the_variable_store(
    emulator, monkeypatch, tmp_path
):
    emulator.control.configure(auto_approve=True, device_interval=1)
    result = cli(*cli_login_args(emulator, "oac_printed_json"), "--print-json", "--include-refresh-token")
    assert result.returncode == 0, result.stderr
    connection = json.loads(result.stdout)

    assert existing_connection("oac_printed_json") is None  # nothing written locally
    monkeypatch.setenv("AIRFLOW_CONN_OAC_PRINTED_JSON", result.stdout)
    monkeypatch.setenv("AIRFLOW_PROVIDER_OAC_STATE_DIR", str(tmp_path))
    forget_process_cache()
    hook = OACHook("oac_printed_json")
    assert hook.config.refresh_token == connection["password"]
    hook.get_access_token()
    record = VariableTokenStore(hook.config.refresh_token).read("oac_printed_json", hook.config.login_key)
    assert record is not None and record.generation == 1
    assert record.refresh_token != connection["password"]  # rotated, kept outside the connection
    forget_process_cache()


def test_print_json_never_shows_a_refresh_token_unless_asked(emulator):
    emulator.control.configure(auto_approve=True, device_interval=1)
    result = cli(*cli_login_args(emulator, "oac_dest_nosecret"), "--print-json", env=NO_DATABASE)
    assert result.returncode == 0, result.stderr
    assert "password" not in json.loads(result.stdout)
    assert "secret" not in result.stderr.lower()
