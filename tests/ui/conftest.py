"""A real ``airflow api-server`` (3.3.2 here) with the login page plugin, SimpleAuthManager users
admin / op / viewer, and the session's emulator as IAM and OAC."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.deployment import AirflowDeployment

#: Defined in the API server's environment, so a login for this id is hidden from tasks.
SHADOWED_CONN_ID = "oac_shadowed"


@dataclass
class UIServer:
    deployment: AirflowDeployment
    emulator: Any

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.deployment.api_port}"

    @property
    def page_url(self) -> str:
        return f"{self.base_url}/oac-login/"

    def password(self, username: str) -> str:
        path = self.deployment.home / "simple_auth_manager_passwords.json.generated"
        return json.loads(path.read_text())[username]

    def token(self, username: str) -> str:
        """A JWT for ``username`` from the auth manager's own login route."""
        response = requests.post(
            f"{self.base_url}/auth/token",
            json={"username": username, "password": self.password(username)},
            timeout=30,
        )
        response.raise_for_status()
        return response.json()["access_token"]

    def client(self, username: str | None) -> PageClient:
        return PageClient(self.page_url, self.token(username) if username else None)

    def emulator_fields(self) -> dict[str, str]:
        return {
            "oac_url": self.emulator.url,
            "iam_url": self.emulator.iam_url,
            "client_id": self.emulator.config.client_id,
            "scope": self.emulator.config.scope,
        }


class PageClient:
    """Calls the page's routes as its JavaScript does (Bearer, JSON body, X-OAC-Login header)."""

    def __init__(self, page_url: str, token: str | None):
        self.page_url = page_url
        self.session = requests.Session()
        self.session.trust_env = False
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    def get(self, path: str) -> requests.Response:
        return self.session.get(self.page_url + path, timeout=30)

    def post(self, path: str, body: Any, *, csrf: bool = True, **kwargs: Any) -> requests.Response:
        headers = {"X-OAC-Login": "1"} if csrf else {}
        return self.session.post(self.page_url + path, json=body, headers=headers, timeout=60, **kwargs)

    def start(self, conn_id: str, fields: dict[str, Any]) -> requests.Response:
        return self.post(f"connections/{conn_id}/start", fields)

    def poll(self, conn_id: str, handle: str) -> requests.Response:
        return self.post(f"connections/{conn_id}/poll", {"handle": handle})

    def poll_until_terminal(self, conn_id: str, handle: str, timeout: float = 60) -> dict[str, Any]:
        """Poll as the page does, waiting ``retry_in`` between polls, until the login ends."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            response = self.poll(conn_id, handle)
            response.raise_for_status()
            answer = response.json()
            if answer["status"] != "pending":
                return answer
            handle = answer["handle"]
            time.sleep(answer["retry_in"])
        raise AssertionError("the login did not finish in time")


@pytest.fixture(scope="package")
def ui_server(tmp_path_factory, emulator_server) -> UIServer:
    home: Path = tmp_path_factory.mktemp("ui-airflow-home")
    dags = home / "dags"
    dags.mkdir()
    env = {
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin,op:op,viewer:viewer",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
        "AIRFLOW_PROVIDER_OAC_STATE_DIR": str(home / "state"),
        f"AIRFLOW_CONN_{SHADOWED_CONN_ID.upper()}": json.dumps(
            {"conn_type": "oac", "host": "https://elsewhere.example.com"}
        ),
    }
    deployment = AirflowDeployment(home, dags_folder=dags, components=("api-server",), env=env)
    deployment.start()
    try:
        yield UIServer(deployment, emulator_server)
    finally:
        deployment.stop()


@pytest.fixture
def ui(ui_server: UIServer, emulator) -> UIServer:
    """The API server, with the emulator reset and polling every second (IAM's default is 5 s)."""
    emulator.control.configure(device_interval=1)
    return ui_server
