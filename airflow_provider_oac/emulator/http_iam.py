"""The emulated identity domain over HTTP: ``/iam/oauth2/v1/{device,token,revoke}`` and the
browser page where a user approves or denies a device (``/iam/ui/v1/device``)."""

from __future__ import annotations

import html

from fastapi import FastAPI, Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from airflow_provider_oac.emulator.http_common import basic_client_id, iam_url, read_form
from airflow_provider_oac.emulator.iam import IdentityDomain
from airflow_provider_oac.emulator.state import EmulatorState


def add_iam_routes(api: FastAPI, state: EmulatorState) -> None:
    no_store = {"Cache-Control": "no-store", "Pragma": "no-cache"}

    @api.post("/iam/oauth2/v1/device")
    async def device_authorization(request: Request) -> Response:
        answer = state.iam.device_authorize(
            await read_form(request), basic_client_id(request), iam_url(request)
        )
        return JSONResponse(answer, headers=no_store)

    @api.post("/iam/oauth2/v1/token")
    async def token(request: Request) -> Response:
        answer = state.iam.token(await read_form(request), basic_client_id(request))
        return JSONResponse(answer, headers=no_store)

    @api.post("/iam/oauth2/v1/revoke")
    async def revoke(request: Request) -> Response:
        state.iam.revoke(await read_form(request), basic_client_id(request))
        return Response(status_code=200)

    @api.get("/iam/ui/v1/device")
    async def device_page(request: Request) -> Response:
        return HTMLResponse(_device_page(state.iam, request.query_params.get("user_code", "")))

    @api.post("/iam/ui/v1/device")
    async def device_decision(request: Request) -> Response:
        form = await read_form(request)
        user_code = form.get("user_code", "")
        approve = form.get("action", "approve") != "deny"
        if not state.iam.decide(user_code, approve):
            message = "That code is unknown, already used or expired. Start the login again on your device."
            return HTMLResponse(_device_page(state.iam, user_code, error=message), status_code=400)
        if approve:
            result = f"Device approved. It is now signed in as {state.iam.config.username}; return to your terminal."
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


def _device_page(iam: IdentityDomain, user_code: str, error: str = "") -> str:
    error_html = f'<p class="error">{html.escape(error)}</p>' if error else ""
    return _page(
        "Device login - OAC emulator",
        "<h1>Sign in a device</h1>"
        f"<p>Emulated identity domain. You are signed in as <b>{html.escape(iam.config.username)}</b>.</p>"
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
