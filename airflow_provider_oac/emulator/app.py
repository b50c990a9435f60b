"""The emulator's HTTP face: IAM under ``/iam``, OAC under ``/api/20210901``, control under
``/_emulator``, wrapped in the middleware that injects faults, counts and logs.

Imported only when a server starts (FastAPI is not cheap to import).
"""

from __future__ import annotations

import asyncio
import base64
import html
import json
import logging
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs, unquote

from fastapi import FastAPI, Request
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import HTMLResponse, JSONResponse, Response

from airflow_provider_oac.emulator.state import (
    APIProblem,
    ControlProblem,
    EmulatorState,
    Fault,
    OAuthProblem,
)

logger = logging.getLogger("airflow_provider_oac.emulator")

API = "/api/20210901"
FAULT_SCOPE_KEY = "oac_emulator.fault"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

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


def create_app(state: EmulatorState) -> ASGIApp:
    """The ASGI application serving ``state``."""
    api = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    _add_error_handlers(api)
    _add_iam_routes(api, state)
    _add_oac_routes(api, state)
    _add_control_routes(api, state)
    return EmulatorMiddleware(api, state)


# --- errors --------------------------------------------------------------------------------------


def _add_error_handlers(api: FastAPI) -> None:
    async def oauth_problem(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, OAuthProblem)
        return JSONResponse(exc.body(), status_code=exc.status, headers={"Cache-Control": "no-store"})

    async def api_problem(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, APIProblem)
        headers = {}
        if exc.status == 401:
            headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
        return JSONResponse(exc.body(), status_code=exc.status, headers=headers)

    async def control_problem(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ControlProblem)
        return JSONResponse({"error": exc.message}, status_code=exc.status)

    async def http_problem(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        path = request.url.path
        if path.startswith("/api/"):
            code = {404: "NotFound", 405: "MethodNotAllowed"}.get(exc.status_code, "Error")
            return JSONResponse({"code": code, "message": str(exc.detail)}, status_code=exc.status_code)
        if path.startswith("/iam/"):
            return JSONResponse(
                {"error": "invalid_request", "error_description": str(exc.detail)},
                status_code=exc.status_code,
            )
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code)

    api.add_exception_handler(OAuthProblem, oauth_problem)
    api.add_exception_handler(APIProblem, api_problem)
    api.add_exception_handler(ControlProblem, control_problem)
    api.add_exception_handler(StarletteHTTPException, http_problem)


async def _form(request: Request) -> dict[str, str]:
    # Parsed by hand: python-multipart is not a dependency we can count on.
    raw = (await request.body()).decode("utf-8", errors="replace")
    return {key: values[0] for key, values in parse_qs(raw, keep_blank_values=True).items()}


async def _json(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        raise APIProblem(400, "BadRequest", "The request body is empty; expected JSON.")
    try:
        return json.loads(raw)
    except ValueError:
        raise APIProblem(400, "BadRequest", "The request body is not valid JSON.") from None


def _basic_client_id(request: Request) -> str | None:
    """The client id of ``Authorization: Basic`` (confidential clients); the secret is ignored."""
    header = request.headers.get("authorization", "")
    if header[:6].lower() != "basic ":
        return None
    try:
        decoded = base64.b64decode(header[6:].strip()).decode("utf-8")
    except ValueError:
        return None
    return unquote(decoded.split(":", 1)[0]) or None


def _iam_url(request: Request) -> str:
    return f"{str(request.base_url).rstrip('/')}/iam"


# --- IAM -----------------------------------------------------------------------------------------


def _add_iam_routes(api: FastAPI, state: EmulatorState) -> None:
    no_store = {"Cache-Control": "no-store", "Pragma": "no-cache"}

    @api.post("/iam/oauth2/v1/device")
    async def device_authorization(request: Request) -> Response:
        answer = state.device_authorize(await _form(request), _basic_client_id(request), _iam_url(request))
        return JSONResponse(answer, headers=no_store)

    @api.post("/iam/oauth2/v1/token")
    async def token(request: Request) -> Response:
        answer = state.token(await _form(request), _basic_client_id(request))
        return JSONResponse(answer, headers=no_store)

    @api.post("/iam/oauth2/v1/revoke")
    async def revoke(request: Request) -> Response:
        state.revoke(await _form(request), _basic_client_id(request))
        return Response(status_code=200)

    @api.get("/iam/ui/v1/device")
    async def device_page(request: Request) -> Response:
        return HTMLResponse(_device_page(state, request.query_params.get("user_code", "")))

    @api.post("/iam/ui/v1/device")
    async def device_decision(request: Request) -> Response:
        form = await _form(request)
        user_code = form.get("user_code", "")
        approve = form.get("action", "approve") != "deny"
        if not state.decide(user_code, approve):
            message = "That code is unknown, already used or expired. Start the login again on your device."
            return HTMLResponse(_device_page(state, user_code, error=message), status_code=400)
        if approve:
            result = (
                f"Device approved. It is now signed in as {state.config.username}; return to your terminal."
            )
        else:
            result = "Device login denied. Nothing was signed in."
        return HTMLResponse(_result_page(result))


def _page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;max-width:32em;margin:3em auto;line-height:1.5}"
        "input{font-size:1.4em;letter-spacing:.15em;text-transform:uppercase;width:10em}"
        "button{font-size:1.1em;margin:1em .5em 0 0}.error{color:#b00}</style></head>"
        f"<body>{body}</body></html>\n"
    )


def _device_page(state: EmulatorState, user_code: str, error: str = "") -> str:
    error_html = f'<p class="error">{html.escape(error)}</p>' if error else ""
    return _page(
        "Device login - OAC emulator",
        "<h1>Sign in a device</h1>"
        f"<p>Emulated identity domain. You are signed in as <b>{html.escape(state.config.username)}</b>.</p>"
        f"{error_html}"
        '<form method="post" action="/iam/ui/v1/device">'
        '<p><label for="user_code">Enter the code shown on your device:</label><br>'
        f'<input id="user_code" name="user_code" value="{html.escape(user_code)}" '
        'autocomplete="off" autofocus required></p>'
        '<button type="submit" name="action" value="approve">Approve</button>'
        '<button type="submit" name="action" value="deny">Deny</button>'
        "</form>",
    )


def _result_page(message: str) -> str:
    return _page("Device login - OAC emulator", f"<h1>Device login</h1><p>{html.escape(message)}</p>")


# --- OAC -----------------------------------------------------------------------------------------


def _add_oac_routes(api: FastAPI, state: EmulatorState) -> None:
    def authenticate(request: Request) -> str:
        return state.authenticate(request.headers.get("authorization"))

    def fault_of(request: Request) -> Fault | None:
        fault = request.scope.get(FAULT_SCOPE_KEY)
        return fault if isinstance(fault, Fault) else None

    def accepted(work_request_id: str, *, in_body: bool, in_header: bool) -> Response:
        headers = {"oa-work-request-id": work_request_id} if in_header else {}
        if in_body:
            return JSONResponse({"workRequestId": work_request_id}, status_code=202, headers=headers)
        return Response(status_code=202, headers=headers)

    @api.get(f"{API}/snapshots")
    async def list_snapshots(request: Request) -> Response:
        authenticate(request)
        return JSONResponse({"items": state.list_snapshots()})

    @api.post(f"{API}/snapshots")
    async def create_snapshot(request: Request) -> Response:
        subject = authenticate(request)
        work_request_id = state.create_snapshot(await _json(request), subject, fault_of(request))
        config = state.config
        return accepted(
            work_request_id,
            in_body=config.create_work_request_in_body,
            in_header=config.create_work_request_in_header,
        )

    @api.get(f"{API}/snapshots/{{snapshot_id}}")
    async def get_snapshot(request: Request, snapshot_id: str) -> Response:
        authenticate(request)
        return JSONResponse(state.get_snapshot(snapshot_id))

    @api.delete(f"{API}/snapshots/{{snapshot_id}}")
    async def delete_snapshot(request: Request, snapshot_id: str) -> Response:
        authenticate(request)
        raw = request.query_params.get("deleteStorage", "false").strip().lower()
        if raw not in ("true", "false"):
            raise APIProblem(400, "BadRequest", "deleteStorage must be true or false.")
        state.delete_snapshot(snapshot_id, delete_storage=raw == "true")
        return Response(status_code=200)

    @api.post(f"{API}/system/actions/restoreSnapshot")
    async def restore_snapshot(request: Request) -> Response:
        authenticate(request)
        work_request_id = state.restore_snapshot(await _json(request), fault_of(request))
        config = state.config
        return accepted(
            work_request_id,
            in_body=config.restore_work_request_in_body,
            in_header=config.restore_work_request_in_header,
        )

    @api.get(f"{API}/system")
    async def system(request: Request) -> Response:
        authenticate(request)
        return JSONResponse(state.system())

    async def work_request(request: Request, work_request_id: str) -> Response:
        authenticate(request)
        return JSONResponse(state.get_work_request(work_request_id))

    # Oracle's own script uses the lowercase spelling.
    api.add_api_route(f"{API}/workRequests/{{work_request_id}}", work_request, methods=["GET"])
    api.add_api_route(f"{API}/workrequests/{{work_request_id}}", work_request, methods=["GET"])


# --- control -------------------------------------------------------------------------------------


def _add_control_routes(api: FastAPI, state: EmulatorState) -> None:
    async def body(request: Request) -> dict[str, Any]:
        raw = await request.body()
        if not raw.strip():
            return {}
        try:
            parsed = json.loads(raw)
        except ValueError:
            raise ControlProblem(400, "the control API takes a JSON object") from None
        if not isinstance(parsed, dict):
            raise ControlProblem(400, "the control API takes a JSON object")
        return parsed

    @api.get("/_emulator/health")
    async def health() -> Response:
        return JSONResponse({"ok": True})

    @api.get("/_emulator/config")
    async def config() -> Response:
        return JSONResponse(state.config.to_dict())

    @api.post("/_emulator/configure")
    async def configure(request: Request) -> Response:
        return JSONResponse(state.configure(await body(request)).to_dict())

    @api.post("/_emulator/reset")
    async def reset() -> Response:
        state.reset()
        return JSONResponse({"ok": True})

    @api.get("/_emulator/state")
    async def info() -> Response:
        return JSONResponse(state.info())

    @api.get("/_emulator/counters")
    async def counters() -> Response:
        return JSONResponse(state.counters())

    async def decide(request: Request, approve: bool) -> Response:
        user_code = (await body(request)).get("user_code")
        if not isinstance(user_code, str) or not state.decide(user_code, approve):
            raise ControlProblem(404, f"no pending device login with user code {user_code!r}")
        return JSONResponse({"ok": True})

    @api.post("/_emulator/approve")
    async def approve(request: Request) -> Response:
        return await decide(request, True)

    @api.post("/_emulator/deny")
    async def deny(request: Request) -> Response:
        return await decide(request, False)

    @api.get("/_emulator/pending_user_codes")
    async def pending_user_codes() -> Response:
        return JSONResponse(state.pending_user_codes())

    @api.post("/_emulator/faults")
    async def add_fault(request: Request) -> Response:
        return JSONResponse({"id": state.add_fault(await body(request)).id})

    @api.get("/_emulator/faults")
    async def faults() -> Response:
        return JSONResponse(state.faults())

    @api.delete("/_emulator/faults")
    async def clear_faults() -> Response:
        state.clear_faults()
        return JSONResponse({"ok": True})

    @api.post("/_emulator/release_work_requests")
    async def release_work_requests() -> Response:
        return JSONResponse({"released": state.release_work_requests()})

    @api.post("/_emulator/expire_access_tokens")
    async def expire_access_tokens() -> Response:
        return JSONResponse({"expired": state.expire_access_tokens()})

    @api.get("/_emulator/issued_tokens")
    async def issued_tokens() -> Response:
        return JSONResponse(state.issued_tokens())

    @api.post("/_emulator/advance_clock")
    async def advance_clock(request: Request) -> Response:
        return JSONResponse({"clock_offset": state.advance_clock((await body(request)).get("seconds"))})

    @api.get("/_emulator/snapshots")
    async def snapshots() -> Response:
        return JSONResponse(state.snapshots_info())

    @api.get("/_emulator/bar_objects")
    async def bar_objects() -> Response:
        return JSONResponse(state.bar_objects())

    @api.post("/_emulator/bar_objects")
    async def put_bar_object(request: Request) -> Response:
        spec = await body(request)
        state.put_bar_object(spec.get("bucket"), spec.get("object"), spec.get("password"))
        return JSONResponse({"ok": True})

    @api.get("/_emulator/restores")
    async def restores() -> Response:
        return JSONResponse(state.restores())

    @api.get("/_emulator/work_requests")
    async def work_requests() -> Response:
        return JSONResponse(state.work_requests())

    @api.get("/_emulator/logins")
    async def logins() -> Response:
        return JSONResponse(state.logins())

    @api.get("/_emulator/request_log")
    async def request_log() -> Response:
        return JSONResponse(state.request_log())


# --- faults, counting, logging -------------------------------------------------------------------


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

        fault = self.state.take_fault(method, path)
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
            self.state.invalidate_bearer(_header(scope, b"authorization"))
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
                self.state.mark_tls_break(client[1], "garbage" if "garbage" in action else "close")
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
