"""`status`, `logout` and `snapshots` see the connection tasks see (issue 17, item 5).

Airflow's order is the custom secrets backend, then ``AIRFLOW_CONN_<ID>``, then the metadata
database. Each test logs in (a real device login against the emulator, saved in the metadata
database), copies that connection into the environment or a tiny custom secrets backend
(``tests.cli.secrets_backend``, configured through ``AIRFLOW__SECRETS__BACKEND``), and spoils the
database row: a CLI that still read the row first would report the wrong login.

The CLI runs as users run it, in a subprocess (a fresh Airflow configuration each time).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from airflow_provider_oac.auth.flows import refresh_tokens
from airflow_provider_oac.auth.protocol import IAMEndpoints
from airflow_provider_oac.errors import OACLoginRequired
from airflow_provider_oac.hooks.config import login_key
from airflow_provider_oac.hooks.token_store import VariableTokenStore
from airflow_provider_oac.login.connections import existing_connection
from tests.deployment import free_port
from tests.helpers import cli, own_login

pytestmark = pytest.mark.usefixtures("airflow_db")

REPO = Path(__file__).resolve().parents[2]
CONN = "oac_cli_precedence"
ENV_NAME = f"AIRFLOW_CONN_{CONN.upper()}"
BACKEND = "tests.cli.secrets_backend.JsonFileSecretsBackend"
SPOILED_HOST = "https://shadowed-row.analytics.ocp.oraclecloud.com"


@pytest.fixture
def login_json(tmp_path, monkeypatch, emulator):
    """A fresh login of CONN; returns its connection as Airflow's JSON form, then spoils the
    database row (another OAC URL, a refresh token IAM never issued)."""
    from airflow.models import Connection
    from airflow.utils.session import create_session

    with own_login(emulator, CONN, tmp_path, monkeypatch, work_request_seconds=0.2):
        with create_session() as session:
            row = session.query(Connection).filter(Connection.conn_id == CONN).one()
            definition = {
                "conn_type": row.conn_type,
                "host": row.host,
                "login": row.login,
                "password": row.password,
                "extra": json.loads(row.extra),
            }
            row.host = SPOILED_HOST
            row.password = "never-issued-refresh-token"
        yield definition


def run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return cli(*args, "--conn-id", CONN, env={"PYTHONPATH": str(REPO), **env})


def in_env(definition: dict) -> dict[str, str]:
    return {ENV_NAME: json.dumps(definition)}


def in_backend(tmp_path: Path, definition: dict) -> dict[str, str]:
    path = tmp_path / "secrets.json"
    path.write_text(json.dumps({CONN: definition}))
    return {
        "AIRFLOW__SECRETS__BACKEND": BACKEND,
        "AIRFLOW__SECRETS__BACKEND_KWARGS": json.dumps({"path": str(path)}),
    }


def no_database(tmp_path: Path, kind: str) -> dict[str, str]:
    if kind == "sqlite":
        url = f"sqlite:///{tmp_path / 'no-such-dir' / 'airflow.db'}"
    else:  # nothing listens on that port
        url = f"postgresql+psycopg2://airflow@127.0.0.1:{free_port()}/airflow"
    return {"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": url}


def one_error(result: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in result.stdout + result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("airflow-oac: error:")]
    assert len(errors) == 1, result.stderr
    return errors[0]


def network(emulator) -> int:
    counters = emulator.control.counters()
    return sum(counters[name] for name in ("oac_requests", "token_requests", "revocations"))


@pytest.mark.parametrize("where", ["env", "backend"])
def test_status_uses_the_definition_tasks_use_and_names_it(emulator, login_json, tmp_path, where):
    env = in_env(login_json) if where == "env" else in_backend(tmp_path, login_json)
    refreshes = emulator.control.counters()["refreshes"]

    result = run("status", env=env)

    assert result.returncode == 0, result.stderr
    source = f"the environment variable {ENV_NAME}" if where == "env" else f"the secrets backend {BACKEND}"
    assert f"Defined in:  {source}" in result.stdout
    assert f"OAC URL:     {emulator.url}" in result.stdout
    assert SPOILED_HOST not in result.stdout
    assert "Refresh:     works now" in result.stdout
    shadow = [line for line in result.stdout.splitlines() if "tasks do not use" in line]
    assert shadow == [
        f"Warning: the metadata database also has a connection {CONN!r}, which tasks do not use: "
        f"{source} comes first in Airflow's order; update or delete one of them."
    ]
    assert emulator.control.counters()["refreshes"] == refreshes + 1
    assert login_json["password"] not in result.stdout + result.stderr


def test_the_secrets_backend_comes_before_the_environment(emulator, login_json, tmp_path):
    spoiled = {**login_json, "host": "https://env-copy.analytics.ocp.oraclecloud.com"}

    result = run("status", env={**in_env(spoiled), **in_backend(tmp_path, login_json)})

    assert result.returncode == 0, result.stderr
    assert f"Defined in:  the secrets backend {BACKEND}" in result.stdout
    assert f"OAC URL:     {emulator.url}" in result.stdout


def test_status_on_the_database_row_says_so_and_warns_of_nothing(emulator, tmp_path, monkeypatch):
    with own_login(emulator, "oac_cli_db_only", tmp_path, monkeypatch):
        result = cli("status", "--conn-id", "oac_cli_db_only")

    assert result.returncode == 0, result.stderr
    assert "Defined in:  the metadata database" in result.stdout
    assert "Warning" not in result.stdout


@pytest.mark.parametrize("where", ["env", "backend"])
def test_snapshots_list_uses_the_definition_tasks_use(emulator, login_json, tmp_path, where):
    env = in_env(login_json) if where == "env" else in_backend(tmp_path, login_json)

    result = run("snapshots", "list", "--json", env=env)

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []
    assert "tasks do not use" in result.stderr  # the shadowed row, one line on stderr


@pytest.mark.parametrize(
    ("where", "database"), [("env", "sqlite"), ("env", "postgresql"), ("backend", "sqlite")]
)
def test_without_a_metadata_database_status_names_the_source_and_stops_before_any_refresh(
    emulator, login_json, tmp_path, where, database
):
    env = in_env(login_json) if where == "env" else in_backend(tmp_path, login_json)
    before = network(emulator)

    result = run("status", env={**env, **no_database(tmp_path, database)})

    assert result.returncode == 1, result.stdout + result.stderr
    assert f"OAC URL:     {emulator.url}" in result.stdout
    assert (
        "Defined in:  the environment variable" if where == "env" else "Defined in:  the secrets backend"
    ) in (result.stdout)
    assert "Logged in:   unknown (the token store cannot be read here)" in result.stdout
    error = one_error(result)
    assert "Cannot check the login" in error and "a task already spent, so nothing was sent" in error
    assert network(emulator) == before  # the connection's own (maybe spent) token was never presented


@pytest.mark.parametrize("where", ["env", "backend"])
def test_without_a_metadata_database_snapshots_say_why_in_one_line_before_any_call(
    emulator, login_json, tmp_path, where
):
    env = in_env(login_json) if where == "env" else in_backend(tmp_path, login_json)
    before = network(emulator)

    result = run("snapshots", "list", env={**env, **no_database(tmp_path, "sqlite")})

    assert result.returncode == 1
    assert "run it where the metadata database is reachable" in one_error(result)
    assert network(emulator) == before


def test_without_a_metadata_database_or_a_definition_one_line_says_what_to_do(emulator, tmp_path):
    result = run("status", env=no_database(tmp_path, "sqlite"))

    assert result.returncode == 1
    error = one_error(result)
    assert f"is in no secrets backend nor {ENV_NAME}" in error
    assert "define the connection in the environment or a secrets backend" in error


def test_logout_of_an_environment_connection_forgets_the_tokens_and_says_what_it_cannot_do(
    emulator, login_json
):
    env = in_env(login_json)
    assert run("status", env=env).returncode == 0  # a task-like refresh: the store now holds generation 1
    key = login_key(CONN, login_json["password"])
    newest = VariableTokenStore(login_json["password"]).read(CONN, key)
    assert newest is not None and newest.generation == 1

    result = run("logout", env=env)

    assert result.returncode == 0, result.stderr
    assert "IAM revoked the refresh token and the token records of" in result.stdout
    assert f"lives in the environment variable {ENV_NAME}, which airflow-oac cannot edit" in result.stdout
    assert VariableTokenStore(login_json["password"]).read(CONN, key) is None
    assert emulator.control.counters()["revocations"] == 1
    # The shadowed database row is not the login being ended: it is left as it was.

    assert existing_connection(CONN).password == "never-issued-refresh-token"
    # The newest refresh token, not the connection's spent one, was revoked: it no longer works.
    import requests

    with requests.Session() as session, pytest.raises(OACLoginRequired):
        refresh_tokens(
            session,
            IAMEndpoints.for_domain(emulator.iam_url),
            emulator.config.client_id,
            newest.refresh_token,
        )


def test_logout_without_a_metadata_database_changes_nothing_and_says_why(emulator, login_json, tmp_path):
    before = network(emulator)

    result = run("logout", env={**in_env(login_json), **no_database(tmp_path, "sqlite")})

    assert result.returncode == 1
    assert "nothing was changed" in one_error(result)
    assert network(emulator) == before
