"""Test helpers for the OAC client: plain HTTP answers and a scripted driver for call_flow."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

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
    """Executes a call_flow against scripted answers (HTTPResponse or an exception to raise)."""

    answers: list[Any]
    tokens: list[str] = field(default_factory=lambda: ["token-1", "token-2", "token-3"])
    sent: list[HTTPRequest] = field(default_factory=list)
    invalidated: list[str] = field(default_factory=list)
    sleeps: list[float] = field(default_factory=list)
    _token_index: int = 0

    def run(self, request: HTTPRequest, policy: protocol.RetryPolicy | None = None, **kwargs: Any):
        flow = protocol.call_flow(request, policy=policy or protocol.RetryPolicy(), **kwargs)
        reply: Any = None
        error: BaseException | None = None
        while True:
            try:
                step = flow.throw(error) if error is not None else flow.send(reply)
            except StopIteration as done:
                return done.value
            reply, error = None, None
            if isinstance(step, protocol.GetToken):
                reply = self.tokens[min(self._token_index, len(self.tokens) - 1)]
            elif isinstance(step, protocol.Send):
                self.sent.append(step.request)
                answer = self.answers.pop(0)
                if isinstance(answer, BaseException):
                    error = answer
                else:
                    reply = answer
            elif isinstance(step, protocol.InvalidateToken):
                self.invalidated.append(step.access_token)
                self._token_index += 1
            else:
                self.sleeps.append(step.seconds)

    @property
    def authorizations(self) -> list[str]:
        return [request.headers["Authorization"] for request in self.sent]
