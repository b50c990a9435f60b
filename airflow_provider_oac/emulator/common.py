"""What every part of the emulator shares: its error answers, its clock and its counters.

Plain Python with no web framework; ``app.py`` turns the error answers into HTTP.
"""

from __future__ import annotations

import math
import time
from datetime import datetime, timezone
from typing import Any

COUNTER_NAMES = (
    "device_authorizations",
    "device_polls",
    "device_grants",
    "slow_downs",
    "refreshes",
    "refresh_failures",
    "spent_refresh_token_presentations",
    "revoked_logins",
    "revocations",
    "snapshots_created",
    "snapshots_registered",
    "snapshots_deleted",
    "restores_started",
    "work_requests_created",
    "oac_requests",
    "oac_unauthorized",
    "token_requests",
    "rate_limited",
)


class _Problem(Exception):
    """An error answer with an HTTP ``status``; :meth:`body` is its JSON."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status

    def body(self) -> dict[str, str]:
        raise NotImplementedError


class OAuthProblem(_Problem):
    """An IAM error answer: ``{"error", "error_description"}`` with ``status``."""

    def __init__(self, status: int, error: str, description: str):
        super().__init__(status, f"{error}: {description}")
        self.error = error
        self.description = description

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


class APIProblem(_Problem):
    """An OAC error answer: ``{"code", "message"}`` with ``status``."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(status, f"{code}: {message}")
        self.code = code
        self.message = message

    def body(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


class ControlProblem(_Problem):
    """A bad control-API call (unknown user code, unknown setting, bad fault)."""

    def __init__(self, status: int, message: str):
        super().__init__(status, message)
        self.message = message

    def body(self) -> dict[str, str]:
        return {"error": self.message}


class Clock:
    """Emulator time: real time plus an offset that only moves forward. One clock serves every
    identity domain and OAC instance of an emulator, so tokens and work requests age together."""

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: Any) -> float:
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not math.isfinite(seconds):
            raise ControlProblem(400, "seconds must be a number")
        if seconds < 0:
            raise ControlProblem(400, "the emulator clock only moves forward")
        self.offset += float(seconds)
        return self.offset


class Counters:
    """Named event counts (``COUNTER_NAMES`` start at 0); the caller holds the emulator's lock."""

    def __init__(self) -> None:
        self._counts: dict[str, int] = dict.fromkeys(COUNTER_NAMES, 0)

    def add(self, name: str, amount: int = 1) -> None:
        self._counts[name] = self._counts.get(name, 0) + amount

    def snapshot(self) -> dict[str, int]:
        return dict(self._counts)


def rfc3339(epoch: float) -> str:
    """``2026-11-25T02:47:10.123Z``: the form OAC uses."""
    moment = datetime.fromtimestamp(epoch, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def whole_seconds(seconds: float) -> int | float:
    """Whole seconds as an int, like IAM; a sub-second test lifetime stays a float."""
    return int(seconds) if float(seconds).is_integer() else seconds
