"""Which Airflow is installed, decided once at import (as Apache's providers do with
``AIRFLOW_V_3_1_PLUS``), so code gates on a version instead of trying imports around features.

Computed from ``airflow.__version__`` with packaging (both installed with every Airflow), not
from common-compat's copy, whose flags depend on the common-compat release. Airflow 3.0 pairs
with Task SDK 1.0, 3.1 with 1.1, 3.2 with 1.2 and 3.3 with 1.3.
"""

from __future__ import annotations

from airflow import __version__ as _airflow_version
from packaging.version import Version


def _base_version(text: str) -> tuple[int, int, int]:
    version = Version(text)
    return version.major, version.minor, version.micro


AIRFLOW_VERSION: tuple[int, int, int] = _base_version(_airflow_version)

#: Task SDK 1.1: ``airflow.sdk.execution_time.cache.SecretCache``, ``BaseHook.aget_connection``.
AIRFLOW_V_3_1_PLUS: bool = AIRFLOW_VERSION >= (3, 1, 0)
#: Provider info ``conn-fields`` / ``ui-field-behaviour`` drive the connection form.
AIRFLOW_V_3_2_PLUS: bool = AIRFLOW_VERSION >= (3, 2, 0)
#: Task SDK 1.3: triggers may call sync SDK methods from any thread (``asyncio.to_thread``),
#: Variable key listing (``_get_variable_keys``), the task state store, ``BaseTrigger.on_kill``.
AIRFLOW_V_3_3_PLUS: bool = AIRFLOW_VERSION >= (3, 3, 0)

__all__ = ["AIRFLOW_VERSION", "AIRFLOW_V_3_1_PLUS", "AIRFLOW_V_3_2_PLUS", "AIRFLOW_V_3_3_PLUS"]
