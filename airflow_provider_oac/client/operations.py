"""Every OAC operation as a step generator: the rules of the client, without I/O.

Each method of :class:`Operations` returns a *flow* (see :mod:`airflow_provider_oac._http`) that
yields :data:`~airflow_provider_oac.client.protocol.Step` values and returns the typed result.
:class:`~airflow_provider_oac.client.sync.OACClient` runs the flows with requests and
:class:`~airflow_provider_oac.client.aio.AsyncOACClient` with httpx: the two differ only in how
they execute a step, so waiting for a work request or finding a created snapshot cannot drift
between the hook and the trigger.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any, TypeVar

from airflow_provider_oac import validation
from airflow_provider_oac._http import HTTPRequest, HTTPResponse, Now, Sleep
from airflow_provider_oac.client import protocol
from airflow_provider_oac.client.models import Accepted, Snapshot, SnapshotStorageSpec, WorkRequest
from airflow_provider_oac.client.protocol import RetryPolicy, Step
from airflow_provider_oac.errors import OACConfigError, OACNotFoundError

_T = TypeVar("_T")
#: A flow of client steps that returns a ``_T``.
Flow = Generator[Step, Any, _T]


class Operations:
    """OAC's snapshot, restore and work-request API at ``base_url``, as flows.

    Checks its arguments at once (``base_url``, ``verify``: the one-line error comes before any
    client is built); each flow checks its own arguments before its first request.
    """

    def __init__(self, base_url: str, retry: RetryPolicy, *, verify: bool | str = True):
        self.base_url = validation.validate_oac_url(base_url)
        if verify is False:
            raise OACConfigError(
                "TLS verification cannot be turned off: pass verify=True or a CA bundle path."
            )
        self.retry = retry

    def __repr__(self) -> str:
        return f"Operations({self.base_url!r})"

    def call(self, request: HTTPRequest, operation: str | None = None) -> Flow[HTTPResponse]:
        """One API call with token, retries and the one refresh on 401 (:func:`protocol.call_flow`)."""
        return protocol.call_flow(request, policy=self.retry, operation=operation)

    # --- snapshots ---

    def list_snapshots(self) -> Flow[list[Snapshot]]:
        return protocol.read_snapshots((yield from self.call(protocol.list_snapshots(self.base_url))))

    def get_snapshot(self, snapshot_id: str) -> Flow[Snapshot]:
        request = protocol.get_snapshot(self.base_url, snapshot_id)
        return protocol.read_snapshot((yield from self.call(request)))

    def find_snapshots(self, name: str) -> Flow[list[Snapshot]]:
        name = validation.validate_snapshot_name(name)
        return protocol.snapshots_named((yield from self.list_snapshots()), name)

    def create_snapshot(
        self,
        name: str,
        password: str,
        storage: SnapshotStorageSpec,
        *,
        bar_uri: str | None = None,
        description: str | None = None,
    ) -> Flow[Accepted]:
        request = protocol.create_snapshot(
            self.base_url, name, password, storage, bar_uri=bar_uri, description=description
        )
        return (yield from self._accepted(request, "create_snapshot"))

    def register_snapshot(
        self, name: str, bar_uri: str, storage: SnapshotStorageSpec, *, password: str | None = None
    ) -> Flow[Accepted]:
        request = protocol.register_snapshot(self.base_url, name, bar_uri, storage, password=password)
        return (yield from self._accepted(request, "register_snapshot"))

    def delete_snapshot(self, snapshot_id: str, *, delete_storage: bool = False) -> Flow[None]:
        request = protocol.delete_snapshot(self.base_url, snapshot_id, delete_storage=delete_storage)
        yield from self.call(request)

    def restore_snapshot(self, snapshot_id: str, password: str) -> Flow[Accepted]:
        request = protocol.restore_snapshot(self.base_url, snapshot_id, password)
        return (yield from self._accepted(request, "restore_snapshot"))

    def created_snapshot(self, name: str, work_request: WorkRequest) -> Flow[Snapshot | None]:
        """The snapshot a SUCCEEDED create work request made: the one its resources name, else
        the newest called ``name`` that is not older than the work request; None if OAC lists
        none. Raises OACConfigError for a work request that did not succeed."""
        protocol.require_succeeded(work_request)
        snapshot_id = protocol.snapshot_from_work_request(work_request)
        if snapshot_id:
            try:
                return (yield from self.get_snapshot(snapshot_id))
            except OACNotFoundError:
                pass  # the resource may name something else than the snapshot: look by name
        return protocol.pick_created_snapshot((yield from self.list_snapshots()), name, work_request)

    def find_created_snapshot(self, name: str, work_request: WorkRequest) -> Flow[Snapshot]:
        """:meth:`created_snapshot`, raising OACResponseError when OAC lists no such snapshot."""
        found = yield from self.created_snapshot(name, work_request)
        if found is None:
            raise protocol.no_created_snapshot_error(name, work_request)
        return found

    # --- work requests and system ---

    def get_work_request(self, work_request_id: str) -> Flow[WorkRequest]:
        request = protocol.get_work_request(self.base_url, work_request_id)
        return protocol.read_work_request((yield from self.call(request)))

    def wait_for_work_request(
        self,
        work_request_id: str,
        *,
        poll_interval: float = 10.0,
        timeout: float | None = None,
        on_poll: Callable[[WorkRequest], None] | None = None,
    ) -> Flow[WorkRequest]:
        """Poll until the work request SUCCEEDED and return it. :class:`Now` is a monotonic clock.

        Raises OACWorkRequestFailed (with OAC's error text) when it ends FAILED or CANCELED, and
        OACWorkRequestTimeout once ``timeout`` seconds have passed. ``on_poll`` sees every poll.
        """
        poll_interval = validation.validate_positive_number(poll_interval, "poll_interval")
        deadline = None
        if timeout is not None:
            timeout = validation.validate_positive_number(timeout, "timeout", allow_zero=True)
            deadline = (yield Now()) + timeout
        while True:
            work_request = yield from self.get_work_request(work_request_id)
            if on_poll is not None:
                on_poll(work_request)
            if protocol.check_work_request(work_request):
                return work_request
            now = yield Now()
            yield Sleep(
                protocol.next_poll_delay(
                    work_request, poll_interval=poll_interval, deadline=deadline, now=now
                )
            )

    def get_system(self) -> Flow[dict[str, Any]]:
        return protocol.read_system((yield from self.call(protocol.get_system(self.base_url))))

    def _accepted(self, request: HTTPRequest, operation: str) -> Flow[Accepted]:
        return protocol.read_accepted_or_unknown((yield from self.call(request, operation)), operation)
