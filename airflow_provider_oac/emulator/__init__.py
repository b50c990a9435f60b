"""A local emulator of OCI IAM (device flow, refresh, revoke) and the OAC snapshot REST API.

Used by the test suite, ``make demo`` and offline users::

    from airflow_provider_oac.emulator import EmulatorConfig, EmulatorServer

    with EmulatorServer(EmulatorConfig(auto_approve=True)) as server:
        server.url        # OAC URL (API under /api/20210901)
        server.iam_url    # identity domain URL (/oauth2/v1/device, /oauth2/v1/token)
        server.config.scope
        server.control.add_fault("POST /api/20210901/snapshots", "accept_then_hang", delay=5)

Importing this package is cheap: FastAPI and uvicorn load only when a server starts.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_oac.emulator.config import EmulatorConfig
    from airflow_provider_oac.emulator.control import EmulatorControl, EmulatorControlError
    from airflow_provider_oac.emulator.server import EmulatorServer

__all__ = ["EmulatorConfig", "EmulatorControl", "EmulatorControlError", "EmulatorServer"]

_HOMES = {
    "EmulatorConfig": "airflow_provider_oac.emulator.config",
    "EmulatorControl": "airflow_provider_oac.emulator.control",
    "EmulatorControlError": "airflow_provider_oac.emulator.control",
    "EmulatorServer": "airflow_provider_oac.emulator.server",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

    return getattr(importlib.import_module(home), name)
