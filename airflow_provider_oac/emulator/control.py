"""Drive a running emulator (thread or subprocess) through its control API under ``/_emulator/``."""

from __future__ import annotations

import time
from typing import Any

import requests


class EmulatorControlError(RuntimeError):
    """The control API refused a call (unknown user code, unknown setting, bad fault...)."""


class EmulatorControl:
    """An HTTP client for the emulator's control API at ``base_url`` (the OAC URL)."""

    def __init__(self, base_url: str, *, timeout: float = 10.0):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._session: requests.Session | None = None

    def __repr__(self) -> str:
        return f"EmulatorControl({self.base_url!r})"

    def _call(self, method: str, name: str, payload: dict[str, Any] | None = None) -> Any:
        if self._session is None:
            self._session = requests.Session()
            # Loopback only: an HTTP(S)_PROXY from the environment must not capture these calls.
            self._session.trust_env = False
        # A connection of its own for each call, closed after the answer: on a kept-alive one, a
        # call made just as the emulator (uvicorn, after 5 idle seconds) closes it gets "Connection
        # reset by peer", and a control call cannot be safely sent again (add_fault, approve...).
        response = self._session.request(
            method,
            f"{self.base_url}/_emulator/{name}",
            json=payload,
            timeout=self.timeout,
            headers={"Connection": "close"},
        )
        if response.status_code >= 400:
            try:
                detail = response.json().get("error", response.text)
            except ValueError:
                detail = response.text
            raise EmulatorControlError(f"{method} /_emulator/{name}: HTTP {response.status_code}: {detail}")
        return response.json()

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    # --- configuration and state -----------------------------------------------------------------

    def health(self) -> bool:
        return bool(self._call("GET", "health")["ok"])

    def configure(self, **fields: Any) -> dict[str, Any]:
        """Change settings (any :class:`EmulatorConfig` field); returns the whole new configuration."""
        return self._call("POST", "configure", fields)

    def config(self) -> dict[str, Any]:
        return self._call("GET", "config")

    def reset(self) -> None:
        """Back to the initial configuration, with no state, faults, counters or clock offset."""
        self._call("POST", "reset")

    def state(self) -> dict[str, Any]:
        """A summary: configuration, scope, clock, pending user codes, armed faults, sizes."""
        return self._call("GET", "state")

    def counters(self) -> dict[str, int]:
        return self._call("GET", "counters")

    # --- device logins ---------------------------------------------------------------------------

    def approve(self, user_code: str) -> None:
        self._call("POST", "approve", {"user_code": user_code})

    def deny(self, user_code: str) -> None:
        self._call("POST", "deny", {"user_code": user_code})

    def pending_user_codes(self) -> list[str]:
        return self._call("GET", "pending_user_codes")

    def wait_for_user_code(self, timeout: float = 5.0) -> str:
        """The newest pending user code, waiting up to ``timeout`` seconds for a client to ask for one."""
        deadline = time.monotonic() + timeout
        while True:
            codes = self.pending_user_codes()
            if codes:
                return codes[-1]
            if time.monotonic() >= deadline:
                raise EmulatorControlError(f"no device login was started within {timeout} s")
            time.sleep(0.05)

    # --- faults ----------------------------------------------------------------------------------

    def add_fault(
        self,
        route: str,
        action: str,
        *,
        times: int = 1,
        status: int | None = None,
        retry_after: float | None = None,
        body: str | None = None,
        delay: float | None = None,
        code: str | None = None,
        message: str | None = None,
    ) -> str:
        """Arm a fault for ``route`` (``"METHOD /path-glob"``) for the next ``times`` matching requests.

        Faults apply in the order added. Returns the fault id.
        """
        payload = {
            "route": route,
            "action": action,
            "times": times,
            "status": status,
            "retry_after": retry_after,
            "body": body,
            "delay": delay,
            "code": code,
            "message": message,
        }
        return self._call("POST", "faults", payload)["id"]

    def faults(self) -> list[dict[str, Any]]:
        """Armed faults: ``{id, route, action, times_left}``."""
        return self._call("GET", "faults")

    def clear_faults(self) -> None:
        self._call("DELETE", "faults")

    # --- time and tokens -------------------------------------------------------------------------

    def release_work_requests(self) -> int:
        """Let work requests held by ``stuck_work_request`` finish; returns how many were held."""
        return self._call("POST", "release_work_requests")["released"]

    def expire_access_tokens(self) -> None:
        """Every access token issued so far is rejected with 401 from now on."""
        self._call("POST", "expire_access_tokens")

    def issued_tokens(self) -> dict[str, list[str]]:
        """``{access_tokens, refresh_tokens}``: every token issued since the last reset, for tests
        that check no log holds one. Never print the answer."""
        return self._call("GET", "issued_tokens")

    def advance_clock(self, seconds: float) -> None:
        """Move emulator time forward: tokens, device codes and work requests age without sleeping."""
        self._call("POST", "advance_clock", {"seconds": seconds})

    # --- inspection ------------------------------------------------------------------------------

    def snapshots(self) -> list[dict[str, Any]]:
        """Every snapshot record, listed or still being created, with its BAR object:
        ``{id, name, type, registered, work_request_id, created_by, time_created, bucket, object,
        bar_uri, bar_exists}``."""
        return self._call("GET", "snapshots")

    def bar_objects(self) -> list[dict[str, Any]]:
        """The emulated object store: ``{bucket, object, time_created, written_by, has_password,
        region, namespace}``."""
        return self._call("GET", "bar_objects")

    def put_bar_object(
        self,
        bucket: str,
        object_name: str,
        password: str | None,
        *,
        region: str | None = None,
        namespace: str | None = None,
    ) -> None:
        """Place a BAR file in the emulated bucket (``object_name`` may be a ``file:///`` URI),
        e.g. before a REGISTER; in the instance's own region and namespace unless named."""
        payload = {"bucket": bucket, "object": object_name, "password": password}
        payload.update({k: v for k, v in (("region", region), ("namespace", namespace)) if v is not None})
        self._call("POST", "bar_objects", payload)

    def restores(self) -> list[dict[str, Any]]:
        """``{work_request_id, snapshot_id, snapshot_name, status, time_accepted, time_finished}``."""
        return self._call("GET", "restores")

    def work_requests(self) -> list[dict[str, Any]]:
        """Every work request, rendered as ``GET /workRequests/{id}`` would."""
        return self._call("GET", "work_requests")

    def logins(self) -> list[dict[str, Any]]:
        """``{family_id, subject, active, revoked_reason, refresh_count}`` per device login."""
        return self._call("GET", "logins")

    def request_log(self) -> list[dict[str, Any]]:
        """``{method, path, status}`` per IAM/OAC request, oldest first (never headers or bodies)."""
        return self._call("GET", "request_log")
