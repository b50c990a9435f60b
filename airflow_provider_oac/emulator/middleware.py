"""The middleware in front of every IAM and OAC route: it counts, logs (paths only) and applies
the first armed fault that matches the request."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid

from airflow_provider_oac.emulator.faults import Fault
from airflow_provider_oac.emulator.http_common import ASGIApp, Message, Receive, Scope, Send
from airflow_provider_oac.emulator.http_oac import FAULT_SCOPE_KEY
from airflow_provider_oac.emulator.state import EmulatorState

logger = logging.getLogger("airflow_provider_oac.emulator")

#: Seconds an accept_then_hang fault holds the answer when the fault names no delay: longer than
#: any client timeout a test would use.
DEFAULT_HANG_SECONDS = 30.0
DEFAULT_DELAY_SECONDS = 1.0

_HTML_LOGIN_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Sign In</title></head>
<body><h1>Sign In</h1><p>Your session has expired. Please sign in to continue.</p>
<form method="post" action="/login"><input name="username"><input name="password" type="password">
<button>Sign In</button></form></body></html>
"""


class EmulatorMiddleware:
    """Counts and logs every IAM/OAC request, adds ``opc-request-id`` to OAC answers, and applies
    the first matching fault. Pure ASGI, so held answers sleep on the event loop without blocking
    other requests."""

    def __init__(self, app: ASGIApp, state: EmulatorState):
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_emulator/"):
            await self.app(scope, receive, send)
            return
        method: str = scope["method"]
        path: str = scope["path"]
        is_oac = path.startswith("/api/")
        if is_oac:
            self.state.count("oac_requests")
        if method == "POST" and path == "/iam/oauth2/v1/token":
            self.state.count("token_requests")
        request_id = uuid.uuid4().hex.upper() if is_oac else None
        sent_status: list[int] = []

        async def send_marked(message: Message) -> None:
            if message["type"] == "http.response.start":
                sent_status.append(message["status"])
                if request_id is not None:
                    headers = [*message.get("headers", []), (b"opc-request-id", request_id.encode())]
                    message = {**message, "headers": headers}
            await send(message)

        fault = self.state.faults.take(method, path)
        try:
            if fault is None:
                await self.app(scope, receive, send_marked)
            else:
                await self._apply(fault, scope, receive, send_marked)
        finally:
            status = sent_status[0] if sent_status else 0
            self.state.record_response(method, path, status)
            if self.state.config.log_requests:
                # Path only: query strings, headers and bodies can carry codes and tokens.
                suffix = f" (fault {fault.action})" if fault else ""
                logger.info("%s %s -> %s%s", method, path, status, suffix)

    async def _apply(self, fault: Fault, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        action = fault.action
        if action == "status":
            await self._send_error(send, path, fault, fault.status or 500)
        elif action == "html":
            await _send(send, fault.status or 200, _HTML_LOGIN_PAGE.encode(), "text/html; charset=utf-8")
        elif action == "malformed":
            await _send(send, fault.status or 200, b'{"items": [{"id": "3f2c', "application/json")
        elif action == "expire_token":
            self.state.iam.invalidate_bearer(_header(scope, b"authorization"))
            body = {"code": "Unauthorized", "message": "The access token has expired."}
            await _send(
                send,
                401,
                json.dumps(body).encode(),
                "application/json",
                [(b"www-authenticate", b'Bearer error="invalid_token"')],
            )
        elif action == "delay":
            await asyncio.sleep(fault.delay if fault.delay is not None else DEFAULT_DELAY_SECONDS)
            await self.app(scope, receive, send)
        elif action == "accept_then_hang":
            held: list[Message] = []

            async def hold(message: Message) -> None:
                held.append(message)

            await self.app(scope, receive, hold)
            await self._hold(fault.delay if fault.delay is not None else DEFAULT_HANG_SECONDS)
            for message in held:
                await send(message)
        elif action == "accept_then_error":

            async def discard(_message: Message) -> None:
                return None

            await self.app(scope, receive, discard)
            await self._send_error(send, path, fault, fault.status or 502)
        elif action in ("tls_garbage_after_request", "tls_close_after_request"):
            # The TLS front (emulator/tls.py) breaks this connection's answer; the emulator acts.
            client = scope.get("client")
            if client:
                self.state.faults.mark_tls_break(client[1], "garbage" if "garbage" in action else "close")
            await self.app(scope, receive, send)
        else:  # fail_work_request, stuck_work_request: the handler reads the fault
            scope[FAULT_SCOPE_KEY] = fault
            await self.app(scope, receive, send)

    async def _hold(self, seconds: float) -> None:
        """Sleep ``seconds``, or less if the emulator is reset meanwhile (a test has moved on)."""
        generation = self.state.generation
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while self.state.generation == generation and loop.time() < deadline:
            await asyncio.sleep(min(0.1, max(deadline - loop.time(), 0.0)))

    async def _send_error(self, send: Send, path: str, fault: Fault, status: int) -> None:
        headers: list[tuple[bytes, bytes]] = []
        if fault.retry_after is not None:
            retry_after = fault.retry_after
            text = str(int(retry_after)) if float(retry_after).is_integer() else str(retry_after)
            headers.append((b"retry-after", text.encode()))
        if fault.body is not None:
            stripped = fault.body.lstrip().lower()
            content_type = "text/html; charset=utf-8" if stripped.startswith("<") else "application/json"
            await _send(send, status, fault.body.encode(), content_type, headers)
            return
        if path.startswith("/iam/"):
            body: dict[str, str] = {
                "error": fault.code or _oauth_error_for(status),
                "error_description": fault.message
                or f"Injected HTTP {status} from the emulated identity domain.",
            }
        else:
            body = {
                "code": fault.code or _oac_code_for(status),
                "message": fault.message or f"Injected HTTP {status} from the emulated OAC.",
            }
        await _send(send, status, json.dumps(body).encode(), "application/json", headers)


def _oauth_error_for(status: int) -> str:
    if status == 401:
        return "invalid_client"
    if status == 429:
        return "too_many_requests"
    if status >= 500:
        return "temporarily_unavailable"
    return "invalid_request"


def _oac_code_for(status: int) -> str:
    return {
        400: "BadRequest",
        401: "Unauthorized",
        403: "Forbidden",
        404: "NotFound",
        409: "Conflict",
        412: "PreconditionFailed",
        429: "TooManyRequests",
        500: "InternalServerError",
        502: "BadGateway",
        503: "ServiceUnavailable",
        504: "GatewayTimeout",
    }.get(status, "Error")


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


async def _send(
    send: Send,
    status: int,
    body: bytes,
    content_type: str,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    all_headers = [
        (b"content-type", content_type.encode()),
        (b"content-length", str(len(body)).encode()),
        *(headers or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": all_headers})
    await send({"type": "http.response.body", "body": body})
