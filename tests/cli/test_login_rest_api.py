"""`airflow-oac login --api-url`: the connection written through a real Airflow API server.

One ``airflow api-server`` (SimpleAuthManager, user ``admin`` with a generated password) in its
own AIRFLOW_HOME and database. The CLI runs with a local metadata database that cannot be opened,
which proves this path never touches it.
"""

from __future__ import annotations

import json
import subprocess

import pytest
import requests

from airflow_provider_oac.auth.flows import poll_device_login, start_device_login
from airflow_provider_oac.auth.protocol import IAMEndpoints
from airflow_provider_oac.login import NewLogin, save_login_via_api
from airflow_provider_oac.login.airflow_api import AirflowAPI, AirflowAPICredentials
from tests.deployment import AirflowDeployment, free_port
from tests.helpers import cli, cli_login_args

# Starts a real `airflow api-server`, like tests/ui: marked scheduler, so `make quick` leaves it out.
pytestmark = [pytest.mark.usefixtures("airflow_db"), pytest.mark.scheduler]

NO_DATABASE = {"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "sqlite:////nonexistent-dir/airflow.db"}
PASSWORD_ENV = "OAC_TEST_AIRFLOW_PASSWORD"


@pytest.fixture(scope="module")
def airflow_api(tmp_path_factory):
    home = tmp_path_factory.mktemp("rest-api-home")
    (home / "dags").mkdir()
    deployment = AirflowDeployment(
        home,
        dags_folder=home / "dags",
        components=("api-server",),
        env={
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        },
    )
    with deployment:
        passwords = json.loads((home / "simple_auth_manager_passwords.json.generated").read_text())
        deployment.url = f"http://127.0.0.1:{deployment.api_port}"
        deployment.admin_password = passwords["admin"]
        yield deployment


def api_token(deployment) -> str:
    response = requests.post(
        f"{deployment.url}/auth/token",
        json={"username": "admin", "password": deployment.admin_password},
        timeout=30,
    )
    response.raise_for_status()
    return response.json()["access_token"]


def rest(deployment, method: str, path: str, **kwargs) -> requests.Response:
    headers = {"Authorization": f"Bearer {api_token(deployment)}"}
    return requests.request(method, f"{deployment.url}/api/v2{path}", headers=headers, timeout=30, **kwargs)


def api_login(emulator, deployment, conn_id: str, *extra_args: str, args: list[str] | None = None):
    emulator.control.configure(auto_approve=True, device_interval=1)
    return cli(
        *(args if args is not None else cli_login_args(emulator, conn_id)),
        *["--api-url", deployment.url, "--api-username", "admin", "--api-password-env", PASSWORD_ENV],
        *extra_args,
        env={**NO_DATABASE, PASSWORD_ENV: deployment.admin_password},
    )


def stored_connection(deployment, conn_id: str) -> dict:
    """The connection as the deployment's own processes read it (decrypted)."""
    result = deployment.python(
        "import json\n"
        "from airflow.models.connection import Connection\n"
        f"c = Connection.get_connection_from_secrets({conn_id!r})\n"
        "print(json.dumps({'conn_type': c.conn_type, 'host': c.host, 'login': c.login, 'password': c.password,"
        " 'extra': c.extra_dejson, 'description': c.description}))"
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def variable_keys(deployment) -> set[str]:
    return {
        row["key"] for row in rest(deployment, "GET", "/variables", params={"limit": 100}).json()["variables"]
    }


def test_login_through_the_api_creates_the_connection_and_its_refresh_token_works(
    emulator, airflow_api, tmp_path
):
    result = api_login(emulator, airflow_api, "oac_api_new", "--bucket", "snaps")
    assert result.returncode == 0, result.stderr
    assert (
        f"Created connection 'oac_api_new' through Airflow's REST API at {airflow_api.url}" in result.stdout
    )
    stored = stored_connection(airflow_api, "oac_api_new")
    assert stored["conn_type"] == "oac"
    assert stored["host"] == emulator.url
    assert stored["login"] == emulator.config.client_id
    assert stored["extra"]["bucket"] == "snaps"
    assert stored["extra"]["subject"] == emulator.config.username
    assert stored["description"] == "Oracle Analytics Cloud (written by airflow-oac login)"
    assert stored["password"] and stored["password"] not in result.stdout + result.stderr
    # The deployment's own processes refresh with it, and keep the rotated token in a Variable.
    airflow_api.env["AIRFLOW_PROVIDER_OAC_STATE_DIR"] = str(tmp_path / "state")
    airflow_api.python(
        "from airflow_provider_oac.hooks.oac import OACHook; OACHook('oac_api_new').get_access_token()"
    )
    assert emulator.control.counters()["refreshes"] == 1
    assert any(key.startswith("oac_login__oac_api_new__") for key in variable_keys(airflow_api))


def test_a_new_login_through_the_api_updates_the_connection_and_deletes_the_old_tokens(emulator, airflow_api):
    first = api_login(
        emulator, airflow_api, "oac_api_twice", "--bucket", "b1", "--refresh-token-lifetime", "259200"
    )
    assert first.returncode == 0, first.stderr
    first_stored = stored_connection(airflow_api, "oac_api_twice")
    old_password = first_stored["password"]
    # A text extra with a secret-looking name: the API shows it as "***" and must keep it.
    token_url = f"{emulator.iam_url}/oauth2/v1/token"
    extra = json.dumps({**first_stored["extra"], "token_url": token_url})
    patch = {"connection_id": "oac_api_twice", "conn_type": "oac", "extra": extra}
    assert rest(airflow_api, "PATCH", "/connections/oac_api_twice", json=patch).status_code == 200
    assert (
        json.loads(rest(airflow_api, "GET", "/connections/oac_api_twice").json()["extra"])["token_url"]
        == "***"
    )
    for key in (
        "oac_token__oac_api_twice__aaaaaaaaaaaaaaaa",  # an older release's name
        "oac_login__oac_api_twice__bbbbbbbbbbbbbbbb",
        "oac_token__oac_api_twice_other__cccccccccccccccc",
        "oac_login__oac_api_twice__x__dddddddddddddddd",  # connection oac_api_twice__x's
        "unrelated_variable",
    ):
        assert rest(airflow_api, "POST", "/variables", json={"key": key, "value": "{}"}).status_code == 201
    # Only --conn-id: everything else comes from the connection the API shows, masked fields included.
    again = api_login(
        emulator, airflow_api, "oac_api_twice", args=["login", "--conn-id", "oac_api_twice", "--no-browser"]
    )
    assert again.returncode == 0, again.stderr
    assert "Updated connection 'oac_api_twice' through Airflow's REST API" in again.stdout
    stored = stored_connection(airflow_api, "oac_api_twice")
    assert stored["password"] != old_password
    assert stored["host"] == emulator.url
    assert stored["extra"]["bucket"] == "b1"
    assert stored["extra"]["refresh_token_lifetime"] == 259200
    assert stored["extra"]["token_url"] == token_url
    keys = variable_keys(airflow_api)
    assert (
        not {"oac_token__oac_api_twice__aaaaaaaaaaaaaaaa", "oac_login__oac_api_twice__bbbbbbbbbbbbbbbb"}
        & keys
    )
    assert {
        "oac_token__oac_api_twice_other__cccccccccccccccc",
        "oac_login__oac_api_twice__x__dddddddddddddddd",
        "unrelated_variable",
    } <= keys


def test_a_ready_api_token_from_an_environment_variable_works(emulator, airflow_api):
    emulator.control.configure(auto_approve=True, device_interval=1)
    result = cli(
        *cli_login_args(emulator, "oac_api_token"),
        *["--api-url", airflow_api.url, "--api-token-env", "OAC_TEST_AIRFLOW_TOKEN"],
        env={**NO_DATABASE, "OAC_TEST_AIRFLOW_TOKEN": api_token(airflow_api)},
    )
    assert result.returncode == 0, result.stderr
    assert stored_connection(airflow_api, "oac_api_token")["password"]


def test_a_wrong_api_password_fails_in_one_line_before_the_device_login(emulator, airflow_api):
    result = cli(
        *cli_login_args(emulator, "oac_api_wrong"),
        *["--api-url", airflow_api.url, "--api-username", "admin", "--api-password-env", PASSWORD_ENV],
        env={**NO_DATABASE, PASSWORD_ENV: "not-the-password"},
    )
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0 and "Traceback" not in result.stderr
    assert "refused the user name or password (HTTP 401)" in result.stderr
    assert "not-the-password" not in result.stderr
    assert emulator.control.request_log() == []  # no device login was started


def test_a_connection_of_another_type_is_not_overwritten(emulator, airflow_api):
    body = {"connection_id": "oac_api_http", "conn_type": "http", "host": "https://example.com"}
    assert rest(airflow_api, "POST", "/connections", json=body).status_code == 201
    result = api_login(emulator, airflow_api, "oac_api_http")
    assert result.returncode == 2
    assert "is a 'http' connection, not an OAC one" in result.stderr
    assert emulator.control.request_log() == []
    assert stored_connection(airflow_api, "oac_api_http")["conn_type"] == "http"


def test_an_unreachable_api_fails_in_one_line_before_the_device_login(emulator):
    result = cli(
        *cli_login_args(emulator, "oac_api_down"),
        *["--api-url", f"http://127.0.0.1:{free_port()}", "--api-token-env", "OAC_TEST_AIRFLOW_TOKEN"],
        env={**NO_DATABASE, "OAC_TEST_AIRFLOW_TOKEN": "x.y.z"},
    )
    assert result.returncode == 1
    assert "Airflow's REST API is unreachable" in result.stderr and "connection refused" in result.stderr
    assert result.stderr.strip().count("\n") == 0
    assert emulator.control.request_log() == []


def api_status(deployment, conn_id: str) -> subprocess.CompletedProcess[str]:
    return cli(
        *["status", "--conn-id", conn_id, "--api-url", deployment.url],
        *["--api-username", "admin", "--api-password-env", PASSWORD_ENV],
        env={**NO_DATABASE, PASSWORD_ENV: deployment.admin_password},
    )


def test_status_through_the_api_shows_what_it_can_without_the_database_and_tries_no_refresh(
    emulator, airflow_api, tmp_path
):
    assert api_login(emulator, airflow_api, "oac_api_status").returncode == 0
    airflow_api.env["AIRFLOW_PROVIDER_OAC_STATE_DIR"] = str(tmp_path / "state")
    airflow_api.python(  # a task-like refresh on the deployment: the token Variable now exists
        "from airflow_provider_oac.hooks.oac import OACHook; OACHook('oac_api_status').get_access_token()"
    )
    counters = emulator.control.counters()

    result = api_status(airflow_api, "oac_api_status")

    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert f"Defined in:  the metadata database, as Airflow's REST API at {airflow_api.url} shows it" in out
    assert f"OAC URL:     {emulator.url}" in out
    assert f"Logged in:   a refresh token is stored as {emulator.config.username}" in out
    assert "Last refresh: " in out and "(refresh 1 of this login)" in out  # the record's visible fields
    assert "Login expires: " in out
    assert out.splitlines()[-1].startswith(
        "Refresh:     not checked: Airflow's REST API shows the refresh token"
    )
    assert emulator.control.counters() == counters  # nothing sent to IAM or OAC
    stored = stored_connection(airflow_api, "oac_api_status")
    assert stored["password"] not in out + result.stderr


def test_status_through_the_api_of_a_missing_connection_says_so_in_one_line(emulator, airflow_api):
    result = api_status(airflow_api, "oac_api_missing")

    assert result.returncode == 2
    assert result.stderr.startswith(
        "airflow-oac: error: No connection 'oac_api_missing' behind Airflow's REST API"
    )
    assert len(result.stderr.splitlines()) == 1


def test_a_login_through_the_api_keeps_what_a_task_of_the_new_login_stored_meanwhile(
    emulator, airflow_api, tmp_path
):
    """Issue 13 item 1: between the connection write and the clean-up, a task of the deployment
    refreshes with the new login; the clean-up must keep that record (the only valid token)."""
    import requests as http

    emulator.control.configure(reuse_detection=True, auto_approve=True, device_interval=1)
    airflow_api.env["AIRFLOW_PROVIDER_OAC_STATE_DIR"] = str(tmp_path / "deployment-state")
    refresh = "from airflow_provider_oac.hooks.oac import OACHook; OACHook('oac_api_race').get_access_token()"

    class TaskRefreshesFirst(AirflowAPI):
        def variable_keys(self, prefix: str) -> list[str]:
            airflow_api.python(refresh)  # a task of the deployment, with the new connection
            return super().variable_keys(prefix)

    def device_login():
        endpoints = IAMEndpoints.for_domain(emulator.iam_url)
        with http.Session() as session:
            authorization = start_device_login(
                session, endpoints, emulator.config.client_id, emulator.config.scope
            )
            return poll_device_login(session, endpoints, emulator.config.client_id, authorization)

    credentials = AirflowAPICredentials("admin", airflow_api.admin_password)
    settings = {
        "oac_url": emulator.url,
        "iam_url": emulator.iam_url,
        "client_id": emulator.config.client_id,
        "scope": emulator.config.scope,
        "refresh_token_lifetime": 604800.0,
    }
    save_login_via_api(
        AirflowAPI(airflow_api.url, credentials), NewLogin("oac_api_race", tokens=device_login(), **settings)
    )
    airflow_api.python(refresh)  # the old login's record, to be forgotten
    result = save_login_via_api(
        TaskRefreshesFirst(airflow_api.url, credentials),
        NewLogin("oac_api_race", tokens=device_login(), **settings),
    )
    assert result.cleanup_error is None
    assert result.forgotten_records == 1
    assert (
        len([key for key in variable_keys(airflow_api) if key.startswith("oac_login__oac_api_race__")]) == 1
    )
    # The next task whose access token is stale refreshes with the stored (rotated) token.
    emulator.control.expire_access_tokens()
    airflow_api.python(
        "from airflow_provider_oac.hooks.oac import OACHook; h = OACHook('oac_api_race');"
        " h.token_manager.invalidate_current(); h.get_access_token()"
    )
    counters = emulator.control.counters()
    assert counters["spent_refresh_token_presentations"] == 0
    assert counters["revoked_logins"] == 0
