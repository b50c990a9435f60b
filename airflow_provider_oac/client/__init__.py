"""OAC REST client: typed results, one error tree, safe retries. No Airflow imports.

Importing this package is cheap: :class:`OACClient` (``requests``) and :class:`AsyncOACClient`
(``httpx``) load on first use.

>>> with OACClient("https://myoac-abcd-ia.analytics.ocp.oraclecloud.com", token_source) as oac:
...     accepted = oac.create_snapshot("nightly-2026-01-31", password, SnapshotStorageSpec("oac-snaps"))
...     work_request = oac.wait_for_work_request(accepted.work_request_id)
...     snapshot = oac.find_created_snapshot("nightly-2026-01-31", work_request)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_oac.client.auth import AsyncTokenSource, StaticTokenSource, TokenSource
from airflow_provider_oac.client.models import (
    Accepted,
    Snapshot,
    SnapshotStorage,
    SnapshotStorageSpec,
    StorageAuthType,
    WorkRequest,
    WorkRequestError,
    WorkRequestResource,
    WorkRequestStatus,
)
from airflow_provider_oac.client.protocol import API_PATH, RetryPolicy, decide_retry

if TYPE_CHECKING:
    from airflow_provider_oac.client.aio import AsyncOACClient
    from airflow_provider_oac.client.sync import OACClient

__all__ = [
    "API_PATH",
    "Accepted",
    "AsyncOACClient",
    "AsyncTokenSource",
    "OACClient",
    "RetryPolicy",
    "Snapshot",
    "SnapshotStorage",
    "SnapshotStorageSpec",
    "StaticTokenSource",
    "StorageAuthType",
    "TokenSource",
    "WorkRequest",
    "WorkRequestError",
    "WorkRequestResource",
    "WorkRequestStatus",
    "decide_retry",
]


def __getattr__(name: str) -> Any:
    if name == "OACClient":
        # lazy: requests/httpx; the package is imported for its models alone
        from airflow_provider_oac.client.sync import OACClient

        return OACClient
    if name == "AsyncOACClient":
        # lazy: requests/httpx; the package is imported for its models alone
        from airflow_provider_oac.client.aio import AsyncOACClient

        return AsyncOACClient
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
