"""What the emulator's route modules share: ASGI types and reading requests."""

from __future__ import annotations

import base64
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs, unquote

from fastapi import Request

from airflow_provider_oac.emulator.common import APIProblem

API = "/api/20210901"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


async def read_form(request: Request) -> dict[str, str]:
    # Parsed by hand: python-multipart is not a dependency we can count on.
    raw = (await request.body()).decode("utf-8", errors="replace")
    return {key: values[0] for key, values in parse_qs(raw, keep_blank_values=True).items()}


async def read_json(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        raise APIProblem(400, "BadRequest", "The request body is empty; expected JSON.")
    try:
        return json.loads(raw)
    except ValueError:
        raise APIProblem(400, "BadRequest", "The request body is not valid JSON.") from None


def basic_client_id(request: Request) -> str | None:
    """The client id of ``Authorization: Basic`` (confidential clients); the secret is ignored."""
    header = request.headers.get("authorization", "")
    if header[:6].lower() != "basic ":
        return None
    try:
        decoded = base64.b64decode(header[6:].strip()).decode("utf-8")
    except ValueError:
        return None
    return unquote(decoded.split(":", 1)[0]) or None


def iam_url(request: Request) -> str:
    return f"{str(request.base_url).rstrip('/')}/iam"
