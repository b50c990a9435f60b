"""Create and restore OAC snapshots.

Both operators record the work request id the moment OAC accepts the call; a retry (or a new try
after a worker crash) waits for that work instead of starting it again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_oac.operators._base import OACBaseOperator

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

IF_EXISTS_POLICIES = ("fail", "reuse", "replace")


class OACCreateSnapshotOperator(OACBaseOperator):
    """Take a snapshot of the OAC instance into a password-protected BAR file in Object Storage.

    Returns the new snapshot's id (when ``wait_for_completion``; otherwise None). Pushes
    ``work_request_id`` to XCom as soon as OAC accepts the request.

    :param name: snapshot name (templated), e.g. ``"pre-deploy-{{ ds }}"``.
    :param password: password protecting the BAR file (templated, masked).
    :param bucket: Object Storage bucket; default: the connection's ``bucket`` extra.
    :param bar_uri: ``file:///<object name>``; default: derived from the name.
    :param storage_auth_type: default: the connection's ``storage_auth_type`` extra.
    :param if_exists: a snapshot of this name already exists: ``"fail"`` (default), ``"reuse"``
        (return its id, create nothing) or ``"replace"`` (delete it, then create).
    """

    template_fields: Sequence[str] = ("name", "password", "bucket", "bar_uri")

    def __init__(
        self,
        *,
        name: str,
        password: str,
        bucket: str | None = None,
        bar_uri: str | None = None,
        storage_auth_type: str | None = None,
        if_exists: str = "fail",
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        if if_exists not in IF_EXISTS_POLICIES:
            from airflow_provider_oac.errors import OACConfigError

            raise OACConfigError(f"if_exists={if_exists!r}: use one of {', '.join(IF_EXISTS_POLICIES)}.")
        self.name = name
        self.password = password
        self.bucket = bucket
        self.bar_uri = bar_uri
        self.storage_auth_type = storage_auth_type
        self.if_exists = if_exists

    def execute(self, context: Context) -> str | None:
        from airflow_provider_oac.errors import OACOutcomeUnknownError
        from airflow_provider_oac.hooks._airflow import mask_secret
        from airflow_provider_oac.validation import (
            validate_bar_uri,
            validate_password,
            validate_snapshot_name,
        )

        mask_secret(self.password)
        with self.oac_errors():
            name = validate_snapshot_name(self.name, "name")
            validate_password(self.password, "password")
            if self.bar_uri is not None:
                validate_bar_uri(self.bar_uri, "bar_uri")
            self.push_instance_url(context)
            self.warn_if_login_expiring()
            record = self.work_record(context)
            previous = record.get()
            if previous and previous.get("operation") == "create" and previous.get("name") == name:
                work_request_id = previous.get("work_request_id")
                if work_request_id is None:  # an earlier try got no answer to its POST
                    return self._await_by_name(context, name)
                self.log.info(
                    "Re-attaching to work request %s from an earlier try (no new snapshot).", work_request_id
                )
            else:
                existing = self._existing(name)
                if existing is not None:
                    return existing
                try:
                    accepted = self.hook.create_snapshot(
                        name, self.password, bucket=self.bucket, bar_uri=self.bar_uri
                    )
                except OACOutcomeUnknownError as exc:
                    # OAC may have accepted it: wait for a snapshot of that name rather than post again.
                    record.set(operation="create", name=name, work_request_id=None)
                    self.log.warning(
                        "%s Waiting for a snapshot named %r instead of posting again.", exc, name
                    )
                    return self._await_by_name(context, name)
                work_request_id = accepted.work_request_id
                record.set(operation="create", name=name, work_request_id=work_request_id)
                self.log.info("OAC accepted snapshot %r: work request %s.", name, work_request_id)
            context["ti"].xcom_push(key="work_request_id", value=work_request_id)
        if not self.wait_for_completion:
            return None
        self.wait(context, work_request_id)
        return self.finish(context, work_request_id)

    def _existing(self, name: str) -> str | None:
        snapshots = self.hook.find_snapshots(name)
        if not snapshots:
            return None
        if self.if_exists == "reuse":
            self.log.info(
                "Snapshot %r already exists (%s); if_exists='reuse': creating nothing.", name, snapshots[0].id
            )
            return snapshots[0].id
        if self.if_exists == "replace":
            for snapshot in snapshots:
                self.log.info("if_exists='replace': deleting snapshot %s (%r) first.", snapshot.id, name)
                self.hook.delete_snapshot(snapshot.id, delete_storage=False)
            return None
        from airflow_provider_oac.errors import OACConfigError

        raise OACConfigError(
            f"A snapshot named {name!r} already exists (id {snapshots[0].id}): use another name (e.g. with "
            "{{ ds }}), or if_exists='reuse' or 'replace'."
        )

    def _await_by_name(self, context: Context, name: str) -> str:
        import time

        from airflow_provider_oac.errors import OACError

        deadline = time.monotonic() + (self.timeout or 3600.0)
        while True:
            snapshots = self.hook.find_snapshots(name)
            if snapshots:
                self.work_record(context).clear()
                self.log.info("Snapshot %r appeared: id %s.", name, snapshots[0].id)
                return snapshots[0].id
            if time.monotonic() >= deadline:
                raise OACError(
                    f"OAC gave no answer to the request to create snapshot {name!r} and no snapshot of that "
                    "name appeared in time; no second request was sent. Check OAC before running the task again."
                )
            time.sleep(self.poll_interval)

    def finish(self, context: Context, work_request_id: str) -> str | None:
        with self.oac_errors():
            work_request = self.hook.get_work_request(work_request_id)
            snapshot_id = work_request.snapshot_id
            if snapshot_id is None:
                from airflow_provider_oac.client.sync import find_created_snapshot

                snapshot = find_created_snapshot(self.hook.client, self.name, work_request)
                snapshot_id = snapshot.id if snapshot else None
        self.work_record(context).clear()
        if snapshot_id is None:
            from airflow_provider_oac.hooks._airflow import airflow_exception

            raise airflow_exception()(
                f"Work request {work_request_id} succeeded but no snapshot named {self.name!r} is listed."
            )
        self.log.info("Snapshot %r created: id %s.", self.name, snapshot_id)
        return snapshot_id


class OACRestoreSnapshotOperator(OACBaseOperator):
    """Restore the OAC instance from a snapshot, by id or by name (the newest of that name).

    Returns the work request id. OAC cannot cancel a restore: killing the task leaves it running.

    :param snapshot_id: the snapshot's id (templated).
    :param snapshot_name: or its name (templated); the newest snapshot of that name is used.
    :param password: the BAR file's password (templated, masked).
    """

    template_fields: Sequence[str] = ("snapshot_id", "snapshot_name", "password")

    def __init__(
        self,
        *,
        password: str,
        snapshot_id: str | None = None,
        snapshot_name: str | None = None,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        if (snapshot_id is None) == (snapshot_name is None):
            from airflow_provider_oac.errors import OACConfigError

            raise OACConfigError("Pass exactly one of snapshot_id or snapshot_name.")
        self.snapshot_id = snapshot_id
        self.snapshot_name = snapshot_name
        self.password = password

    def execute(self, context: Context) -> str:
        from airflow_provider_oac.errors import OACConfigError, OACOutcomeUnknownError
        from airflow_provider_oac.hooks._airflow import fail_exception, mask_secret
        from airflow_provider_oac.validation import (
            validate_password,
            validate_resource_id,
            validate_snapshot_name,
        )

        mask_secret(self.password)
        with self.oac_errors():
            validate_password(self.password, "password")
            self.push_instance_url(context)
            self.warn_if_login_expiring()
            record = self.work_record(context)
            previous = record.get()
            if previous and previous.get("operation") == "restore":
                work_request_id = previous["work_request_id"]
                self.log.info("Re-attaching to restore work request %s from an earlier try.", work_request_id)
            else:
                if self.snapshot_id is not None:
                    snapshot_id = validate_resource_id(self.snapshot_id, "snapshot_id")
                else:
                    name = validate_snapshot_name(self.snapshot_name, "snapshot_name")
                    snapshots = self.hook.find_snapshots(name)
                    if not snapshots:
                        known = (
                            ", ".join(sorted({s.name or "?" for s in self.hook.list_snapshots()})[:10])
                            or "none"
                        )
                        raise OACConfigError(f"No snapshot named {name!r} in OAC (names there: {known}).")
                    snapshot_id = snapshots[0].id
                    if len(snapshots) > 1:
                        self.log.warning(
                            "%d snapshots are named %r; restoring the newest, %s.",
                            len(snapshots),
                            name,
                            snapshot_id,
                        )
                try:
                    accepted = self.hook.restore_snapshot(snapshot_id, self.password)
                except OACOutcomeUnknownError as exc:
                    raise fail_exception()(
                        f"{exc} OAC may have started the restore; it was not sent again and the task will not "
                        "retry. Check OAC, then clear the task to run it again."
                    ) from None
                work_request_id = accepted.work_request_id
                record.set(operation="restore", snapshot_id=snapshot_id, work_request_id=work_request_id)
                self.log.info(
                    "OAC started restoring snapshot %s: work request %s.", snapshot_id, work_request_id
                )
            context["ti"].xcom_push(key="work_request_id", value=work_request_id)
        if self.wait_for_completion:
            self.wait(context, work_request_id)
        return self.finish(context, work_request_id)

    def finish(self, context: Context, work_request_id: str) -> str:
        self.work_record(context).clear()
        return work_request_id
