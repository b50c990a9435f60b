"""Raw-HTTP helpers for the emulator's own tests: they speak IAM and OAC with plain ``requests``,
so the emulator is checked against the references, not against our client code."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from tests.helpers import SNAPSHOT_PASSWORD

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
API = "/api/20210901"


def snapshot_body(
    kind: str,
    name: str,
    *,
    password: str | None = SNAPSHOT_PASSWORD,
    uri: str | None = None,
    bucket: str = "oac-snaps",
    auth: dict[str, Any] | None = None,
) -> dict[str, Any]:
    bar: dict[str, Any] = {"uri": uri or f"file:///{name}.bar"}
    if password is not None:
        bar["password"] = password
    return {
        "type": kind,
        "name": name,
        "storage": {
            "type": "OCI_NATIVE",
            "bucket": bucket,
            "auth": auth or {"type": "OCI_RESOURCE_PRINCIPAL"},
        },
        "bar": bar,
    }


class IAM:
    """Form POSTs to the emulated identity domain, as a public client sends them."""

    def __init__(self, server):
        self.server = server
        self.http = requests.Session()
        self.http.trust_env = False

    @property
    def client_id(self) -> str:
        return self.server.config.client_id

    def device(self, **overrides: Any) -> requests.Response:
        form = {
            "client_id": self.client_id,
            "response_type": "device_code",
            "scope": self.server.config.scope,
        }
        form.update(overrides)
        form = {k: v for k, v in form.items() if v is not None}
        return self.http.post(f"{self.server.iam_url}/oauth2/v1/device", data=form, timeout=10)

    def poll(self, device_code: str, **overrides: Any) -> requests.Response:
        form = {"client_id": self.client_id, "grant_type": DEVICE_GRANT, "device_code": device_code}
        form.update(overrides)
        return self.http.post(f"{self.server.iam_url}/oauth2/v1/token", data=form, timeout=10)

    def refresh(self, refresh_token: str, **overrides: Any) -> requests.Response:
        form = {"client_id": self.client_id, "grant_type": "refresh_token", "refresh_token": refresh_token}
        form.update(overrides)
        return self.http.post(f"{self.server.iam_url}/oauth2/v1/token", data=form, timeout=10)

    def revoke(self, token: str) -> requests.Response:
        form = {"client_id": self.client_id, "token": token, "token_type_hint": "refresh_token"}
        return self.http.post(f"{self.server.iam_url}/oauth2/v1/revoke", data=form, timeout=10)

    def login(self, scope: str | None = None) -> dict[str, Any]:
        """A completed device login: the token response."""
        started = self.device(**({"scope": scope} if scope else {}))
        assert started.status_code == 200, started.text
        self.server.control.approve(started.json()["user_code"])
        answer = self.poll(started.json()["device_code"])
        assert answer.status_code == 200, answer.text
        return answer.json()


class OAC:
    """Bearer-authenticated JSON calls to the emulated OAC API."""

    def __init__(self, server, iam: IAM):
        self.server = server
        self.iam = iam
        self.http = requests.Session()
        self.http.trust_env = False
        self._access_token: str | None = None

    body = staticmethod(snapshot_body)

    @property
    def access_token(self) -> str:
        if self._access_token is None:
            self._access_token = self.iam.login()["access_token"]
        return self._access_token

    def call(self, method: str, path: str, *, token: str | None = None, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {token or self.access_token}", **kwargs.pop("headers", {})}
        return self.http.request(
            method, f"{self.server.url}{API}{path}", headers=headers, timeout=10, **kwargs
        )

    def create(self, name: str = "nightly", password: str = SNAPSHOT_PASSWORD, **overrides: Any) -> str:
        """POST a CREATE; the work request id."""
        response = self.call(
            "POST", "/snapshots", json=snapshot_body("CREATE", name, password=password, **overrides)
        )
        assert response.status_code == 202, response.text
        return response.json()["workRequestId"]

    def work_request(self, work_request_id: str) -> dict[str, Any]:
        response = self.call("GET", f"/workRequests/{work_request_id}")
        assert response.status_code == 200, response.text
        return response.json()

    def finish(self, work_request_id: str) -> dict[str, Any]:
        """Move emulator time past the work request's end and return its final state."""
        self.server.control.advance_clock(self.server.config.work_request_seconds + 0.01)
        return self.work_request(work_request_id)

    def snapshot_named(self, name: str) -> dict[str, Any]:
        items = self.call("GET", "/snapshots").json()["items"]
        matches = [item for item in items if item["name"] == name]
        assert len(matches) == 1, items
        return matches[0]

    def created_snapshot(self, name: str = "nightly", password: str = SNAPSHOT_PASSWORD) -> dict[str, Any]:
        work_request = self.finish(self.create(name, password))
        assert work_request["status"] == "SUCCEEDED", work_request
        return self.snapshot_named(name)


@pytest.fixture
def control(emulator):
    return emulator.control


@pytest.fixture
def iam(emulator) -> IAM:
    return IAM(emulator)


@pytest.fixture
def oac(emulator, iam) -> OAC:
    return OAC(emulator, iam)
