"""Copy a snapshot from one OAC instance to another: the environment refresh (PROD -> TEST) and
the DR drill (primary -> standby). One implementation, driven by the copy operator
(:class:`~airflow_provider_oac.operators.copy.OACCopySnapshotOperator`) and by
``airflow-oac snapshots copy``.

The steps, each recorded in a journal before and after it acts:

1. check the OAC versions (``GET /system`` on both; its fields are unconfirmed, so a missing
   version only warns);
2. the snapshot on the source: made now (a CREATE), or an existing one by id or name;
3. its BAR file REGISTERed on the target (with the bucket's region and namespace when known);
4. optionally a safety snapshot of the target;
5. the restore on the target;
6. the temporary registration removed from the target; optionally the BAR file deleted.

Persist before acting, as the create and restore operators do: a POST's intent is journalled
before it is sent and its work request id the moment OAC accepts. A later run with the same
journal (an Airflow retry, or the task re-run after a crash) re-attaches: it waits for the
recorded work request, or, when only the intent is there (the answer was lost), for a snapshot
of that name to appear. It never sends the same POST twice. A restore whose answer was lost is
never sent again: a person checks the target (OAC cannot list work requests).

The two instances are two hooks on two connections: two logins, two token stores, possibly two
identity domains. No Airflow import here: the operator journals in its work record, the CLI in
memory.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from airflow_provider_oac.client.sync import find_created_snapshot
from airflow_provider_oac.errors import (
    OACAuthError,
    OACConfigError,
    OACCopyNeedsAPerson,
    OACError,
    OACNotFoundError,
    OACOutcomeUnknownError,
    OACWorkRequestFailed,
)
from airflow_provider_oac.validation import validate_resource_id, version_key

if TYPE_CHECKING:
    from airflow_provider_oac.client.models import Accepted, Snapshot
    from airflow_provider_oac.hooks.oac import OACHook

#: The fields of ``GET /system`` that may carry OAC's version. All unconfirmed: OAC's reference
#: lists no fields for this call; the emulator sends ``version``.
VERSION_FIELDS = ("version", "serviceVersion", "productVersion", "oacVersion", "analyticsVersion")

#: How long to wait for the snapshot of an unanswered POST when no timeout is given.
UNANSWERED_WAIT_SECONDS = 3600.0


class Journal(Protocol):
    """Where a copy keeps its progress across tries: ``get`` the record (None: none), ``put`` it
    whole (raising if it cannot), ``clear`` it."""

    def get(self) -> dict[str, Any] | None: ...

    def put(self, record: dict[str, Any]) -> None: ...

    def clear(self) -> None: ...


class MemoryJournal:
    """A journal that lives as long as the process (the CLI: one run, no retries)."""

    def __init__(self) -> None:
        self.record: dict[str, Any] | None = None

    def get(self) -> dict[str, Any] | None:
        return None if self.record is None else dict(self.record)

    def put(self, record: dict[str, Any]) -> None:
        self.record = dict(record)

    def clear(self) -> None:
        self.record = None


@dataclass
class CopyResult:
    """What a copy did; ``as_dict`` is its JSON form (XCom, ``--json``, the asset event)."""

    source_url: str
    target_url: str
    source_snapshot_id: str
    source_snapshot_name: str
    bar_uri: str
    registered_snapshot_id: str
    registered_snapshot_name: str
    restore_work_request_id: str
    safety_snapshot_id: str | None = None
    source_version: str | None = None
    target_version: str | None = None
    registration_removed: bool = False
    bar_deleted: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


@dataclass
class SnapshotCopy:
    """One copy from ``source`` to ``target`` (two hooks, two connections).

    :param snapshot_name: the snapshot to make on the source (a CREATE), or, with
        ``use_existing``, the existing snapshot to copy (the newest of that name).
    :param snapshot_id: copy this existing snapshot of the source instead.
    :param password: the BAR file's password (also the safety snapshot's).
    :param registered_name: its name on the target (default: the source snapshot's name).
    :param safety_snapshot_name: take a snapshot of the target under this name before the restore.
    :param keep_registration: leave the target's registration of the BAR in place.
    :param delete_bar: delete the source snapshot and its BAR file at the end (only one this copy
        made: an existing snapshot is never deleted).
    :param bucket: the source's bucket for a new snapshot (default: the source connection's).
    """

    source: OACHook
    target: OACHook
    journal: Journal
    password: str = field(repr=False)
    log: Any
    snapshot_name: str | None = None
    snapshot_id: str | None = None
    use_existing: bool = False
    registered_name: str | None = None
    safety_snapshot_name: str | None = None
    keep_registration: bool = False
    delete_bar: bool = False
    bucket: str | None = None
    poll_interval: float = 10.0
    timeout: float | None = None
    on_progress: Callable[[str], None] | None = None

    def __post_init__(self) -> None:
        if (self.snapshot_id is None) == (self.snapshot_name is None):
            raise OACConfigError(
                "Name the source snapshot: pass exactly one of snapshot_name or snapshot_id."
            )
        if self.snapshot_id is not None:
            self.use_existing = True
        if self.delete_bar and self.use_existing:
            raise OACConfigError(
                "delete_bar deletes the snapshot the copy made on the source; an existing snapshot is "
                "never deleted by a copy (delete it with the delete operator or airflow-oac snapshots delete)."
            )
        if self.source.oac_conn_id == self.target.oac_conn_id:
            raise OACConfigError(
                f"The source and target are the same connection ({self.source.oac_conn_id!r}): a copy goes "
                "from one instance to another; to restore an instance from its own snapshot, use the restore "
                "operator (the rollback example)."
            )

    # --- the whole copy --------------------------------------------------------------------------

    def run(self) -> CopyResult:
        record = self.journal.get() or {}
        if record.get("operation") != "copy" or record.get("key") != self._key():
            record = {"operation": "copy", "key": self._key()}
        self._record = record
        if "versions" not in record:
            source_version, target_version = self.check_versions()
            self._save(versions=[source_version, target_version])
        source_version, target_version = self._record["versions"]

        source_id = self._source_snapshot()
        source = self._record.get("source") or self._describe_source(source_id)
        registered_name = self.registered_name or source["name"]
        registered_id = self._make(
            "register",
            self.target,
            registered_name,
            lambda: self.target.register_snapshot(
                registered_name,
                source["bar_uri"],
                password=self.password,
                bucket=source["bucket"],
                bucket_namespace=source["namespace"],
                bucket_region=source["region"],
            ),
            verb="register",
        )
        safety_id = None
        if self.safety_snapshot_name:
            safety_id = self._make(
                "safety",
                self.target,
                self.safety_snapshot_name,
                lambda: self.target.create_snapshot(str(self.safety_snapshot_name), self.password),
                verb="take safety",
            )
        restore_work_request_id = self._restore(registered_id)
        result = CopyResult(
            source_url=self.source.config.oac_url,
            target_url=self.target.config.oac_url,
            source_snapshot_id=source_id,
            source_snapshot_name=source["name"],
            bar_uri=source["bar_uri"],
            registered_snapshot_id=registered_id,
            registered_snapshot_name=registered_name,
            restore_work_request_id=restore_work_request_id,
            safety_snapshot_id=safety_id,
            source_version=source_version,
            target_version=target_version,
        )
        self._clean_up(result)
        self.journal.clear()
        return result

    def _key(self) -> str:
        """What a journal record must match to be this copy's (a changed task starts afresh)."""
        return "|".join(
            str(part)
            for part in (
                self.source.oac_conn_id,
                self.target.oac_conn_id,
                self.snapshot_id or "",
                self.snapshot_name or "",
                self.registered_name or "",
                self.safety_snapshot_name or "",
            )
        )

    def _save(self, **fields: Any) -> None:
        self._record = {**self._record, **fields}
        self.journal.put(self._record)

    def _forget(self, *names: str) -> None:
        self._record = {k: v for k, v in self._record.items() if k not in names}
        with contextlib.suppress(Exception):
            self.journal.put(self._record)

    def _say(self, message: str, *args: Any) -> None:
        self.log.info(message, *args)
        if self.on_progress is not None:
            self.on_progress(message % args if args else message)

    # --- 1. versions -------------------------------------------------------------------------------

    def check_versions(self) -> tuple[str | None, str | None]:
        """The two instances' versions from ``GET /system``; ``OACConfigError`` (before anything is
        sent) when the source's is later than the target's. An instance that does not say (the
        field is unconfirmed, or the call fails) is warned about and the check is skipped: OAC
        itself refuses a too-new snapshot at register or restore."""
        versions = [
            self._version(hook, role) for hook, role in ((self.source, "source"), (self.target, "target"))
        ]
        source_version, target_version = versions
        if source_version is None or target_version is None:
            return source_version, target_version
        source_key, target_key = version_key(source_version), version_key(target_version)
        if source_key is None or target_key is None:
            self.log.warning(
                "Cannot compare OAC versions %r (source) and %r (target); not checked here.",
                source_version,
                target_version,
            )
        elif source_key > target_key:
            raise OACConfigError(
                f"The source instance runs OAC {source_version}, later than the target's {target_version}: "
                "Oracle restores a snapshot only on the same or a later version. Nothing was sent; copy "
                "once the target is upgraded."
            )
        else:
            self._say("OAC versions: source %s, target %s.", source_version, target_version)
        return source_version, target_version

    def _version(self, hook: OACHook, role: str) -> str | None:
        try:
            details = hook.client.get_system()
        except OACAuthError:
            raise  # a dead login stops the copy here, before anything is sent
        except OACError as exc:
            self.log.warning(
                "GET /system on the %s instance failed (%s): OAC versions not checked; OAC refuses a "
                "snapshot from a later version itself.",
                role,
                exc,
            )
            return None
        for name in VERSION_FIELDS:
            value = details.get(name)
            if isinstance(value, (str, int, float)) and str(value).strip():
                return str(value).strip()
        self.log.warning(
            "The %s instance's GET /system names no version (the field is unconfirmed): OAC versions not "
            "checked; OAC refuses a snapshot from a later version itself.",
            role,
        )
        return None

    # --- 2. the source snapshot --------------------------------------------------------------------

    def _source_snapshot(self) -> str:
        if self.snapshot_id is not None:
            return validate_resource_id(self.snapshot_id, "snapshot_id")
        name = str(self.snapshot_name)
        if self.use_existing:
            found = self.source.find_snapshots(name)
            if not found:
                raise OACConfigError(f"No snapshot named {name!r} on the source instance.")
            return found[0].id
        return self._make(
            "source",
            self.source,
            name,
            lambda: self.source.create_snapshot(name, self.password, bucket=self.bucket),
            verb="create",
        )

    def _describe_source(self, snapshot_id: str) -> dict[str, Any]:
        """Where the source snapshot's BAR file is, as the target must name it."""
        snapshot = self.source.get_snapshot(snapshot_id)
        if not snapshot.bar_uri:
            raise OACError(
                f"The source lists snapshot {snapshot_id} without a BAR file URI: cannot register it."
            )
        source = {
            "id": snapshot.id,
            "name": snapshot.name or snapshot.id,
            "bar_uri": snapshot.bar_uri,
            **self._bar_storage(snapshot),
        }
        self._save(source=source)
        return source

    def _bar_storage(self, snapshot: Snapshot) -> dict[str, Any]:
        """The bucket as the target names it: the snapshot's storage, else the source connection's
        extras. Region and namespace go with the register when known (the target may be in another
        region or tenancy); unknown, the target looks in its own."""
        storage = snapshot.storage
        config = self.source.config
        bucket = (storage.bucket if storage else None) or self.bucket or config.bucket
        if not bucket:
            raise OACConfigError(
                f"No bucket known for snapshot {snapshot.id}: set the Extra 'bucket' of connection "
                f"{self.source.oac_conn_id!r}."
            )
        region = (storage.region if storage else None) or config.bucket_region
        namespace = (storage.namespace if storage else None) or config.bucket_namespace
        target = self.target.config
        if region is None and target.bucket_region:
            self.log.warning(
                "The source's bucket region is unknown (set the Extra 'bucket_region' of connection %r): "
                "the target looks for the BAR file in its own region.",
                self.source.oac_conn_id,
            )
        return {"bucket": bucket, "region": region, "namespace": namespace}

    # --- making a snapshot (create, register, safety) ------------------------------------------------

    def _make(self, step: str, hook: OACHook, name: str, post: Callable[[], Accepted], *, verb: str) -> str:
        """The id of snapshot ``name`` made by ``post`` on ``hook``'s instance, made once: re-attached
        to when the journal shows this step's intent."""
        done = self._record.get(f"{step}_id")
        if done:
            return str(done)
        intent = self._record.get(f"{step}_intent")
        if intent == name:
            work_request_id = self._record.get(f"{step}_work_request_id")
            if work_request_id is None:
                # The POST got no answer (or the worker died before the id was journalled).
                return self._await_by_name(step, hook, name, verb)
            self._say(
                "Re-attaching to work request %s (%s snapshot %r) from an earlier try.",
                work_request_id,
                verb,
                name,
            )
        else:
            existing = hook.find_snapshots(name)
            if existing:
                raise OACConfigError(
                    f"A snapshot named {name!r} already exists on the {self._role(hook)} instance (id "
                    f"{existing[0].id}): give this copy's {_STEP_FIELD[step]} a new name per run."
                )
            # Persist before acting: if this write fails, nothing is sent.
            self._save(**{f"{step}_intent": name, f"{step}_work_request_id": None})
            try:
                accepted = post()
            except OACOutcomeUnknownError as exc:
                self.log.warning("%s Waiting for a snapshot named %r instead of posting again.", exc, name)
                return self._await_by_name(step, hook, name, verb)
            except OACError:
                self._forget(f"{step}_intent", f"{step}_work_request_id")  # OAC said no: nothing to wait for
                raise
            work_request_id = accepted.work_request_id
            with contextlib.suppress(Exception):  # the intent stays; a retry waits by name
                self._save(**{f"{step}_work_request_id": work_request_id})
            self._say(
                "The %s instance accepted the request to %s snapshot %r: work request %s.",
                self._role(hook),
                verb,
                name,
                work_request_id,
            )
        try:
            finished = hook.wait_for_work_request(
                work_request_id, poll_interval=self.poll_interval, timeout=self.timeout
            )
        except OACWorkRequestFailed as exc:
            self._forget(f"{step}_intent", f"{step}_work_request_id")  # failed work leaves nothing behind
            raise OACWorkRequestFailed(
                f"The {self._role(hook)} instance could not {verb} snapshot {name!r}: {exc}",
                **_failed_fields(exc),
            ) from None
        snapshot_id = finished.snapshot_id
        if snapshot_id is None:
            made = find_created_snapshot(hook.client, name, finished)
            snapshot_id = made.id if made else None
        if snapshot_id is None:
            raise OACError(
                f"Work request {work_request_id} succeeded but no snapshot named {name!r} is listed."
            )
        self._save(**{f"{step}_id": snapshot_id})
        self._say("Snapshot %r on the %s instance: id %s.", name, self._role(hook), snapshot_id)
        return snapshot_id

    def _await_by_name(self, step: str, hook: OACHook, name: str, verb: str) -> str:
        deadline = time.monotonic() + (self.timeout or UNANSWERED_WAIT_SECONDS)
        self._say(
            "Waiting for a snapshot named %r on the %s instance (never posting again).",
            name,
            self._role(hook),
        )
        while True:
            found = hook.find_snapshots(name)
            if found:
                self._save(**{f"{step}_id": found[0].id})
                self._say(
                    "Snapshot %r appeared on the %s instance: id %s.", name, self._role(hook), found[0].id
                )
                return found[0].id
            if time.monotonic() >= deadline:
                raise OACError(
                    f"The request to {verb} snapshot {name!r} on the {self._role(hook)} instance got no answer "
                    "and no snapshot of that name appeared: it was not sent again. Check the instance."
                )
            time.sleep(self.poll_interval)

    def _role(self, hook: OACHook) -> str:
        return "source" if hook is self.source else "target"

    # --- 5. the restore ---------------------------------------------------------------------------------

    def _restore(self, registered_id: str) -> str:
        if self._record.get("restored"):
            return str(self._record["restore_work_request_id"])
        work_request_id = self._record.get("restore_work_request_id")
        if self._record.get("restore_intent") and work_request_id is None:
            raise OACCopyNeedsAPerson(
                f"An earlier try sent the restore of snapshot {registered_id} on the target but recorded no "
                "work request (its answer was lost or the worker died): the target may be restoring now, so "
                "it was not sent again. Check the target instance; to restore again deliberately, clear the "
                "copy's record and run it again."
            )
        if work_request_id is None:
            # The token first: a refresh that fails must come before the intent.
            self.target.get_access_token()
            self._save(restore_intent=registered_id, restore_work_request_id=None)
            try:
                accepted = self.target.restore_snapshot(registered_id, self.password)
            except OACOutcomeUnknownError as exc:
                # A person decides: the intent goes, so re-running the copy restores again on purpose.
                self._forget("restore_intent", "restore_work_request_id")
                raise OACCopyNeedsAPerson(
                    f"{exc} The target may have started the restore; it was not sent again. Check the target "
                    "instance, then run the copy again to restore."
                ) from None
            except OACError:
                self._forget("restore_intent", "restore_work_request_id")
                raise
            work_request_id = accepted.work_request_id
            with contextlib.suppress(Exception):
                self._save(restore_work_request_id=work_request_id)
            self._say(
                "The target started restoring snapshot %s: work request %s.", registered_id, work_request_id
            )
        else:
            self._say("Re-attaching to restore work request %s from an earlier try.", work_request_id)
        try:
            self.target.wait_for_work_request(
                work_request_id, poll_interval=self.poll_interval, timeout=self.timeout
            )
        except OACWorkRequestFailed as exc:
            self._forget("restore_intent", "restore_work_request_id")
            raise OACWorkRequestFailed(
                f"The target could not restore snapshot {registered_id}: {exc}", **_failed_fields(exc)
            ) from None
        self._save(restored=True)
        self._say("The target is restored from snapshot %s.", registered_id)
        return str(work_request_id)

    # --- 6. clean-up ---------------------------------------------------------------------------------------

    def _clean_up(self, result: CopyResult) -> None:
        if not self.keep_registration:
            with contextlib.suppress(OACNotFoundError):  # removed by an earlier try
                self.target.delete_snapshot(result.registered_snapshot_id, delete_storage=False)
            result.registration_removed = True
            self._say(
                "Removed the target's registration %s (the BAR file stays).", result.registered_snapshot_id
            )
        if self.delete_bar:
            with contextlib.suppress(OACNotFoundError):
                self.source.delete_snapshot(result.source_snapshot_id, delete_storage=True)
            result.bar_deleted = True
            self._say("Deleted source snapshot %s and its BAR file.", result.source_snapshot_id)


_STEP_FIELD = {"source": "snapshot_name", "register": "registered_name", "safety": "safety_snapshot_name"}


def _failed_fields(exc: OACWorkRequestFailed) -> dict[str, Any]:
    return {"work_request_id": exc.work_request_id, "status": exc.status, "errors": exc.errors}
