"""One emulated OAC instance: its snapshots, restores and work requests (REST API 20210901).

An instance trusts the tokens of one identity domain (``iam.py``) for its own audience, keeps its
BAR files in an object store (``storage.py``) that other instances may share, and holds some
"content" that a snapshot carries away and a restore brings in: after a restore of another
instance's snapshot, it holds what that instance held.

Work requests progress lazily: every call first settles those whose time has come, applying their
effects in finishing order. Time is the emulator's clock (``common.Clock``).
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_oac.emulator.common import APIProblem, Clock, Counters, rfc3339
from airflow_provider_oac.emulator.config import EmulatorConfig
from airflow_provider_oac.emulator.faults import Fault
from airflow_provider_oac.emulator.iam import IdentityDomain, InvalidAccessToken
from airflow_provider_oac.emulator.snapshot_requests import (
    SNAPSHOT_PASSWORD_MESSAGE,
    bad_request,
    meets_password_rule,
    safe_object_stem,
    validate_snapshot_request,
)
from airflow_provider_oac.emulator.storage import BarObject, BucketKey, ObjectStore
from airflow_provider_oac.validation import version_key

#: The share of a work request's duration spent ACCEPTED before it turns IN_PROGRESS.
ACCEPTED_SHARE = 0.1


@dataclass(slots=True)
class _Snapshot:
    id: str
    name: str
    kind: str  # CREATE | REGISTER
    created_by: str
    bucket: BucketKey
    object_name: str
    storage: dict[str, Any]
    password: str | None = field(repr=False)
    work_request_id: str
    time_created: float | None = None
    #: Listed by OAC only once its work request SUCCEEDED.
    registered: bool = False


@dataclass(slots=True)
class _Restore:
    work_request_id: str
    snapshot_id: str
    snapshot_name: str
    password: str = field(repr=False)
    time_accepted: float
    status: str = "ACCEPTED"
    time_finished: float | None = None


@dataclass(slots=True)
class _WorkRequest:
    id: str
    operation_type: str  # CREATE_SNAPSHOT | RESTORE_SNAPSHOT
    resource_type: str  # SNAPSHOT | SYSTEM
    snapshot_id: str
    time_accepted: float
    finish_at: float
    stuck: bool = False
    forced_failure: tuple[str, str] | None = None
    final_status: str | None = None
    time_finished: float | None = None
    errors: list[dict[str, str]] = field(default_factory=list)

    @property
    def duration(self) -> float:
        return self.finish_at - self.time_accepted


class OACInstance:
    """Snapshots, restores and work requests of one instance.

    ``config`` supplies the audience, the version and the OAC behaviours (``EmulatorConfig``'s OAC
    fields), and by default the name, region and namespace; ``region`` and ``namespace`` fill in a
    snapshot's bucket when its storage names none.
    Methods raise :class:`APIProblem` for error answers.
    """

    def __init__(
        self,
        config: EmulatorConfig,
        *,
        iam: IdentityDomain,
        store: ObjectStore,
        clock: Clock,
        counters: Counters,
        lock: threading.RLock,
        name: str | None = None,
        region: str | None = None,
        namespace: str | None = None,
        content: Any = None,
    ):
        self.config = config
        self.name = name or config.instance_name
        self.region = region or config.region
        self.namespace = namespace or config.namespace
        name = self.name
        #: What the instance holds (catalog, data sets...), as far as snapshots are concerned.
        self.content: Any = content if content is not None else f"the initial content of {name}"
        self.iam = iam
        self.store = store
        self._clock = clock
        self._counters = counters
        self._lock = lock
        self._snapshots: dict[str, _Snapshot] = {}
        self._restores: list[_Restore] = []
        self._work_requests: dict[str, _WorkRequest] = {}
        iam.serve(lambda: self.config.audience)

    def now(self) -> float:
        return self._clock.now()

    def bucket_key(self, bucket: str, region: str | None = None, namespace: str | None = None) -> BucketKey:
        """The bucket as the object store names it; this instance's region and namespace by default."""
        return BucketKey(region or self.region, namespace or self.namespace, bucket)

    # --- authentication --------------------------------------------------------------------------

    def authenticate(self, authorization: str | None) -> str:
        """The user behind a valid bearer token for this instance, or a 401 :class:`APIProblem`."""
        with self._lock:
            try:
                claims = self.iam.access_claims(authorization)
            except InvalidAccessToken as exc:
                raise APIProblem(401, "Unauthorized", str(exc)) from None
            audience = claims.get("aud")
            audiences = audience if isinstance(audience, list) else [audience]
            if self.config.audience not in audiences:
                raise APIProblem(
                    401,
                    "Unauthorized",
                    "The access token was not issued for this Oracle Analytics Cloud instance.",
                )
            return str(claims.get("sub", ""))

    # --- snapshots -------------------------------------------------------------------------------

    def list_snapshots(self) -> list[dict[str, Any]]:
        with self._lock:
            self._settle(self.now())
            return [self._render_snapshot(s) for s in self._snapshots.values() if s.registered]

    def get_snapshot(self, snapshot_id: str) -> dict[str, Any]:
        with self._lock:
            self._settle(self.now())
            return self._render_snapshot(self._registered_snapshot(snapshot_id))

    def _registered_snapshot(self, snapshot_id: str) -> _Snapshot:
        snapshot = self._snapshots.get(snapshot_id)
        if snapshot is None or not snapshot.registered:
            raise APIProblem(404, "NotFound", f"Snapshot {snapshot_id} was not found.")
        return snapshot

    def _render_snapshot(self, snapshot: _Snapshot) -> dict[str, Any]:
        return {
            "id": snapshot.id,
            "name": snapshot.name,
            "createdByUser": snapshot.created_by,
            "timeCreated": rfc3339(snapshot.time_created or 0.0),
            "bar": {"uri": f"file:///{snapshot.object_name}"},
            "storage": snapshot.storage,
        }

    def create_snapshot(self, payload: Any, subject: str, fault: Fault | None) -> str:
        """Validate a CREATE/REGISTER body, start its work request, return the work request id."""
        request = validate_snapshot_request(payload)
        if (
            request.type == "CREATE"
            and self.config.enforce_snapshot_password_rule
            and not meets_password_rule(request.password or "")
        ):
            raise bad_request(SNAPSHOT_PASSWORD_MESSAGE)
        with self._lock:
            now = self.now()
            self._settle(now)
            snapshot_id = str(uuid.uuid4())
            work_request = self._new_work_request("CREATE_SNAPSHOT", "SNAPSHOT", snapshot_id, now, fault)
            object_name = request.object_name or f"{safe_object_stem(request.name)}-{int(now)}.bar"
            self._snapshots[snapshot_id] = _Snapshot(
                id=snapshot_id,
                name=request.name,
                kind=request.type,
                created_by=subject,
                bucket=self.bucket_key(request.bucket, request.region, request.namespace),
                object_name=object_name,
                storage=request.storage,
                password=request.password,
                work_request_id=work_request.id,
            )
            self._counters.add("snapshots_created" if request.type == "CREATE" else "snapshots_registered")
            self._settle(now)
            return work_request.id

    def delete_snapshot(self, snapshot_id: str, delete_storage: bool) -> None:
        with self._lock:
            self._settle(self.now())
            snapshot = self._registered_snapshot(snapshot_id)
            del self._snapshots[snapshot_id]
            if delete_storage:
                self.store.delete(snapshot.bucket, snapshot.object_name)
            self._counters.add("snapshots_deleted")

    def restore_snapshot(self, payload: Any, fault: Fault | None) -> str:
        snapshot_part = payload.get("snapshot") if isinstance(payload, dict) else None
        if not isinstance(snapshot_part, dict):
            raise APIProblem(400, "BadRequest", "The request body must contain a snapshot object.")
        snapshot_id = snapshot_part.get("id")
        password = snapshot_part.get("password")
        if not isinstance(snapshot_id, str) or not snapshot_id:
            raise APIProblem(400, "BadRequest", "snapshot.id is required.")
        if not isinstance(password, str) or not password:
            raise APIProblem(400, "BadRequest", "snapshot.password is required.")
        with self._lock:
            now = self.now()
            self._settle(now)
            snapshot = self._registered_snapshot(snapshot_id)
            work_request = self._new_work_request("RESTORE_SNAPSHOT", "SYSTEM", snapshot_id, now, fault)
            self._restores.append(
                _Restore(
                    work_request_id=work_request.id,
                    snapshot_id=snapshot_id,
                    snapshot_name=snapshot.name,
                    password=password,
                    time_accepted=now,
                )
            )
            self._counters.add("restores_started")
            self._settle(now)
            return work_request.id

    def system(self) -> dict[str, Any]:
        with self._lock:
            now = self.now()
            self._settle(now)
            last = next((r for r in reversed(self._restores) if r.status == "SUCCEEDED"), None)
            # OAC's fields here are unconfirmed: a client must not depend on any of them.
            details: dict[str, Any] = {
                "name": self.name,
                "description": "Local emulator of Oracle Analytics Cloud (REST API 20210901).",
                "apiVersion": "20210901",
                "emulator": True,
                "region": self.region,
                "timeNow": rfc3339(now),
                "lastRestoredSnapshotId": last.snapshot_id if last else None,
            }
            if self.config.system_reports_version:
                details["version"] = self.config.oac_version
            return details

    # --- work requests ---------------------------------------------------------------------------

    def _new_work_request(
        self, operation: str, resource_type: str, snapshot_id: str, now: float, fault: Fault | None
    ) -> _WorkRequest:
        work_request = _WorkRequest(
            id=str(uuid.uuid4()),
            operation_type=operation,
            resource_type=resource_type,
            snapshot_id=snapshot_id,
            time_accepted=now,
            finish_at=now + self.config.work_request_seconds,
        )
        if fault is not None and fault.action == "stuck_work_request":
            work_request.stuck = True
        if fault is not None and fault.action == "fail_work_request":
            work_request.forced_failure = (
                fault.code or "InternalServerError",
                fault.message or "The operation failed (fault injected by the emulator).",
            )
        self._work_requests[work_request.id] = work_request
        self._counters.add("work_requests_created")
        return work_request

    def get_work_request(self, work_request_id: str) -> dict[str, Any]:
        with self._lock:
            now = self.now()
            self._settle(now)
            work_request = self._work_requests.get(work_request_id)
            if work_request is None:
                raise APIProblem(404, "NotFound", f"Work request {work_request_id} was not found.")
            return self._render_work_request(work_request, now)

    def release_work_requests(self) -> int:
        with self._lock:
            now = self.now()
            released = 0
            for work_request in self._work_requests.values():
                if work_request.stuck:
                    work_request.stuck = False
                    work_request.finish_at = max(work_request.finish_at, now)
                    released += 1
            self._settle(now)
            return released

    def work_requests(self) -> list[dict[str, Any]]:
        with self._lock:
            now = self.now()
            self._settle(now)
            return [self._render_work_request(w, now) for w in self._work_requests.values()]

    def _status(self, work_request: _WorkRequest, now: float) -> tuple[str, float]:
        if work_request.final_status is not None:
            return work_request.final_status, 100.0
        elapsed = now - work_request.time_accepted
        duration = max(work_request.duration, 1e-9)
        if elapsed < ACCEPTED_SHARE * duration:
            return "ACCEPTED", 0.0
        percent = min(elapsed / duration * 100.0, 99.0)
        if work_request.stuck:
            percent = min(percent, 50.0)
        return "IN_PROGRESS", round(percent, 1)

    def _render_work_request(self, work_request: _WorkRequest, now: float) -> dict[str, Any]:
        status, percent = self._status(work_request, now)
        if status == "SUCCEEDED":
            action = "UPDATED" if work_request.operation_type == "RESTORE_SNAPSHOT" else "CREATED"
        elif status == "FAILED":
            action = "FAILED"
        else:
            action = "IN_PROGRESS"
        rendered: dict[str, Any] = {
            "id": work_request.id,
            "operationType": work_request.operation_type,
            "status": status,
            "percentComplete": percent,
            "timeAccepted": rfc3339(work_request.time_accepted),
        }
        if status != "ACCEPTED":
            started = work_request.time_accepted + ACCEPTED_SHARE * work_request.duration
            rendered["timeStarted"] = rfc3339(started)
        if work_request.time_finished is not None:
            rendered["timeFinished"] = rfc3339(work_request.time_finished)
        rendered["resourceType"] = work_request.resource_type
        rendered["resources"] = [{"actionResult": action, "id": work_request.snapshot_id, "metadata": {}}]
        if work_request.errors:
            rendered[self.config.work_request_errors_key] = list(work_request.errors)
        return rendered

    def settle(self) -> None:
        """Finish every work request whose time has come (their effects reach the object store)."""
        with self._lock:
            self._settle(self.now())

    def _settle(self, now: float) -> None:
        """Finish every work request whose time has come, in the order they finish."""
        due = sorted(
            (
                w
                for w in self._work_requests.values()
                if w.final_status is None and not w.stuck and w.finish_at <= now
            ),
            key=lambda w: w.finish_at,
        )
        for work_request in due:
            self._finish(work_request, work_request.finish_at)

    def _finish(self, work_request: _WorkRequest, at: float) -> None:
        work_request.time_finished = at
        failure = work_request.forced_failure or self._apply_effects(work_request, at)
        if failure is None:
            work_request.final_status = "SUCCEEDED"
        else:
            work_request.final_status = "FAILED"
            code, message = failure
            work_request.errors = [{"code": code, "message": message, "timestamp": rfc3339(at)}]
            if work_request.operation_type == "CREATE_SNAPSHOT":
                # A failed create or register leaves nothing behind.
                self._snapshots.pop(work_request.snapshot_id, None)
        if work_request.operation_type == "RESTORE_SNAPSHOT":
            for restore in self._restores:
                if restore.work_request_id == work_request.id:
                    restore.status = work_request.final_status
                    restore.time_finished = at

    def _apply_effects(self, work_request: _WorkRequest, at: float) -> tuple[str, str] | None:
        """Do what the work request does; (code, message) when it fails."""
        if work_request.operation_type == "CREATE_SNAPSHOT":
            snapshot = self._snapshots.get(work_request.snapshot_id)
            if snapshot is None:
                return ("NotFound", "The snapshot was removed before its work request finished.")
            if snapshot.kind == "CREATE":
                self.store.put(
                    snapshot.bucket,
                    snapshot.object_name,
                    BarObject(
                        password=snapshot.password,
                        time_created=at,
                        written_by=snapshot.name,
                        content=self.content,
                        version=self.config.oac_version,
                    ),
                )
            else:
                bar = self.store.get(snapshot.bucket, snapshot.object_name)
                if bar is None:
                    return _bar_not_found(snapshot)
                too_new = self._too_new(bar)
                if too_new is not None:
                    return too_new
                if (
                    snapshot.password is not None
                    and bar.password is not None
                    and snapshot.password != bar.password
                ):
                    return ("InvalidPassword", f"The password for snapshot {snapshot.name} is incorrect.")
                if snapshot.password is None:
                    snapshot.password = bar.password
            snapshot.time_created = at
            snapshot.registered = True
            return None
        restore = next(r for r in self._restores if r.work_request_id == work_request.id)
        snapshot = self._snapshots.get(restore.snapshot_id)
        if snapshot is None:
            return ("NotFound", f"Snapshot {restore.snapshot_id} was deleted before the restore ran.")
        bar = self.store.get(snapshot.bucket, snapshot.object_name)
        if bar is None:
            return _bar_not_found(snapshot)
        if restore.password != bar.password:
            return ("InvalidPassword", f"The password for snapshot {snapshot.name} is incorrect.")
        too_new = self._too_new(bar)
        if too_new is not None:
            return too_new
        if bar.content is not None:
            self.content = bar.content
        return None

    def _too_new(self, bar: BarObject) -> tuple[str, str] | None:
        """Oracle's rule: a snapshot restores only on the same or a later OAC version."""
        if bar.version is None:
            return None
        made_on, here = version_key(bar.version), version_key(self.config.oac_version)
        if made_on is None or here is None or made_on <= here:
            return None
        return (
            "SnapshotVersionNotSupported",
            f"The snapshot was taken on Oracle Analytics Cloud version {bar.version}, which is later than "
            f"this instance's version {self.config.oac_version}. A snapshot can only be restored on the "
            "same or a later version.",
        )

    # --- inspection for tests --------------------------------------------------------------------

    def snapshots_info(self) -> list[dict[str, Any]]:
        with self._lock:
            self._settle(self.now())
            result = []
            for snapshot in self._snapshots.values():
                bar_exists = self.store.get(snapshot.bucket, snapshot.object_name) is not None
                result.append(
                    {
                        "id": snapshot.id,
                        "name": snapshot.name,
                        "type": snapshot.kind,
                        "registered": snapshot.registered,
                        "work_request_id": snapshot.work_request_id,
                        "created_by": snapshot.created_by,
                        "time_created": rfc3339(snapshot.time_created) if snapshot.time_created else None,
                        "bucket": snapshot.bucket.bucket,
                        "region": snapshot.bucket.region,
                        "namespace": snapshot.bucket.namespace,
                        "object": snapshot.object_name,
                        "bar_uri": f"file:///{snapshot.object_name}",
                        "bar_exists": bar_exists,
                    }
                )
            return result

    def restores(self) -> list[dict[str, Any]]:
        with self._lock:
            self._settle(self.now())
            return [
                {
                    "work_request_id": r.work_request_id,
                    "snapshot_id": r.snapshot_id,
                    "snapshot_name": r.snapshot_name,
                    "status": r.status,
                    "time_accepted": rfc3339(r.time_accepted),
                    "time_finished": rfc3339(r.time_finished) if r.time_finished else None,
                }
                for r in self._restores
            ]


def _bar_not_found(snapshot: _Snapshot) -> tuple[str, str]:
    return (
        "BarFileNotFound",
        f"The snapshot BAR file {snapshot.object_name} was not found in bucket {snapshot.bucket.bucket}.",
    )
