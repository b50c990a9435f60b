"""The control API under ``/_emulator/``: what tests and demos drive (configuration, clock, device
approval, faults) and read (counters, snapshots, BAR objects, restores, logins, the request log).
``control.EmulatorControl`` is its client."""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI, Request
from starlette.responses import JSONResponse, Response

from airflow_provider_oac.emulator.common import ControlProblem
from airflow_provider_oac.emulator.state import EmulatorState


def add_control_routes(api: FastAPI, state: EmulatorState) -> None:
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
        if not isinstance(user_code, str) or not state.iam.decide(user_code, approve):
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
        return JSONResponse(state.iam.pending_user_codes())

    @api.post("/_emulator/faults")
    async def add_fault(request: Request) -> Response:
        return JSONResponse({"id": state.faults.add(await body(request)).id})

    @api.get("/_emulator/faults")
    async def faults() -> Response:
        return JSONResponse(state.faults.list())

    @api.delete("/_emulator/faults")
    async def clear_faults() -> Response:
        state.faults.clear()
        return JSONResponse({"ok": True})

    @api.post("/_emulator/release_work_requests")
    async def release_work_requests() -> Response:
        return JSONResponse({"released": state.oac.release_work_requests()})

    @api.post("/_emulator/expire_access_tokens")
    async def expire_access_tokens() -> Response:
        return JSONResponse({"expired": state.iam.expire_access_tokens()})

    @api.get("/_emulator/issued_tokens")
    async def issued_tokens() -> Response:
        return JSONResponse(state.iam.issued_tokens())

    @api.post("/_emulator/advance_clock")
    async def advance_clock(request: Request) -> Response:
        return JSONResponse({"clock_offset": state.advance_clock((await body(request)).get("seconds"))})

    @api.get("/_emulator/snapshots")
    async def snapshots() -> Response:
        return JSONResponse(state.oac.snapshots_info())

    @api.get("/_emulator/bar_objects")
    async def bar_objects() -> Response:
        return JSONResponse(state.bar_objects())

    @api.post("/_emulator/bar_objects")
    async def put_bar_object(request: Request) -> Response:
        spec = await body(request)
        state.put_bar_object(
            spec.get("bucket"),
            spec.get("object"),
            spec.get("password"),
            region=spec.get("region"),
            namespace=spec.get("namespace"),
        )
        return JSONResponse({"ok": True})

    @api.get("/_emulator/restores")
    async def restores() -> Response:
        return JSONResponse(state.oac.restores())

    @api.get("/_emulator/work_requests")
    async def work_requests() -> Response:
        return JSONResponse(state.oac.work_requests())

    @api.get("/_emulator/logins")
    async def logins() -> Response:
        return JSONResponse(state.iam.logins())

    @api.get("/_emulator/request_log")
    async def request_log() -> Response:
        return JSONResponse(state.request_log())
