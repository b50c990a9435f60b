"""Armed faults: which request fails, how, and how many more times.

``FaultBook`` only stores and hands out faults; the middleware in ``middleware.py`` applies them
to answers, OAC work requests read ``stuck_work_request`` and ``fail_work_request``, and the TLS
front (``tls.py``) reads the connections whose answer it must break.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import threading
import uuid
from dataclasses import dataclass
from typing import Any

from airflow_provider_oac.emulator.common import ControlProblem

FAULT_ACTIONS = (
    "status",
    "html",
    "malformed",
    "delay",
    "accept_then_hang",
    "accept_then_error",
    "fail_work_request",
    "stuck_work_request",
    "expire_token",
    # Only behind the TLS front (emulator/tls.py): the emulator acts, then the answer's TLS breaks.
    "tls_garbage_after_request",
    "tls_close_after_request",
)


@dataclass(slots=True)
class Fault:
    id: str
    method: str
    path_glob: str
    action: str
    times_left: int
    status: int | None = None
    retry_after: float | None = None
    body: str | None = None
    delay: float | None = None
    code: str | None = None
    message: str | None = None

    @property
    def route(self) -> str:
        return f"{self.method} {self.path_glob}"

    def matches(self, method: str, path: str) -> bool:
        if self.method not in ("*", method.upper()):
            return False
        # OAC's own script spells the work-request path in lowercase; one glob serves both.
        candidates = {path, path.replace("/workrequests/", "/workRequests/")}
        return any(fnmatch.fnmatchcase(candidate, self.path_glob) for candidate in candidates)

    def info(self) -> dict[str, Any]:
        return {"id": self.id, "route": self.route, "action": self.action, "times_left": self.times_left}


def parse_fault(spec: dict[str, Any]) -> Fault:
    """A :class:`Fault` from a control-API body, or a :class:`ControlProblem` naming what is wrong."""
    route = spec.get("route")
    action = spec.get("action")
    if not isinstance(route, str) or len(route.split()) != 2:
        raise ControlProblem(400, 'route must be "METHOD /path-glob", e.g. "POST /api/20210901/snapshots"')
    method, path_glob = route.split()
    if not path_glob.startswith("/"):
        raise ControlProblem(400, "the route's path must start with / (relative to the server root)")
    if action not in FAULT_ACTIONS:
        raise ControlProblem(400, f"unknown fault action {action!r}; one of: {', '.join(FAULT_ACTIONS)}")
    times = spec.get("times", 1)
    if isinstance(times, bool) or not isinstance(times, int) or times < 1:
        raise ControlProblem(400, "times must be a whole number, 1 or more")
    return Fault(
        id=uuid.uuid4().hex[:12],
        method=method.upper(),
        path_glob=path_glob,
        action=action,
        times_left=times,
        status=_optional(spec, "status", int),
        retry_after=_optional(spec, "retry_after", float),
        body=_optional(spec, "body", str),
        delay=_optional(spec, "delay", float),
        code=_optional(spec, "code", str),
        message=_optional(spec, "message", str),
    )


class FaultBook:
    """The armed faults, in the order added, and the TLS breaks marked for upstream connections."""

    def __init__(self, lock: threading.RLock):
        self._lock = lock
        self._faults: list[Fault] = []
        #: Upstream client ports whose answer the TLS front must break, and how.
        self._tls_breaks: dict[int, str] = {}

    def add(self, spec: dict[str, Any]) -> Fault:
        fault = parse_fault(spec)
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def list(self) -> list[dict[str, Any]]:
        with self._lock:
            return [fault.info() for fault in self._faults]

    def take(self, method: str, path: str) -> Fault | None:
        """The first armed fault for this request, used up once; faults apply in the order added."""
        with self._lock:
            for fault in self._faults:
                if fault.times_left > 0 and fault.matches(method, path):
                    fault.times_left -= 1
                    if fault.times_left == 0:
                        self._faults.remove(fault)
                    return dataclasses.replace(fault)
            return None

    def mark_tls_break(self, client_port: int, how: str) -> None:
        with self._lock:
            self._tls_breaks[client_port] = how

    def take_tls_break(self, client_port: int) -> str | None:
        """How the TLS front must break the answer on the connection from ``client_port``, once."""
        with self._lock:
            return self._tls_breaks.pop(client_port, None)


def _optional(spec: dict[str, Any], key: str, kind: type) -> Any:
    value = spec.get(key)
    if value is None:
        return None
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise ControlProblem(400, f"{key} must be {kind.__name__}")
    return value
