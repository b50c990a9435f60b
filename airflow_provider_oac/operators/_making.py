"""Make a snapshot of a given name once, and re-attach to it: the one implementation behind the
create and register operators and the restore operator's safety snapshot.

Persist before acting: the intent (operation and name) is recorded before the POST, the work
request id the moment OAC accepts. A later try that finds the record waits for that work request;
one that finds only the intent (the POST got no answer, the write after it failed, the worker
died) waits for a snapshot of that name to appear. Neither posts again. Either wait runs in the
worker, or in the triggerer when the operator is deferrable.

Loaded in ``execute`` only, never when a DAG is parsed: hence the imports at the top.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow_provider_oac.client.sync import find_created_snapshot
from airflow_provider_oac.errors import OACError, OACOutcomeUnknownError
from airflow_provider_oac.triggers.events import WaitEvent
from airflow_provider_oac.triggers.work_request import OACSnapshotNameTrigger, unanswered_request_message

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_oac.client.models import Accepted
    from airflow_provider_oac.operators._base import OACBaseOperator, WorkRecord

#: How long to wait for the snapshot of an unanswered request when the operator has no ``timeout``.
UNANSWERED_WAIT_SECONDS = 3600.0


@dataclass
class SnapshotStep:
    """One snapshot to make (or re-attach to) for ``operator``'s task instance.

    :param name: the snapshot's name.
    :param operation: the work record's ``operation``; a later try re-attaches only to a record of
        the same operation and name.
    :param verb: what the request does, for messages: ``"create"``, ``"register"``, ``"take safety"``.
    :param post: sends the one request that makes the snapshot.
    :param work: more fields of the work record (the restore's target).
    :param made_key: None: the record is deleted once the snapshot is there (the task is done);
        else the snapshot's id is recorded under this key (the task goes on to another step).
    :param push_work_request_id: push the work request id to XCom (``work_request_id``).
    :param failure_prefix: put before the messages of the failures this step raises.
    :param made_message: logged once the snapshot is there (``%r`` the name, ``%s`` the id).
    """

    operator: OACBaseOperator
    context: Context
    name: str
    operation: str
    verb: str
    post: Callable[[], Accepted]
    work: dict[str, Any] = field(default_factory=dict)
    made_key: str | None = None
    push_work_request_id: bool = True
    failure_prefix: str = ""
    made_message: str = "Snapshot %r made: id %s."

    @cached_property
    def record(self) -> WorkRecord:
        return self.operator.work_record(self.context)

    def owns(self, record: dict[str, Any] | None) -> bool:
        """Whether ``record`` is this step's (the same operation and name)."""
        return (
            record is not None
            and record.get("operation") == self.operation
            and record.get("name") == self.name
        )

    def run(
        self, previous: dict[str, Any] | None, existing: Callable[[], str | None], *, wait: bool = True
    ) -> str | None:
        """The snapshot's id: made now, made by an earlier try, or what ``existing`` returns (a
        snapshot already there, before any intent is recorded; it raises to refuse one). None
        without ``wait``. Defers when deferrable (then :meth:`resume` follows).

        ``previous`` is the task's work record as read before."""
        log = self.operator.log
        if previous is not None and self.owns(previous):
            work_request_id = previous.get("work_request_id")
            if work_request_id is None:
                # An earlier try recorded its intent but no work request: its POST got no answer,
                # the record write after it failed, or the worker died. Never post again.
                return self.await_by_name()
            log.info(
                "Re-attaching to work request %s (%s snapshot %r) from an earlier try: no new snapshot.",
                work_request_id,
                self.verb,
                self.name,
            )
        else:
            found = existing()
            if found is not None:
                return found
            # Persist before acting (if this write fails, nothing is sent and the try fails).
            self.record.intend(f"{self.verb} snapshot {self.name!r}", **self._fields())
            try:
                accepted = self.post()
            except OACOutcomeUnknownError as exc:
                # OAC may have accepted it: the intent stays; wait for a snapshot of that name.
                log.warning("%s Waiting for a snapshot named %r instead of posting again.", exc, self.name)
                return self.await_by_name()
            except OACError:
                self.record.clear()  # OAC answered no, or never got it: nothing to wait for
                raise
            work_request_id = accepted.work_request_id
            self.record.accepted(log, **self._fields(), work_request_id=work_request_id)
            log.info(
                "OAC accepted the request to %s snapshot %r: work request %s.",
                self.verb,
                self.name,
                work_request_id,
            )
        if self.push_work_request_id:
            self.context["ti"].xcom_push(key="work_request_id", value=work_request_id)
        if not wait:
            return None
        self.operator.wait(self.context, work_request_id)  # defers when deferrable
        return self._made(self._created(work_request_id))

    def resume(self, event: WaitEvent) -> str:
        """After the deferred wait (for the work request, or for the name): the snapshot's id."""
        if not event.succeeded:
            if event.by_name:
                # The intent stays, so say how to get out of waiting again.
                event = dataclasses.replace(event, message=f"{event.reason} {self.way_out()}")
            self.operator.raise_unless_succeeded(self.context, event, self.failure_prefix)
        if event.by_name and event.snapshot_id:
            self.operator.log.info("Snapshot %r appeared: id %s.", self.name, event.snapshot_id)
            return self._made(event.snapshot_id)
        work_request_id = str(event.work_request_id)
        self.operator.log.info("Work request %s succeeded.", work_request_id)
        self.operator._remember_snapshot(work_request_id, event.snapshot_id)
        return self._made(self._created(work_request_id))

    def await_by_name(self) -> str:
        """Wait, in the worker or deferred, for a snapshot called ``name``: OAC may or may not be
        making one (its answer was lost). The request is never sent again. Waits ``timeout``, or
        :data:`UNANSWERED_WAIT_SECONDS` when the operator has none."""
        operator = self.operator
        timeout = operator.timeout or UNANSWERED_WAIT_SECONDS
        if operator.deferrable:
            operator.log.info("Deferring: the triggerer waits for a snapshot named %r.", self.name)
            operator.defer_to_trigger(
                self.context,
                OACSnapshotNameTrigger(
                    snapshot_name=self.name,
                    operation=self.verb,
                    oac_conn_id=operator.oac_conn_id,
                    poll_interval=operator.poll_interval,
                    timeout=timeout,
                ),
                timeout=timedelta(seconds=timeout + 2 * operator.poll_interval),
            )
        deadline = time.monotonic() + timeout
        with operator.waiting_in_worker(snapshot_name=self.name):
            while True:
                snapshots = operator.hook.find_snapshots(self.name)
                if snapshots:
                    operator.log.info("Snapshot %r appeared: id %s.", self.name, snapshots[0].id)
                    return self._made(snapshots[0].id)
                if time.monotonic() >= deadline:
                    raise OACError(
                        f"{self.failure_prefix}{unanswered_request_message(self.verb, self.name)} "
                        f"{self.way_out()}"
                    )
                time.sleep(operator.poll_interval)

    def way_out(self) -> str:
        """How to run the work again on purpose: the recorded intent makes every new try (a retry
        or a cleared task) wait for the snapshot again instead of posting."""
        return (
            "Until this task's work record is deleted, running the task again only waits again: if OAC "
            f"shows no such snapshot, {self.record.how_to_clear(self.context['ti'])}, then clear the task."
        )

    def _fields(self) -> dict[str, Any]:
        return {"operation": self.operation, "name": self.name, **self.work}

    def _created(self, work_request_id: str) -> str:
        """The id of the snapshot a succeeded work request made. None listed: the record stays, so
        a retry looks again instead of posting again."""
        operator = self.operator
        # The wait already saw the finished work request; ask OAC again only if it named no snapshot.
        snapshot_id = operator.reported_snapshot_id(work_request_id)
        if snapshot_id is None:
            work_request = operator.hook.get_work_request(work_request_id)
            snapshot_id = work_request.snapshot_id
            if snapshot_id is None:
                snapshot = find_created_snapshot(operator.hook.client, self.name, work_request)
                snapshot_id = snapshot.id if snapshot else None
        if snapshot_id is None:
            raise OACError(
                f"{self.failure_prefix}Work request {work_request_id} succeeded but no snapshot named "
                f"{self.name!r} is listed."
            )
        return snapshot_id

    def _made(self, snapshot_id: str) -> str:
        """The snapshot is there: nothing left to re-attach to."""
        self.operator.log.info(self.made_message, self.name, snapshot_id)
        if self.made_key is None:
            self.record.clear()
        else:
            self.record.set(**self._fields(), **{self.made_key: snapshot_id})
        return snapshot_id
