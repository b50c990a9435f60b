"""The emulated OAC REST API 20210901 over HTTP: snapshots, restore, system, work requests."""

from __future__ import annotations

from fastapi import FastAPI, Request
from starlette.responses import JSONResponse, Response

from airflow_provider_oac.emulator.common import APIProblem
from airflow_provider_oac.emulator.faults import Fault
from airflow_provider_oac.emulator.http_common import API, read_json
from airflow_provider_oac.emulator.state import EmulatorState

#: Where the middleware leaves a fault that the handler applies (stuck or failing work requests).
FAULT_SCOPE_KEY = "oac_emulator.fault"


def add_oac_routes(api: FastAPI, state: EmulatorState) -> None:
    def authenticate(request: Request) -> str:
        return state.oac.authenticate(request.headers.get("authorization"))

    def fault_of(request: Request) -> Fault | None:
        fault = request.scope.get(FAULT_SCOPE_KEY)
        return fault if isinstance(fault, Fault) else None

    def accepted(work_request_id: str, operation: str) -> Response:
        """202 with the work request id where the configuration says (``operation``: create or
        restore; OAC's choice of body or header is unconfirmed)."""
        config = state.oac.config
        in_body = getattr(config, f"{operation}_work_request_in_body")
        headers = (
            {"oa-work-request-id": work_request_id}
            if getattr(config, f"{operation}_work_request_in_header")
            else {}
        )
        if in_body:
            return JSONResponse({"workRequestId": work_request_id}, status_code=202, headers=headers)
        return Response(status_code=202, headers=headers)

    @api.get(f"{API}/snapshots")
    async def list_snapshots(request: Request) -> Response:
        authenticate(request)
        return JSONResponse({"items": state.oac.list_snapshots()})

    @api.post(f"{API}/snapshots")
    async def create_snapshot(request: Request) -> Response:
        subject = authenticate(request)
        work_request_id = state.oac.create_snapshot(await read_json(request), subject, fault_of(request))
        return accepted(work_request_id, "create")

    @api.get(f"{API}/snapshots/{{snapshot_id}}")
    async def get_snapshot(request: Request, snapshot_id: str) -> Response:
        authenticate(request)
        return JSONResponse(state.oac.get_snapshot(snapshot_id))

    @api.delete(f"{API}/snapshots/{{snapshot_id}}")
    async def delete_snapshot(request: Request, snapshot_id: str) -> Response:
        authenticate(request)
        raw = request.query_params.get("deleteStorage", "false").strip().lower()
        if raw not in ("true", "false"):
            raise APIProblem(400, "BadRequest", "deleteStorage must be true or false.")
        state.oac.delete_snapshot(snapshot_id, delete_storage=raw == "true")
        return Response(status_code=200)

    @api.post(f"{API}/system/actions/restoreSnapshot")
    async def restore_snapshot(request: Request) -> Response:
        authenticate(request)
        work_request_id = state.oac.restore_snapshot(await read_json(request), fault_of(request))
        return accepted(work_request_id, "restore")

    @api.get(f"{API}/system")
    async def system(request: Request) -> Response:
        authenticate(request)
        return JSONResponse(state.oac.system())

    async def work_request(request: Request, work_request_id: str) -> Response:
        authenticate(request)
        return JSONResponse(state.oac.get_work_request(work_request_id))

    # Oracle's own script uses the lowercase spelling.
    api.add_api_route(f"{API}/workRequests/{{work_request_id}}", work_request, methods=["GET"])
    api.add_api_route(f"{API}/workrequests/{{work_request_id}}", work_request, methods=["GET"])
