"""The synchronous OAC client (``requests``), used by the hook and the CLI."""

from __future__ import annotations

import time
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any

from airflow_provider_oac import _http, validation
from airflow_provider_oac.client import protocol
from airflow_provider_oac.client.auth import TokenSource
from airflow_provider_oac.client.models import Accepted, Snapshot, SnapshotStorageSpec, WorkRequest
from airflow_provider_oac.client.protocol import RetryPolicy
from airflow_provider_oac.errors import OACConfigError, OACNotFoundError, OACTransportError

if TYPE_CHECKING:
    import requests


class OACClient:
    """OAC's snapshot, restore and work-request API, with typed results and safe retries.

    ``token_source`` gives a bearer token for every attempt; when OAC answers 401 the client
    invalidates that token and retries once with a fresh one. GET and DELETE are retried on
    transport failures, 429 and 5xx; create, register and restore only when OAC certainly did not
    act on them, else they raise :class:`~airflow_provider_oac.errors.OACOutcomeUnknownError`.

    Use as a context manager, or call :meth:`close`. A ``session`` passed in is not closed.
    """

    def __init__(
        self,
        base_url: str,
        token_source: TokenSource,
        *,
        timeout: float | tuple[float, float] = _http.DEFAULT_TIMEOUT,
        retry: RetryPolicy = RetryPolicy(),
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        verify: bool | str = True,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.base_url = validation.validate_oac_url(base_url)
        if not isinstance(token_source, TokenSource):
            raise OACConfigError(
                "token_source must have get_access_token() and invalidate(access_token), "
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
        self._verify = verify
        self._clock = clock
        self._owns_session = session is None
        if session is None:
            import requests

            session = requests.Session()
        self._session = session

    def __repr__(self) -> str:
        return f"OACClient({self.base_url!r})"

    def __enter__(self) -> OACClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        if self._owns_session:
            self._session.close()

    # --- snapshots ---

    def list_snapshots(self) -> list[Snapshot]:
        """Every snapshot created or registered through the REST API (not Console snapshots)."""
        return protocol.read_snapshots(self._call(protocol.list_snapshots(self.base_url)))

    def get_snapshot(self, snapshot_id: str) -> Snapshot:
        return protocol.read_snapshot(self._call(protocol.get_snapshot(self.base_url, snapshot_id)))

    def find_snapshots(self, name: str) -> list[Snapshot]:
        """The snapshots called exactly ``name``, newest first."""
        name = validation.validate_snapshot_name(name)
        return protocol.snapshots_named(self.list_snapshots(), name)

    def create_snapshot(
        self,
        name: str,
        password: str,
        storage: SnapshotStorageSpec,
        *,
        bar_uri: str | None = None,
        description: str | None = None,
    ) -> Accepted:
        """Start a snapshot into ``storage``. Sent once: on an unclear failure this raises
        OACOutcomeUnknownError; look for the snapshot by name before trying again."""
        request = protocol.create_snapshot(
            self.base_url, name, password, storage, bar_uri=bar_uri, description=description
        )
        return self._accepted(request, "create_snapshot")

    def register_snapshot(
        self, name: str, bar_uri: str, storage: SnapshotStorageSpec, *, password: str | None = None
    ) -> Accepted:
        """Register an existing BAR file in ``storage`` as a snapshot."""
        request = protocol.register_snapshot(self.base_url, name, bar_uri, storage, password=password)
        return self._accepted(request, "register_snapshot")

    def delete_snapshot(self, snapshot_id: str, *, delete_storage: bool = False) -> None:
        """Deregister a snapshot; with ``delete_storage`` also delete its BAR file from the bucket."""
        self._call(protocol.delete_snapshot(self.base_url, snapshot_id, delete_storage=delete_storage))

    def restore_snapshot(self, snapshot_id: str, password: str) -> Accepted:
        """Start restoring the instance from a snapshot. Sent once, like :meth:`create_snapshot`."""
        return self._accepted(
            protocol.restore_snapshot(self.base_url, snapshot_id, password), "restore_snapshot"
        )

    def find_created_snapshot(self, name: str, work_request: WorkRequest) -> Snapshot:
        """The snapshot a SUCCEEDED create work request made: the one its resources name, else
        the newest snapshot called ``name``. Raises OACResponseError when OAC lists none."""
        found = self._created_snapshot_or_none(name, work_request)
        if found is None:
            raise protocol.no_created_snapshot_error(name, work_request)
        return found

    def _created_snapshot_or_none(self, name: str, work_request: WorkRequest) -> Snapshot | None:
        protocol.require_succeeded(work_request)
        snapshot_id = protocol.snapshot_from_work_request(work_request)
        if snapshot_id:
            try:
                return self.get_snapshot(snapshot_id)
            except OACNotFoundError:
                pass  # the resource may name something else than the snapshot: look by name
        return protocol.pick_created_snapshot(self.list_snapshots(), name, work_request)

    # --- work requests and system ---

    def get_work_request(self, work_request_id: str) -> WorkRequest:
        return protocol.read_work_request(
            self._call(protocol.get_work_request(self.base_url, work_request_id))
        )

    def wait_for_work_request(
        self,
        work_request_id: str,
        *,
        poll_interval: float = 10.0,
        timeout: float | None = None,
        on_poll: Callable[[WorkRequest], None] | None = None,
    ) -> WorkRequest:
        """Poll until the work request SUCCEEDED and return it.

        Raises OACWorkRequestFailed (with OAC's error text) when it ends FAILED or CANCELED, and
        OACWorkRequestTimeout once ``timeout`` seconds have passed. ``on_poll`` sees every poll.
        """
        poll_interval = validation.validate_positive_number(poll_interval, "poll_interval")
        deadline = None
        if timeout is not None:
            deadline = self._clock() + validation.validate_positive_number(
                timeout, "timeout", allow_zero=True
            )
        while True:
            work_request = self.get_work_request(work_request_id)
            if on_poll is not None:
                on_poll(work_request)
            if protocol.check_work_request(work_request):
                return work_request
            self._sleep(
                protocol.next_poll_delay(
                    work_request, poll_interval=poll_interval, deadline=deadline, now=self._clock()
                )
            )

    def get_system(self) -> dict[str, Any]:
        """Instance details from ``GET /system``; a cheap check of URL, token and role."""
        return protocol.read_system(self._call(protocol.get_system(self.base_url)))

    # --- transport: executes protocol.call_flow ---

    def _accepted(self, request: _http.HTTPRequest, operation: str) -> Accepted:
        return protocol.read_accepted_or_unknown(self._call(request, operation), operation)

    def _call(self, request: _http.HTTPRequest, operation: str | None = None) -> _http.HTTPResponse:
        flow = protocol.call_flow(request, policy=self._retry, operation=operation)
        return self._run(flow)

    def _run(self, flow: Generator[protocol.Step, Any, _http.HTTPResponse]) -> _http.HTTPResponse:
        reply: Any = None
        error: OACTransportError | None = None
        while True:
            try:
                step = flow.throw(error) if error is not None else flow.send(reply)
            except StopIteration as done:
                return done.value
            reply, error = None, None
            if isinstance(step, protocol.GetToken):
                reply = self._tokens.get_access_token()
            elif isinstance(step, protocol.Send):
                try:
                    reply = _http.send(
                        self._session, step.request, timeout=self._timeout, verify=self._verify
                    )
                except OACTransportError as exc:
                    error = exc
            elif isinstance(step, protocol.InvalidateToken):
                self._tokens.invalidate(step.access_token)
            else:
                self._sleep(step.seconds)


def find_created_snapshot(client: OACClient, name: str, work_request: WorkRequest) -> Snapshot | None:
    """:meth:`OACClient.find_created_snapshot`, but ``None`` instead of an error when OAC lists no
    such snapshot."""
    return client._created_snapshot_or_none(name, work_request)
