"""What a trigger tells the task it resumes: :class:`WaitEvent`.

Airflow stores a trigger's event in its database as a dict (the ``TriggerEvent`` payload) and
hands that dict to ``execute_complete``, possibly after an upgrade of this provider. So the dict
stays the one format on the wire: :meth:`WaitEvent.to_dict` writes exactly the keys earlier
versions wrote, and :meth:`WaitEvent.from_dict` reads any of them (keys it does not know are
ignored). No Airflow import here: operators and the sensor read events without loading triggers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_oac.client.models import WorkRequest

OUTCOME_SUCCEEDED = "succeeded"
OUTCOME_FAILED = "failed"
OUTCOME_TIMEOUT = "timeout"
OUTCOME_ERROR = "error"
#: The login died while waiting (expired, revoked): the task fails without retries.
OUTCOME_LOGIN_REQUIRED = "login_required"

#: The message of a wait that ended without telling why (no event at all).
NO_RESULT = "the trigger ended without a result"

#: The event key (and trigger argument) naming the task's try that deferred: a resume in a later
#: try is a replay (``OACTaskMixin.resume_execution``). Beside the keys of :class:`WaitEvent`.
DEFERRED_IN_TRY = "deferred_in_try"


@dataclass(frozen=True, slots=True)
class WaitEvent:
    """How a wait in the triggerer ended.

    Three kinds, told apart by which fields are set:

    - a finished work request (``work_request_status`` set): :meth:`for_work_request`;
    - a snapshot looked for by name (``snapshot_name`` set): the wait after an unanswered request;
    - a wait for a work request that ended otherwise (timeout, error, dead login): neither.
    """

    status: str
    message: str | None = None
    work_request_id: str | None = None
    snapshot_id: str | None = None
    snapshot_name: str | None = None
    work_request_status: str | None = None
    operation_type: str | None = None

    @classmethod
    def for_work_request(cls, work_request: WorkRequest) -> WaitEvent:
        """The one place that maps a finished work request to the event an operator receives."""
        succeeded = work_request.status.is_success
        return cls(
            status=OUTCOME_SUCCEEDED if succeeded else OUTCOME_FAILED,
            work_request_id=work_request.id,
            work_request_status=work_request.status.value,
            operation_type=work_request.operation_type,
            snapshot_id=work_request.snapshot_id,
            message=None if succeeded else _failure_text(work_request),
        )

    @property
    def succeeded(self) -> bool:
        return self.status == OUTCOME_SUCCEEDED

    @property
    def by_name(self) -> bool:
        """The event of a wait for a snapshot by name (not for a work request)."""
        return self.snapshot_name is not None

    @property
    def reason(self) -> str:
        """The message for a failed task."""
        return self.message or NO_RESULT

    def to_dict(self) -> dict[str, Any]:
        """The event as Airflow stores it: the same keys earlier versions wrote for each kind."""
        data: dict[str, Any] = {"status": self.status}
        if self.snapshot_name is not None:
            data["snapshot_name"] = self.snapshot_name
            if self.succeeded:
                data["snapshot_id"] = self.snapshot_id
        data["work_request_id"] = self.work_request_id
        if self.work_request_status is not None:
            data["work_request_status"] = self.work_request_status
            data["operation_type"] = self.operation_type
            data["snapshot_id"] = self.snapshot_id
        data["message"] = self.message
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> WaitEvent:
        """Read an event as stored by this version or an earlier one; None (no event) is an error."""
        if not data:
            return cls(status=OUTCOME_ERROR)
        return cls(
            status=str(data.get("status")),
            message=data.get("message"),
            work_request_id=data.get("work_request_id"),
            snapshot_id=data.get("snapshot_id"),
            snapshot_name=data.get("snapshot_name"),
            work_request_status=data.get("work_request_status"),
            operation_type=data.get("operation_type"),
        )


def _failure_text(work_request: WorkRequest) -> str:
    detail = work_request.error_text or "OAC gave no error message"
    return f"OAC work request {work_request.id} ended {work_request.status.value}: {detail}"


#: The trigger argument saying the wait's ``timeout`` was cut to what was left of the task's
#: ``execution_timeout`` (Airflow 3.0 to 3.3 do not bound a deferral by it; the operators do).
LIMITED_BY_EXECUTION_TIMEOUT = "execution_timeout"


def stopped_waiting_message(
    why: str,
    *,
    oac_conn_id: str,
    oac_url: str | None = None,
    work_request_id: str | None = None,
    snapshot_name: str | None = None,
) -> str:
    """The one line logged when a wait ends before OAC's work does (a time limit, a kill): OAC has
    no cancel call, so it says what carries on, how to check on it, and that a rerun re-attaches."""
    where = f" on {oac_url}" if oac_url else ""
    if work_request_id is not None:
        api = f"{oac_url.rstrip('/')}/api/20210901/workRequests/{work_request_id}" if oac_url else None
        return (
            f"Stopped waiting for OAC work request {work_request_id}{where} ({why}). OAC has no call to "
            f"cancel it, so it carries on. Check on it with: airflow-oac snapshots wait {work_request_id} "
            f"--conn-id {oac_conn_id}" + (f" (or GET {api})" if api else "") + ". Running this task again "
            "(a retry or a clear) waits for this work request; it does not start the work again."
        )
    return (
        f"Stopped waiting for a snapshot named {snapshot_name!r}{where} ({why}). OAC may be making it "
        f"and has no call to cancel it. Check with: airflow-oac snapshots list --conn-id {oac_conn_id}. "
        "This task's recorded intent stays, so running the task again waits for that name instead of "
        "sending the request again."
    )
