"""Waiting for an OAC work request in the triggerer (async, httpx), so no worker slot is held.

The trigger shares the sync path's rules: the same protocol parsing, the same token store (one
refresh per connection for every trigger of the process), the same terminal states.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_oac.errors import OACError, OACLoginRequired
from airflow_provider_oac.hooks.oac import OACHook
from airflow_provider_oac.triggers.events import (
    DEFERRED_IN_TRY,
    LIMITED_BY_EXECUTION_TIMEOUT,
    OUTCOME_ERROR,
    OUTCOME_FAILED,
    OUTCOME_LOGIN_REQUIRED,
    OUTCOME_SUCCEEDED,
    OUTCOME_TIMEOUT,
    WaitEvent,
    stopped_waiting_message,
)

__all__ = [
    "OUTCOME_ERROR",
    "OUTCOME_FAILED",
    "OUTCOME_LOGIN_REQUIRED",
    "OUTCOME_SUCCEEDED",
    "OUTCOME_TIMEOUT",
    "OACSnapshotNameTrigger",
    "OACWorkRequestTrigger",
    "WaitEvent",
    "unanswered_request_message",
]


class _PollingTrigger(BaseTrigger):
    """Polls OAC every ``poll_interval`` seconds until :meth:`poll` returns an event, the timeout
    passes, or OAC or IAM fails for good. Subclasses say what to ask and what the answer means.

    ``deferred_in_try``: the task's try that deferred, sent back in the event (the operators set
    it, :meth:`~airflow_provider_oac.operators._base.OACTaskMixin.defer_to_trigger`).
    ``limited_by``: ``"execution_timeout"`` when the operator cut ``timeout`` to what was left of
    the task's ``execution_timeout`` (for the message). The last poll waits only until the timeout,
    so the wait ends on time, not up to ``poll_interval`` later."""

    def __init__(
        self,
        oac_conn_id: str = "oac_default",
        poll_interval: float = 10.0,
        timeout: float | None = None,
        started_at: float | None = None,
        deferred_in_try: int | None = None,
        limited_by: str | None = None,
    ):
        super().__init__()
        self.oac_conn_id = oac_conn_id
        self.poll_interval = float(poll_interval)
        self.timeout = None if timeout is None else float(timeout)
        self.started_at = time.time() if started_at is None else float(started_at)
        self.deferred_in_try = deferred_in_try
        self.limited_by = limited_by
        self._oac_url: str | None = None

    def _common_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "oac_conn_id": self.oac_conn_id,
            "poll_interval": self.poll_interval,
            "timeout": self.timeout,
            "started_at": self.started_at,
        }
        if self.deferred_in_try is not None:  # else the kwargs earlier versions serialized
            kwargs[DEFERRED_IN_TRY] = self.deferred_in_try
        if self.limited_by is not None:
            kwargs["limited_by"] = self.limited_by
        return kwargs

    def timeout_text(self) -> str:
        """How long the wait was allowed, for the timeout message."""
        if self.limited_by == LIMITED_BY_EXECUTION_TIMEOUT:
            return f"the task's execution_timeout ({self.timeout:.0f} s were left when it deferred)"
        return f"{self.timeout:.0f} s"

    def stopped_message(self, why: str) -> str:
        """The line logged when this wait ends before OAC's work (see :func:`stopped_waiting_message`)."""
        raise NotImplementedError

    async def on_kill(self) -> None:
        """Airflow 3.3+: a person marked the deferred task failed or success, or cleared it. OAC
        has no cancel call: say so, and how to check on the work; the task's record stays."""
        self.log.warning("%s", self.stopped_message("the task was stopped by a user while deferred"))

    def _payload(self, event: WaitEvent) -> dict[str, Any]:
        payload = event.to_dict()
        if self.deferred_in_try is not None:
            payload[DEFERRED_IN_TRY] = self.deferred_in_try
        return payload

    async def poll(self, client: Any) -> WaitEvent | None:
        """One look at OAC: the event to send when the wait is over, else None."""
        raise NotImplementedError

    def timeout_event(self) -> WaitEvent:
        raise NotImplementedError

    def error_event(self, status: str, message: str) -> WaitEvent:
        raise NotImplementedError

    async def run(self) -> AsyncIterator[TriggerEvent]:
        hook = OACHook(self.oac_conn_id)
        try:
            # Reads the connection and the lock connection off the event loop, as this Airflow's
            # triggerer comms need (OACHook.aget_async_client).
            async with await hook.aget_async_client() as client:
                self._oac_url = hook.config.oac_url  # read above: no I/O
                # Triggers that start together (many tasks deferring at once, a triggerer restart)
                # would poll together at every interval; a random first wait spreads them out.
                jitter = random.uniform(0, self.poll_interval)  # noqa: S311 - jitter, not a secret
                if self.timeout is not None:  # never past the timeout
                    jitter = min(jitter, max(0.0, self.started_at + self.timeout - time.time()))
                await asyncio.sleep(jitter)
                while True:
                    event = await self.poll(client)
                    if event is not None:
                        yield TriggerEvent(self._payload(event))
                        return
                    left = None if self.timeout is None else self.started_at + self.timeout - time.time()
                    if left is not None and left <= 0:
                        self.log.warning("%s", self.stopped_message(f"it passed {self.timeout_text()}"))
                        yield TriggerEvent(self._payload(self.timeout_event()))
                        return
                    # Poll once more at the timeout itself, not up to poll_interval after it.
                    await asyncio.sleep(self.poll_interval if left is None else min(self.poll_interval, left))
        except OACError as exc:
            dead_login = isinstance(exc, OACLoginRequired)
            status = OUTCOME_LOGIN_REQUIRED if dead_login else OUTCOME_ERROR
            yield TriggerEvent(self._payload(self.error_event(status, str(exc))))


class OACWorkRequestTrigger(_PollingTrigger):
    """Polls ``GET /workRequests/{id}`` every ``poll_interval`` seconds until it ends."""

    def __init__(
        self,
        work_request_id: str,
        oac_conn_id: str = "oac_default",
        poll_interval: float = 10.0,
        timeout: float | None = None,
        started_at: float | None = None,
        deferred_in_try: int | None = None,
        limited_by: str | None = None,
    ):
        super().__init__(oac_conn_id, poll_interval, timeout, started_at, deferred_in_try, limited_by)
        self.work_request_id = work_request_id

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {"work_request_id": self.work_request_id, **self._common_kwargs()},
        )

    async def poll(self, client: Any) -> WaitEvent | None:
        work_request = await client.get_work_request(self.work_request_id)
        self.log.info(
            "Work request %s: %s (%s%%)",
            work_request.id,
            work_request.status.value,
            "?" if work_request.percent_complete is None else f"{work_request.percent_complete:.0f}",
        )
        return WaitEvent.for_work_request(work_request) if work_request.status.is_terminal else None

    def timeout_event(self) -> WaitEvent:
        return self.error_event(
            OUTCOME_TIMEOUT,
            f"OAC work request {self.work_request_id} did not finish within {self.timeout_text()} (OAC cannot "
            f"cancel it; it may still finish). Check on it with: airflow-oac snapshots wait "
            f"{self.work_request_id} --conn-id {self.oac_conn_id}; running the task again waits for it.",
        )

    def stopped_message(self, why: str) -> str:
        return stopped_waiting_message(
            why, oac_conn_id=self.oac_conn_id, oac_url=self._oac_url, work_request_id=self.work_request_id
        )

    def error_event(self, status: str, message: str) -> WaitEvent:
        return WaitEvent(status=status, work_request_id=self.work_request_id, message=message)


def unanswered_request_message(operation: str, name: str) -> str:
    """Why a task gave up waiting for a snapshot OAC may or may not have started (sync and deferred)."""
    return (
        f"OAC gave no answer to the request to {operation} snapshot {name!r} and no snapshot of that name "
        "appeared in time; no second request was sent. Check OAC before running the task again."
    )


class OACSnapshotNameTrigger(_PollingTrigger):
    """Polls the snapshot list until a snapshot called ``snapshot_name`` is there: the wait after a
    create whose request got no answer (OAC may or may not have accepted it; it is never sent again)."""

    def __init__(
        self,
        snapshot_name: str,
        operation: str = "create",
        oac_conn_id: str = "oac_default",
        poll_interval: float = 10.0,
        timeout: float | None = None,
        started_at: float | None = None,
        deferred_in_try: int | None = None,
        limited_by: str | None = None,
    ):
        super().__init__(oac_conn_id, poll_interval, timeout, started_at, deferred_in_try, limited_by)
        self.snapshot_name = snapshot_name
        self.operation = operation

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {"snapshot_name": self.snapshot_name, "operation": self.operation, **self._common_kwargs()},
        )

    async def poll(self, client: Any) -> WaitEvent | None:
        snapshots = await client.find_snapshots(self.snapshot_name)
        if not snapshots:
            self.log.info("No snapshot named %r yet.", self.snapshot_name)
            return None
        return WaitEvent(
            status=OUTCOME_SUCCEEDED, snapshot_name=self.snapshot_name, snapshot_id=snapshots[0].id
        )

    def timeout_event(self) -> WaitEvent:
        return self.error_event(
            OUTCOME_TIMEOUT, unanswered_request_message(self.operation, self.snapshot_name)
        )

    def stopped_message(self, why: str) -> str:
        return stopped_waiting_message(
            why, oac_conn_id=self.oac_conn_id, oac_url=self._oac_url, snapshot_name=self.snapshot_name
        )

    def error_event(self, status: str, message: str) -> WaitEvent:
        return WaitEvent(status=status, snapshot_name=self.snapshot_name, message=message)
