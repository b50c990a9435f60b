"""Test helpers: plain HTTP answers, readable JWTs, a fake clock."""

from __future__ import annotations

import base64
import json
from typing import Any

from airflow_provider_oac._http import HTTPResponse


def json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> HTTPResponse:
    return HTTPResponse(
        status,
        {"content-type": "application/json", **(headers or {})},
        json.dumps(payload).encode(),
    )


def oauth_error(status: int, error: str, description: str | None = None, **headers: str) -> HTTPResponse:
    payload = {"error": error}
    if description is not None:
        payload["error_description"] = description
    return json_response(status, payload, {k.replace("_", "-"): v for k, v in headers.items()})


def html_page(status: int) -> HTTPResponse:
    return HTTPResponse(
        status, {"content-type": "text/html"}, b"<!DOCTYPE html><html><body>Bad gateway</body></html>"
    )


def jwt(**claims: Any) -> str:
    def part(obj: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'RS256', 'kid': 'SIGNING_KEY'})}.{part(claims)}.c2lnbmF0dXJl"


class FakeClock:
    """``now`` and ``sleep`` for code under test: sleeping advances time instantly and is recorded."""

    def __init__(self, start: float = 1_000_000.0):
        self.time = start
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.time

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.time += seconds

    async def asleep(self, seconds: float) -> None:
        self.sleep(seconds)

    @property
    def slept(self) -> float:
        return sum(self.sleeps)
