"""Just enough of Airflow's REST API (v2) to write the ``oac`` connection where the metadata
database is out of reach (managed Airflow, another host): ``airflow-oac login --api-url``.

Authentication is a JWT: either given (``--api-token-env``) or obtained from ``POST /auth/token``
with a user name and password (SimpleAuthManager and the FAB auth manager both serve it). A
token obtained that way is fetched again once if the API later answers 401 (a device login can
outlast a short token lifetime).

Requests go through :func:`airflow_provider_oac._http.send`; no token or password ever appears in
an error message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import requests

from airflow_provider_oac._http import DEFAULT_TIMEOUT, HTTPRequest, HTTPResponse, parse_json, send
from airflow_provider_oac.errors import OACAirflowAPIError, OACConfigError, OACTransportError
from airflow_provider_oac.validation import validate_service_url

API_PREFIX = "/api/v2"
TOKEN_PATH = "/auth/token"
#: What Airflow's REST API accepts as a connection id (``ConnectionBody.connection_id``).
_CONN_ID_RE = re.compile(r"[\w.-]{1,200}")
#: Rows per page when listing Variables (``[api] maximum_page_limit`` defaults to 100).
_PAGE = 100


def validate_api_url(value: object, field_name: str = "--api-url") -> str:
    """The API server's base URL (what the UI is served at), e.g. ``http://localhost:8080``."""
    url = validate_service_url(value, field_name, "http://localhost:8080 or https://airflow.example.com")
    if re.search(r"/(api|auth|execution)(/|$)", url):
        raise OACConfigError(
            f"{field_name} {url!r} includes an API path: give the Airflow base URL only (what the UI is "
            "served at), e.g. http://localhost:8080."
        )
    return url


def validate_api_conn_id(conn_id: str) -> str:
    if not _CONN_ID_RE.fullmatch(conn_id):
        raise OACConfigError(
            f"--conn-id {conn_id!r}: Airflow's REST API takes 1 to 200 letters, digits, '_', '.' or '-'."
        )
    return conn_id


@dataclass(frozen=True, slots=True)
class AirflowAPICredentials:
    """A ready JWT, or a user name and password to get one from ``POST /auth/token``."""

    username: str | None = None
    password: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)


class AirflowAPI:
    """Airflow's REST API at ``base_url`` (validated with :func:`validate_api_url`)."""

    def __init__(
        self,
        base_url: str,
        credentials: AirflowAPICredentials,
        *,
        session: requests.Session | None = None,
        timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
        verify: bool | str = True,
    ):
        self.base_url = base_url.rstrip("/")
        self._credentials = credentials
        self._token = credentials.token
        self._session = session
        self._timeout = timeout
        self._verify = verify

    def __repr__(self) -> str:
        return f"AirflowAPI({self.base_url!r})"

    # --- connections ---------------------------------------------------------------------------

    def get_connection(self, conn_id: str) -> dict[str, Any] | None:
        """The connection as the API shows it (password and secret-looking extras as ``***``),
        or None."""
        response = self._call("GET", f"/connections/{_segment(conn_id)}", accept=(200, 404))
        if response.status == 404:
            return None
        body = parse_json(response, "Airflow's connection answer")
        if not isinstance(body, dict):
            raise OACAirflowAPIError(
                "Airflow's connection answer was not a JSON object.", status=response.status
            )
        return body

    def create_connection(self, body: dict[str, Any]) -> bool:
        """``POST /connections``; False when a connection of that id already exists (409)."""
        response = self._call("POST", "/connections", json=body, accept=(200, 201, 409))
        return response.status != 409

    def update_connection(self, conn_id: str, body: dict[str, Any]) -> bool:
        """``PATCH /connections/{id}`` with every field in ``body``; False when there is none (404).

        The body repeats ``connection_id`` and ``conn_type`` (the API requires both). Values the
        API masked when reading (``***``) are kept as stored.
        """
        response = self._call("PATCH", f"/connections/{_segment(conn_id)}", json=body, accept=(200, 404))
        return response.status != 404

    # --- variables -------------------------------------------------------------------------------

    def variable_keys(self, prefix: str) -> list[str]:
        """Every Variable key starting with ``prefix``.

        The API's filters only narrow the listing (``variable_key_prefix_pattern`` in 3.2+ drops
        trailing punctuation, ``variable_key_pattern`` is a case-insensitive LIKE where ``_``
        matches anything); the exact prefix is checked here.
        """
        keys: list[str] = []
        offset = 0
        while True:
            params = {
                "variable_key_prefix_pattern": prefix,
                "variable_key_pattern": prefix,
                "order_by": "key",
                "limit": str(_PAGE),
                "offset": str(offset),
            }
            response = self._call("GET", "/variables", params=params)
            body = parse_json(response, "Airflow's variable list")
            rows = body.get("variables") if isinstance(body, dict) else None
            if not isinstance(rows, list):
                raise OACAirflowAPIError(
                    "Airflow's variable list had no 'variables' array.", status=response.status
                )
            keys += [
                row["key"]
                for row in rows
                if isinstance(row, dict) and str(row.get("key", "")).startswith(prefix)
            ]
            offset += len(rows)
            total = body.get("total_entries")
            if not rows or not isinstance(total, int) or offset >= total:
                return keys

    def get_variable(self, key: str) -> str | None:
        """The Variable's value as the API shows it (secret-looking values and JSON fields as
        ``***``), or None when there is none."""
        response = self._call("GET", f"/variables/{_segment(key)}", accept=(200, 404))
        if response.status == 404:
            return None
        body = parse_json(response, "Airflow's variable answer")
        value = body.get("value") if isinstance(body, dict) else None
        return value if isinstance(value, str) else None

    def delete_variable(self, key: str) -> bool:
        """False when it was already gone."""
        response = self._call("DELETE", f"/variables/{_segment(key)}", accept=(200, 204, 404))
        return response.status != 404

    # --- plumbing --------------------------------------------------------------------------------

    def _call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, str] | None = None,
        accept: tuple[int, ...] = (200,),
    ) -> HTTPResponse:
        response = self._send_authorized(method, path, json=json, params=params)
        if response.status == 401 and self._credentials.username is not None:
            self._token = None  # expired while the person approved the code: get a new one, once
            response = self._send_authorized(method, path, json=json, params=params)
        if response.status in accept:
            return response
        raise self._error(method, path, response)

    def _send_authorized(
        self, method: str, path: str, *, json: Any, params: dict[str, str] | None
    ) -> HTTPResponse:
        request = HTTPRequest(
            method,
            f"{self.base_url}{API_PREFIX}{path}",
            headers={"Authorization": f"Bearer {self._bearer()}", "Accept": "application/json"},
            json=json,
            params=params,
        )
        return self._send(request)

    def _bearer(self) -> str:
        if self._token is None:
            self._token = self._new_token()
        return self._token

    def _new_token(self) -> str:
        credentials = self._credentials
        request = HTTPRequest(
            "POST",
            f"{self.base_url}{TOKEN_PATH}",
            headers={"Accept": "application/json"},
            json={"username": credentials.username, "password": credentials.password},
        )
        response = self._send(request)
        if response.status in (400, 401, 403):
            raise OACAirflowAPIError(
                f"Airflow at {self.base_url} refused the user name or password (HTTP {response.status}): check "
                "--api-username and the environment variable named by --api-password-env.",
                status=response.status,
            )
        if response.status in (404, 405):
            raise OACAirflowAPIError(
                f"Airflow at {self.base_url} has no {TOKEN_PATH} for a user name and password (HTTP "
                f"{response.status}): its auth manager issues tokens another way; pass one with --api-token-env.",
                status=response.status,
            )
        if response.status not in (200, 201):
            raise self._error("POST", TOKEN_PATH, response)
        body = parse_json(response, "Airflow's token answer")
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise OACAirflowAPIError("Airflow's token answer has no access_token.", status=response.status)
        return token

    def _send(self, request: HTTPRequest) -> HTTPResponse:
        if self._session is None:
            self._session = requests.Session()
        try:
            return send(self._session, request, timeout=self._timeout, verify=self._verify)
        except OACTransportError as exc:
            raise OACAirflowAPIError(f"Airflow's REST API is unreachable ({exc}): check --api-url.") from None

    def _error(self, method: str, path: str, response: HTTPResponse) -> OACAirflowAPIError:
        status = response.status
        detail = _detail(response)
        where = f"{method} {API_PREFIX}{path}" if path != TOKEN_PATH else f"{method} {TOKEN_PATH}"
        if status == 401:
            fix = (
                "get a new token for --api-token-env"
                if self._credentials.username is None
                else "check --api-username and its password"
            )
            message = f"Airflow's REST API refused the credentials (HTTP 401) for {where}: {fix}."
        elif status == 403:
            who = f"user {self._credentials.username!r}" if self._credentials.username else "the token's user"
            message = (
                f"Airflow's REST API does not allow {who} to {where} (HTTP 403): it needs permission to read "
                "and edit Connections and Variables."
            )
        else:
            message = f"Airflow's REST API answered HTTP {status} to {where}" + (
                f": {detail}" if detail else "."
            )
        return OACAirflowAPIError(message, status=status)


def _segment(value: str) -> str:
    return quote(value, safe="")


def _detail(response: HTTPResponse) -> str:
    """The API's ``detail`` on one line (FastAPI: text, or a list of validation errors)."""
    try:
        body = parse_json(response, "Airflow's error answer")
    except Exception:
        return ""
    detail = body.get("detail") if isinstance(body, dict) else None
    if isinstance(detail, list):
        parts = [
            f"{'.'.join(map(str, d.get('loc', [])))}: {d.get('msg')}" for d in detail if isinstance(d, dict)
        ]
        detail = "; ".join(parts)
    text = " ".join(str(detail or "").split())
    return text[:300]
