"""The emulator's HTTP face: IAM under ``/iam`` (``http_iam.py``), OAC under ``/api/20210901``
(``http_oac.py``), control under ``/_emulator`` (``http_control.py``), wrapped in the middleware
that injects faults, counts and logs (``middleware.py``).

Imported only when a server starts (FastAPI is not cheap to import).
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response

from airflow_provider_oac.emulator.common import APIProblem, ControlProblem, OAuthProblem
from airflow_provider_oac.emulator.http_common import ASGIApp
from airflow_provider_oac.emulator.http_control import add_control_routes
from airflow_provider_oac.emulator.http_iam import add_iam_routes
from airflow_provider_oac.emulator.http_oac import add_oac_routes
from airflow_provider_oac.emulator.middleware import EmulatorMiddleware
from airflow_provider_oac.emulator.state import EmulatorState


def create_app(state: EmulatorState) -> ASGIApp:
    """The ASGI application serving ``state``."""
    api = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    _add_error_handlers(api)
    add_iam_routes(api, state)
    add_oac_routes(api, state)
    add_control_routes(api, state)
    return EmulatorMiddleware(api, state)


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
