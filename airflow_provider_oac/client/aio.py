"""The asynchronous OAC client (``httpx``), used by triggers. Same rules as the sync client: both
run the flows of :class:`~airflow_provider_oac.client.operations.Operations`."""

from __future__ import annotations

import asyncio
import functools
import os
import ssl
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx

from airflow_provider_oac import _http
from airflow_provider_oac.client import protocol
from airflow_provider_oac.client.auth import AsyncTokenSource
from airflow_provider_oac.client.models import Accepted, Snapshot, SnapshotStorageSpec, WorkRequest
from airflow_provider_oac.client.operations import Flow, Operations
from airflow_provider_oac.client.protocol import RetryPolicy
from airflow_provider_oac.errors import OACConfigError

_T = TypeVar("_T")


class AsyncOACClient:
    """The coroutine twin of :class:`~airflow_provider_oac.client.sync.OACClient`: the same flows
    of :class:`~airflow_provider_oac.client.operations.Operations`, executed with httpx.

    ``token_source`` is an :class:`~airflow_provider_oac.client.auth.AsyncTokenSource`. An
    ``httpx.AsyncClient`` passed in is not closed by :meth:`aclose`; ``verify`` applies only to
    the client created here.
    """

    def __init__(
        self,
        base_url: str,
        token_source: AsyncTokenSource,
        *,
        timeout: float | tuple[float, float] = _http.DEFAULT_TIMEOUT,
        retry: RetryPolicy = RetryPolicy(),
        client: httpx.AsyncClient | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        verify: bool | str = True,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._operations = Operations(base_url, retry, verify=verify)
        self.base_url = self._operations.base_url
        if not isinstance(token_source, AsyncTokenSource):
            raise OACConfigError(
                "token_source must have async aget_access_token() and ainvalidate(access_token), "
                f"not {type(token_source).__name__}."
            )
        self._tokens = token_source
        self._timeout = timeout
        self._sleep = sleep
        self._clock = clock
        self._owns_client = client is None
        if client is None:
            client = httpx.AsyncClient(verify=_ssl_context(verify))
        self._client = client

    def __repr__(self) -> str:
        return f"AsyncOACClient({self.base_url!r})"

    async def __aenter__(self) -> AsyncOACClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    # --- snapshots ---

    async def list_snapshots(self) -> list[Snapshot]:
        return await self._run(self._operations.list_snapshots())

    async def get_snapshot(self, snapshot_id: str) -> Snapshot:
        return await self._run(self._operations.get_snapshot(snapshot_id))

    async def find_snapshots(self, name: str) -> list[Snapshot]:
        return await self._run(self._operations.find_snapshots(name))

    async def create_snapshot(
        self,
        name: str,
        password: str,
        storage: SnapshotStorageSpec,
        *,
        bar_uri: str | None = None,
        description: str | None = None,
    ) -> Accepted:
        flow = self._operations.create_snapshot(
            name, password, storage, bar_uri=bar_uri, description=description
        )
        return await self._run(flow)

    async def register_snapshot(
        self, name: str, bar_uri: str, storage: SnapshotStorageSpec, *, password: str | None = None
    ) -> Accepted:
        return await self._run(self._operations.register_snapshot(name, bar_uri, storage, password=password))

    async def delete_snapshot(self, snapshot_id: str, *, delete_storage: bool = False) -> None:
        await self._run(self._operations.delete_snapshot(snapshot_id, delete_storage=delete_storage))

    async def restore_snapshot(self, snapshot_id: str, password: str) -> Accepted:
        return await self._run(self._operations.restore_snapshot(snapshot_id, password))

    async def find_created_snapshot(self, name: str, work_request: WorkRequest) -> Snapshot:
        return await self._run(self._operations.find_created_snapshot(name, work_request))

    # --- work requests and system ---

    async def get_work_request(self, work_request_id: str) -> WorkRequest:
        return await self._run(self._operations.get_work_request(work_request_id))

    async def wait_for_work_request(
        self,
        work_request_id: str,
        *,
        poll_interval: float = 10.0,
        timeout: float | None = None,
        on_poll: Callable[[WorkRequest], None] | None = None,
    ) -> WorkRequest:
        """See :meth:`OACClient.wait_for_work_request`."""
        flow = self._operations.wait_for_work_request(
            work_request_id, poll_interval=poll_interval, timeout=timeout, on_poll=on_poll
        )
        return await self._run(flow)

    async def get_system(self) -> dict[str, Any]:
        return await self._run(self._operations.get_system())

    # --- transport: executes the steps of the flows ---

    async def _run(self, flow: Flow[_T]) -> _T:
        return await _http.arun_flow(flow, self._execute)

    async def _execute(self, step: protocol.Step) -> Any:
        if isinstance(step, _http.Send):
            return await _http.asend(self._client, step.request, timeout=self._timeout)
        if isinstance(step, protocol.GetToken):
            return await self._tokens.aget_access_token()
        if isinstance(step, protocol.InvalidateToken):
            return await self._tokens.ainvalidate(step.access_token)
        if isinstance(step, _http.Now):
            return self._clock()
        return await self._sleep(step.seconds)


@functools.lru_cache(maxsize=8)
def _ssl_context(verify: bool | str) -> ssl.SSLContext:
    """One TLS context per CA setting for the whole process, shared by every client.

    Building one loads the whole CA bundle (about 0.8 MB and 20 ms of CPU each), and a triggerer
    makes a client per waiting trigger: 1,000 triggers would hold 800 MB and block the event loop
    for 20 s. A shared SSLContext is safe across clients, threads and event loops.
    """
    if verify is True:
        return httpx.create_ssl_context()  # certifi, or SSL_CERT_FILE / SSL_CERT_DIR, as httpx does
    path = str(verify)
    if os.path.isdir(path):
        return ssl.create_default_context(capath=path)
    return ssl.create_default_context(cafile=path)
