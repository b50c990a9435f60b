"""The synchronous OAC client (``requests``), used by the hook and the CLI."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

import requests

from airflow_provider_oac import _http
from airflow_provider_oac.client import protocol
from airflow_provider_oac.client.auth import TokenSource
from airflow_provider_oac.client.models import Accepted, Snapshot, SnapshotStorageSpec, WorkRequest
from airflow_provider_oac.client.operations import Flow, Operations
from airflow_provider_oac.client.protocol import RetryPolicy
from airflow_provider_oac.errors import OACConfigError

_T = TypeVar("_T")


class OACClient:
    """OAC's snapshot, restore and work-request API, with typed results and safe retries.

    ``token_source`` gives a bearer token for every attempt; when OAC answers 401 the client
    invalidates that token and retries once with a fresh one. GET and DELETE are retried on
    transport failures, 429 and 5xx; create, register and restore only when OAC certainly did not
    act on them, else they raise :class:`~airflow_provider_oac.errors.OACOutcomeUnknownError`.

    Every method runs a flow of :class:`~airflow_provider_oac.client.operations.Operations`,
    where the rules live. Use as a context manager, or call :meth:`close`. A ``session`` passed
    in is not closed.
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
        self._operations = Operations(base_url, retry, verify=verify)
        self.base_url = self._operations.base_url
        if not isinstance(token_source, TokenSource):
            raise OACConfigError(
                "token_source must have get_access_token() and invalidate(access_token), "
                f"not {type(token_source).__name__}."
            )
        self._tokens = token_source
        self._timeout = timeout
        self._sleep = sleep
        self._verify = verify
        self._clock = clock
        self._owns_session = session is None
        if session is None:
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
        return self._run(self._operations.list_snapshots())

    def get_snapshot(self, snapshot_id: str) -> Snapshot:
        return self._run(self._operations.get_snapshot(snapshot_id))

    def find_snapshots(self, name: str) -> list[Snapshot]:
        """The snapshots called exactly ``name``, newest first."""
        return self._run(self._operations.find_snapshots(name))

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
        flow = self._operations.create_snapshot(
            name, password, storage, bar_uri=bar_uri, description=description
        )
        return self._run(flow)

    def register_snapshot(
        self, name: str, bar_uri: str, storage: SnapshotStorageSpec, *, password: str | None = None
    ) -> Accepted:
        """Register an existing BAR file in ``storage`` as a snapshot."""
        return self._run(self._operations.register_snapshot(name, bar_uri, storage, password=password))

    def delete_snapshot(self, snapshot_id: str, *, delete_storage: bool = False) -> None:
        """Deregister a snapshot; with ``delete_storage`` also delete its BAR file from the bucket."""
        self._run(self._operations.delete_snapshot(snapshot_id, delete_storage=delete_storage))

    def restore_snapshot(self, snapshot_id: str, password: str) -> Accepted:
        """Start restoring the instance from a snapshot. Sent once, like :meth:`create_snapshot`."""
        return self._run(self._operations.restore_snapshot(snapshot_id, password))

    def find_created_snapshot(self, name: str, work_request: WorkRequest) -> Snapshot:
        """The snapshot a SUCCEEDED create work request made: the one its resources name, else
        the newest snapshot called ``name``. Raises OACResponseError when OAC lists none."""
        return self._run(self._operations.find_created_snapshot(name, work_request))

    # --- work requests and system ---

    def get_work_request(self, work_request_id: str) -> WorkRequest:
        return self._run(self._operations.get_work_request(work_request_id))

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
        flow = self._operations.wait_for_work_request(
            work_request_id, poll_interval=poll_interval, timeout=timeout, on_poll=on_poll
        )
        return self._run(flow)

    def get_system(self) -> dict[str, Any]:
        """Instance details from ``GET /system``; a cheap check of URL, token and role."""
        return self._run(self._operations.get_system())

    # --- transport: executes the steps of the flows ---

    def _run(self, flow: Flow[_T]) -> _T:
        return _http.run_flow(flow, self._execute)

    def _execute(self, step: protocol.Step) -> Any:
        if isinstance(step, _http.Send):
            return _http.send(self._session, step.request, timeout=self._timeout, verify=self._verify)
        if isinstance(step, protocol.GetToken):
            return self._tokens.get_access_token()
        if isinstance(step, protocol.InvalidateToken):
            return self._tokens.invalidate(step.access_token)
        if isinstance(step, _http.Now):
            return self._clock()
        return self._sleep(step.seconds)


def find_created_snapshot(client: OACClient, name: str, work_request: WorkRequest) -> Snapshot | None:
    """:meth:`OACClient.find_created_snapshot`, but ``None`` instead of an error when OAC lists no
    such snapshot."""
    return client._run(client._operations.created_snapshot(name, work_request))
