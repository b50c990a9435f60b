"""The FastAPI app of the "Log in to OAC" page, mounted in the Airflow API server at ``/oac-login``.

Routes (all JSON except the page itself):

- ``GET  /``                                   the page (HTML, CSS and JavaScript in one document)
- ``GET  /connections``                        ids of the OAC connections (read access to connections)
- ``GET  /connections/{connection_id}``        one connection's status, never a token (read access)
- ``POST /connections/{connection_id}/start``  start a device login (edit access: ``PUT``)
- ``POST /connections/{connection_id}/poll``   one poll; on approval, write the connection (``PUT``)

Airflow does not authenticate plugin apps, so every route but the page asks the configured auth
manager itself, through Airflow's own ``requires_access_connection`` (a Bearer token, or the
session cookie on 3.1.1+). The POST routes also need a JSON body and the ``X-OAC-Login`` header,
which a cross-site form or a simple cross-origin request cannot send (CSRF).

Imported only when the API server serves the first request under the prefix
(:mod:`airflow_provider_oac.plugins.ui`): FastAPI and Airflow's API modules load here, not in
every Airflow process.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import asdict
from functools import cache
from importlib import resources
from typing import Any

from airflow.api_fastapi.core_api.security import GetUserDep, requires_access_connection
from airflow.models.crypto import get_fernet
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, ConfigDict

from airflow_provider_oac.errors import OACAuthError, OACConfigError
from airflow_provider_oac.plugins import login_service
from airflow_provider_oac.plugins.login_service import LoginSettings, LoginState
from airflow_provider_oac.plugins.qr import qr_svg

#: The header every POST must carry (any value; the page sends "1").
CSRF_HEADER = "X-OAC-Login"
_NO_STORE = {"Cache-Control": "no-store"}


class StartBody(BaseModel):
    """The page's form. Empty fields are taken from the existing connection."""

    model_config = ConfigDict(extra="forbid")

    oac_url: str | None = None
    iam_url: str | None = None
    client_id: str | None = None
    scope: str | None = None


class PollBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    handle: str


def require_csrf_header(request: Request) -> None:
    """POSTs must be JSON and carry :data:`CSRF_HEADER`: both force a CORS preflight, which
    Airflow answers only for origins it was configured to trust."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise HTTPException(415, "Send the request as JSON (Content-Type: application/json).")
    if not request.headers.get(CSRF_HEADER):
        raise HTTPException(
            403, f"The {CSRF_HEADER} header is missing: requests must come from the login page itself."
        )


router = APIRouter()


@router.get("/", include_in_schema=False)
def page() -> HTMLResponse:
    nonce = secrets.token_urlsafe(16)
    html = _page_template().replace("__NONCE__", nonce)
    return HTMLResponse(
        html,
        headers={
            **_NO_STORE,
            # Inline code only with this response's nonce; framed only by Airflow itself.
            "Content-Security-Policy": (
                f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; "
                "connect-src 'self'; img-src 'self' data:; frame-ancestors 'self'; base-uri 'none'; "
                "form-action 'none'"
            ),
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
        },
    )


@router.get("/connections", dependencies=[Depends(requires_access_connection("GET"))])
def list_connections() -> JSONResponse:
    return JSONResponse({"connection_ids": login_service.list_oac_connections()}, headers=_NO_STORE)


@router.get("/connections/{connection_id}", dependencies=[Depends(requires_access_connection("GET"))])
def connection_status(connection_id: str) -> JSONResponse:
    status = _call(login_service.connection_status, connection_id)
    if status is None:
        raise HTTPException(404, f"No connection {connection_id!r} yet: logging in creates it.")
    return JSONResponse(asdict(status), headers=_NO_STORE)


@router.post(
    "/connections/{connection_id}/start",
    dependencies=[Depends(require_csrf_header), Depends(requires_access_connection("PUT"))],
)
def start(connection_id: str, body: StartBody, user: GetUserDep) -> JSONResponse:
    started = _call(
        login_service.start_login,
        connection_id,
        LoginSettings(oac_url=body.oac_url, iam_url=body.iam_url, client_id=body.client_id, scope=body.scope),
        user=user.get_name(),
        fernet=_fernet(),
    )

    # None without the qr extra (segno) or for an address too long to scan: the link is still shown.
    qr = qr_svg(started.verification_uri_complete) if started.verification_uri_complete else None
    return JSONResponse(
        {
            "user_code": started.user_code,
            "verification_uri": started.verification_uri,
            "verification_uri_complete": started.verification_uri_complete,
            "qr_svg": qr,
            "expires_at": started.expires_at,
            # The page counts down from this, so its clock need not agree with the server's.
            "expires_in": max(started.expires_at - time.time(), 0.0),
            "interval": started.interval,
            "handle": started.handle,
            "warning": started.warning,
        },
        headers=_NO_STORE,
    )


@router.post(
    "/connections/{connection_id}/poll",
    dependencies=[Depends(require_csrf_header), Depends(requires_access_connection("PUT"))],
)
def poll(connection_id: str, body: PollBody, user: GetUserDep) -> JSONResponse:
    outcome = _call(
        login_service.poll_login, connection_id, body.handle, user=user.get_name(), fernet=_fernet()
    )
    answer: dict[str, Any] = {
        "status": outcome.state.value,
        "message": outcome.message,
        "handle": outcome.handle,
        "retry_in": outcome.retry_in,
        "slowed_down": outcome.slowed_down,
        "warning": outcome.warning,
    }
    if outcome.state is LoginState.DONE and outcome.result is not None:
        result = outcome.result
        answer |= {
            "subject": result.subject,
            "oac_url": result.oac_url,
            "login_expires_at": result.login_expires_at,
            "created": result.created,
            "shadowed_by": result.shadowed_by,
        }
        if result.shadowed_by:
            answer["warning"] = (
                f"{result.shadowed_by} also defines {connection_id!r} and hides the connection written here: "
                "tasks will not use this login until that definition is updated or removed (see the docs, "
                "'Log in from the Airflow UI')."
            )
    return JSONResponse(answer, headers=_NO_STORE)


def _call(function: Any, *args: Any, **kwargs: Any) -> Any:
    """Our errors as HTTP answers: bad input 400, IAM trouble 502; the message says what to do."""
    try:
        return function(*args, **kwargs)
    except OACConfigError as exc:
        raise HTTPException(400, str(exc)) from None
    except OACAuthError as exc:
        raise HTTPException(502, str(exc)) from None


def _fernet() -> Any:
    return get_fernet()


@cache
def _page_template() -> str:
    static = resources.files("airflow_provider_oac.plugins") / "static"
    html = (static / "login.html").read_text(encoding="utf-8")
    return html.replace("/*__CSS__*/", (static / "login.css").read_text(encoding="utf-8")).replace(
        "/*__JS__*/", (static / "login.js").read_text(encoding="utf-8")
    )


def create_app() -> FastAPI:
    """The page's app; :mod:`airflow_provider_oac.plugins.ui` mounts it lazily."""
    app = FastAPI(
        title="Log in to Oracle Analytics Cloud",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.include_router(router)
    return app
