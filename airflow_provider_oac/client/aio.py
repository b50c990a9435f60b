"""The asynchronous OAC client (``httpx``), used by triggers. Same rules as the sync client:
both execute :func:`~airflow_provider_oac.client.protocol.call_flow`."""

from __future__ import annotations

import asyncio
import functools
import os
import time
from collections.abc import Awaitable, Callable, Generator
from typing import TYPE_CHECKING, Any

from airflow_provider_oac import _http, validation
from airflow_provider_oac.client import protocol
from airflow_provider_oac.client.auth import AsyncTokenSource
from airflow_provider_oac.client.models import Accepted, Snapshot, SnapshotStorageSpec, WorkRequest
from airflow_provider_oac.client.protocol import RetryPolicy
from airflow_provider_oac.errors import OACConfigError, OACNotFoundError, OACTransportError

if TYPE_CHECKING:
    import ssl

    import httpx


class AsyncOACClient:
    """The coroutine twin of :class:`~airflow_provider_oac.client.sync.OACClient`.

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
        self.base_url = validation.validate_oac_url(base_url)
        if not isinstance(token_source, AsyncTokenSource):
            raise OACConfigError(
                "token_source must have async aget_access_token() and ainvalidate(access_token), "
                f"not {type(token_source).__name__}."
            )
        if verify is False:
            raise OACConfigError(
                "TLS verification cannot be turned off: pass verify=True or a CA bundle path."
            )
        self._tokens = token_source
        self._timeout = timeout
        self._retry = retry
        self._sleep = sleep
        self._clock = clock
        self._owns_client = client is None
        if client is None:
            import httpx

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
        return protocol.read_snapshots(await self._call(protocol.list_snapshots(self.base_url)))

    async def get_snapshot(self, snapshot_id: str) -> Snapshot:
        return protocol.read_snapshot(await self._call(protocol.get_snapshot(self.base_url, snapshot_id)))

    async def find_snapshots(self, name: str) -> list[Snapshot]:
        name = validation.validate_snapshot_name(name)
        return protocol.snapshots_named(await self.list_snapshots(), name)

    async def create_snapshot(
        self,
        name: str,
        password: str,
        storage: SnapshotStorageSpec,
        *,
        bar_uri: str | None = None,
        description: str | None = None,
    ) -> Accepted:
        request = protocol.create_snapshot(
            self.base_url, name, password, storage, bar_uri=bar_uri, description=description
        )
        return await self._accepted(request, "create_snapshot")

    async def register_snapshot(
        self, name: str, bar_uri: str, storage: SnapshotStorageSpec, *, password: str | None = None
    ) -> Accepted:
        request = protocol.register_snapshot(self.base_url, name, bar_uri, storage, password=password)
        return await self._accepted(request, "register_snapshot")

    async def delete_snapshot(self, snapshot_id: str, *, delete_storage: bool = False) -> None:
        await self._call(protocol.delete_snapshot(self.base_url, snapshot_id, delete_storage=delete_storage))

    async def restore_snapshot(self, snapshot_id: str, password: str) -> Accepted:
        request = protocol.restore_snapshot(self.base_url, snapshot_id, password)
        return await self._accepted(request, "restore_snapshot")

    async def find_created_snapshot(self, name: str, work_request: WorkRequest) -> Snapshot:
        protocol.require_succeeded(work_request)
        snapshot_id = protocol.snapshot_from_work_request(work_request)
        if snapshot_id:
            try:
                return await self.get_snapshot(snapshot_id)
            except OACNotFoundError:
                pass  # the resource may name something else than the snapshot: look by name
        found = protocol.pick_created_snapshot(await self.list_snapshots(), name, work_request)
        if found is None:
            raise protocol.no_created_snapshot_error(name, work_request)
        return found

    # --- work requests and system ---

    async def get_work_request(self, work_request_id: str) -> WorkRequest:
        request = protocol.get_work_request(self.base_url, work_request_id)
        return protocol.read_work_request(await self._call(request))

    async def wait_for_work_request(
        self,
        work_request_id: str,
        *,
        poll_interval: float = 10.0,
        timeout: float | None = None,
        on_poll: Callable[[WorkRequest], None] | None = None,
    ) -> WorkRequest:
        """See :meth:`OACClient.wait_for_work_request`."""
        poll_interval = validation.validate_positive_number(poll_interval, "poll_interval")
        deadline = None
        if timeout is not None:
            deadline = self._clock() + validation.validate_positive_number(
                timeout, "timeout", allow_zero=True
            )
        while True:
            work_request = await self.get_work_request(work_request_id)
            if on_poll is not None:
                on_poll(work_request)
            if protocol.check_work_request(work_request):
                return work_request
            await self._sleep(
                protocol.next_poll_delay(
                    work_request, poll_interval=poll_interval, deadline=deadline, now=self._clock()
                )
            )

    async def get_system(self) -> dict[str, Any]:
        return protocol.read_system(await self._call(protocol.get_system(self.base_url)))

    # --- transport: executes protocol.call_flow ---

    async def _accepted(self, request: _http.HTTPRequest, operation: str) -> Accepted:
        return protocol.read_accepted_or_unknown(await self._call(request, operation), operation)

    async def _call(self, request: _http.HTTPRequest, operation: str | None = None) -> _http.HTTPResponse:
        return await self._run(protocol.call_flow(request, policy=self._retry, operation=operation))

    async def _run(self, flow: Generator[protocol.Step, Any, _http.HTTPResponse]) -> _http.HTTPResponse:
        reply: Any = None
        error: OACTransportError | None = None
        while True:
            try:
                step = flow.throw(error) if error is not None else flow.send(reply)
            except StopIteration as done:
                return done.value
            reply, error = None, None
            if isinstance(step, protocol.GetToken):
                reply = await self._tokens.aget_access_token()
            elif isinstance(step, protocol.Send):
                try:
                    reply = await _http.asend(self._client, step.request, timeout=self._timeout)
                except OACTransportError as exc:
                    error = exc
            elif isinstance(step, protocol.InvalidateToken):
                await self._tokens.ainvalidate(step.access_token)
            else:
                await self._sleep(step.seconds)


@functools.lru_cache(maxsize=8)
def _ssl_context(verify: bool | str) -> ssl.SSLContext:
    """One TLS context per CA setting for the whole process, shared by every client.

    Building one loads the whole CA bundle (about 0.8 MB and 20 ms of CPU each), and a triggerer
    makes a client per waiting trigger: 1,000 triggers would hold 800 MB and block the event loop
    for 20 s. A shared SSLContext is safe across clients, threads and event loops.
    """
    import ssl

    import httpx

    if verify is True:
        return httpx.create_ssl_context()  # certifi, or SSL_CERT_FILE / SSL_CERT_DIR, as httpx does
    path = str(verify)
    if os.path.isdir(path):
        return ssl.create_default_context(capath=path)
    return ssl.create_default_context(cafile=path)
