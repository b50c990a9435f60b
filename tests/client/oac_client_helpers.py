"""Test helpers for the OAC client: plain HTTP answers and a scripted driver for its flows."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_oac import _http
from airflow_provider_oac._http import HTTPRequest, HTTPResponse
from airflow_provider_oac.client import protocol

BASE_URL = "https://myoac-abcd-ia.analytics.ocp.oraclecloud.com"


def json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> HTTPResponse:
    return HTTPResponse(
        status, {"content-type": "application/json", **(headers or {})}, json.dumps(payload).encode()
    )


def oac_error(status: int, code: str, message: str, **headers: str) -> HTTPResponse:
    return json_response(
        status, {"code": code, "message": message}, {k.replace("_", "-"): v for k, v in headers.items()}
    )


def html_page(status: int) -> HTTPResponse:
    return HTTPResponse(
        status, {"content-type": "text/html"}, b"<!DOCTYPE html><html><body>Sign in</body></html>"
    )


@dataclass
class ScriptedTransport:
    """Executes client flows against scripted answers (HTTPResponse or an exception to raise), on
    a clock that only sleeping moves."""

    answers: list[Any]
    tokens: list[str] = field(default_factory=lambda: ["token-1", "token-2", "token-3"])
    sent: list[HTTPRequest] = field(default_factory=list)
    invalidated: list[str] = field(default_factory=list)
    sleeps: list[float] = field(default_factory=list)
    clock: float = 1000.0
    _token_index: int = 0

    def run(self, request: HTTPRequest, policy: protocol.RetryPolicy | None = None, **kwargs: Any):
        return self.run_flow(protocol.call_flow(request, policy=policy or protocol.RetryPolicy(), **kwargs))

    def run_flow(self, flow: Any) -> Any:
        return _http.run_flow(flow, self.execute)

    def execute(self, step: protocol.Step) -> Any:
        if isinstance(step, protocol.GetToken):
            return self.tokens[min(self._token_index, len(self.tokens) - 1)]
        if isinstance(step, _http.Send):
            self.sent.append(step.request)
            answer = self.answers.pop(0)
            if isinstance(answer, BaseException):
                raise answer
            return answer
        if isinstance(step, protocol.InvalidateToken):
            self.invalidated.append(step.access_token)
            self._token_index += 1
            return None
        if isinstance(step, _http.Now):
            return self.clock
        self.sleeps.append(step.seconds)
        self.clock += step.seconds
        return None

    @property
    def authorizations(self) -> list[str]:
        return [request.headers["Authorization"] for request in self.sent]


DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


class EmulatorTokens:
    """A TokenSource (sync and async) that logs in to the emulator's IAM by device code, with
    auto-approve, and refreshes with the refresh token after ``invalidate``. Plain requests."""

    def __init__(self, emulator: Any):
        import requests

        self._session = requests.Session()
        self._session.trust_env = False
        self._token_url = f"{emulator.iam_url}/oauth2/v1/token"
        self._client_id = emulator.config.client_id
        emulator.control.configure(auto_approve=True)
        device = self._post(
            f"{emulator.iam_url}/oauth2/v1/device",
            {"client_id": self._client_id, "response_type": "device_code", "scope": emulator.config.scope},
        )
        tokens = self._post(
            self._token_url,
            {
                "grant_type": DEVICE_CODE_GRANT,
                "device_code": device["device_code"],
                "client_id": self._client_id,
            },
        )
        self._access_token: str | None = tokens["access_token"]
        self._refresh_token: str = tokens["refresh_token"]
        self.refreshes = 0
        self.invalidated: list[str] = []

    def _post(self, url: str, form: dict[str, str]) -> dict[str, Any]:
        response = self._session.post(url, data=form, timeout=10)
        response.raise_for_status()
        return response.json()

    def get_access_token(self) -> str:
        if self._access_token is None:
            tokens = self._post(
                self._token_url,
                {
                    "grant_type": "refresh_token",
                    "refresh_token": self._refresh_token,
                    "client_id": self._client_id,
                },
            )
            self._access_token = tokens["access_token"]
            self._refresh_token = tokens.get("refresh_token", self._refresh_token)
            self.refreshes += 1
        return self._access_token

    def invalidate(self, access_token: str) -> None:
        self.invalidated.append(access_token)
        if access_token == self._access_token:
            self._access_token = None

    async def aget_access_token(self) -> str:
        return self.get_access_token()

    async def ainvalidate(self, access_token: str) -> None:
        self.invalidate(access_token)


class EmulatorTime:
    """``sleep``/``monotonic`` for clients under test: sleeping records the delay and moves both
    our clock and the emulator's forward at once, so work requests progress without waiting."""

    def __init__(self, emulator: Any):
        self._control = emulator.control
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        if seconds > 0:
            self._control.advance_clock(seconds)

    async def asleep(self, seconds: float) -> None:
        self.sleep(seconds)
