"""The rest of the snapshot lifecycle: register, list, delete, prune.

Register waits like create and shares its re-attach rules. List, delete and prune are single
calls with nothing to wait for: they refuse ``wait_for_completion``, ``poll_interval``, ``timeout``
and ``deferrable`` when the DAG is parsed (see :class:`~._base.OACSingleCallOperator`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow_provider_oac.operators._base import OACSingleCallOperator
from airflow_provider_oac.operators.snapshot import SnapshotMakingOperator

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_oac.client.models import Accepted


class OACRegisterSnapshotOperator(SnapshotMakingOperator):
    """Register a BAR file already in OCI Object Storage as a snapshot (``type: REGISTER``), for
    example one exported from another OAC instance.

    Returns the new snapshot's id (when ``wait_for_completion``; otherwise None) and pushes
    ``work_request_id`` to XCom. Re-attaches on retries and follows ``if_exists`` exactly like
    :class:`~airflow_provider_oac.operators.snapshot.OACCreateSnapshotOperator`, and like it
    fills the event of :func:`~airflow_provider_oac.assets.oac_snapshots_asset` among its outlets.

    :param name: snapshot name (templated).
    :param bar_uri: the BAR object, ``file:///<object name in the bucket>`` (templated).
    :param password: the BAR file's password (templated, masked); may be left out and given at
        restore, as Oracle's own scripts do.
    :param bucket: the bucket holding it; default: the connection's ``bucket`` extra (templated).
    :param storage_auth_type: default: the connection's ``storage_auth_type`` extra.
    :param bucket_namespace: default: the connection's ``bucket_namespace`` extra.
    :param bucket_region: default: the connection's ``bucket_region`` extra.
    :param if_exists: ``"fail"`` (default), ``"reuse"`` or ``"replace"``, as for create.
    """

    template_fields: Sequence[str] = ("name", "bar_uri", "password", "bucket")
    secret_template_fields = ("password",)
    operation = "register"

    def __init__(
        self,
        *,
        name: str,
        bar_uri: str,
        password: str | None = None,
        bucket: str | None = None,
        storage_auth_type: str | None = None,
        bucket_namespace: str | None = None,
        bucket_region: str | None = None,
        if_exists: str = "fail",
        **kwargs: Any,
    ):
        super().__init__(name=name, if_exists=if_exists, **kwargs)
        self.bar_uri = bar_uri
        self.password = password
        self.bucket = bucket
        self.storage_auth_type = storage_auth_type
        self.bucket_namespace = bucket_namespace
        self.bucket_region = bucket_region

    def check_inputs(self) -> str:
        # lazy: DAG-parse cost, see bench/parse_cost.py
        from airflow_provider_oac.hooks._airflow import mask_secret
        from airflow_provider_oac.validation import (
            bar_uri_warning,
            existing_password_warning,
            validate_bar_uri,
            validate_password,
            validate_snapshot_name,
        )

        mask_secret(self.rendered_secret("password"))
        name = validate_snapshot_name(self.name, "name")
        uri_warning = bar_uri_warning(validate_bar_uri(self.bar_uri, "bar_uri"), "bar_uri")
        if uri_warning:
            self.log.warning("%s", uri_warning)
        if self.rendered_secret("password") is not None:
            # An existing BAR keeps the password it was made with, maybe from before Oracle's rule.
            warning = existing_password_warning(
                validate_password(self.rendered_secret("password"), "password"), "password"
            )
            if warning:
                self.log.warning("%s", warning)
        # The storage request is built now, as for a create: a bad bucket fails before the
        # if_exists lookup and before the intent is recorded.
        self.hook.storage_spec(
            self.bucket,
            storage_auth_type=self.storage_auth_type,
            bucket_namespace=self.bucket_namespace,
            bucket_region=self.bucket_region,
        ).to_json()
        return name

    def post(self, name: str) -> Accepted:
        return self.hook.register_snapshot(
            name,
            self.bar_uri,
            password=self.rendered_secret("password"),
            bucket=self.bucket,
            storage_auth_type=self.storage_auth_type,
            bucket_namespace=self.bucket_namespace,
            bucket_region=self.bucket_region,
        )


class OACListSnapshotsOperator(OACSingleCallOperator):
    """List the snapshots made or registered through OAC's REST API, newest first, filtered on
    the Airflow side (OAC's list has no filters).

    Returns (XCom) a JSON-safe list of ``{"id", "name", "created_by", "time_created", "bar_uri"}``,
    ``time_created`` in ISO 8601 UTC (``2026-01-31T02:00:00Z``) or None.

    :param name_pattern: fnmatch glob on the name, case-sensitive (templated), e.g. ``"nightly-*"``.
    :param name: exact name (templated).
    :param created_after: only snapshots created after this (exclusive; datetime or ISO 8601
        text; templated, e.g. ``"{{ data_interval_start }}"``).
    :param created_before: only snapshots created before this (exclusive; same forms).
    :param created_by: exact user name OAC lists as the creator (templated).
    """

    template_fields: Sequence[str] = ("name_pattern", "name", "created_after", "created_before", "created_by")

    def __init__(
        self,
        *,
        name_pattern: str | None = None,
        name: str | None = None,
        created_after: datetime | str | None = None,
        created_before: datetime | str | None = None,
        created_by: str | None = None,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.name_pattern = name_pattern
        self.name = name
        self.created_after = created_after
        self.created_before = created_before
        self.created_by = created_by

    def execute(self, context: Context) -> list[dict[str, Any]]:
        # lazy: DAG-parse cost, see bench/parse_cost.py
        from airflow_provider_oac.client.retention import snapshot_as_dict

        with self.oac_errors():
            self.push_instance_url(context)
            snapshots = self.hook.list_snapshots(
                name=self.name,
                name_pattern=self.name_pattern,
                created_after=self.created_after,
                created_before=self.created_before,
                created_by=self.created_by,
            )
        self.log.info("%d snapshot(s) match.", len(snapshots))
        for snapshot in snapshots:
            self.log.info("  %s  %s  %s", snapshot.id, snapshot.name, snapshot.time_created)
        return [snapshot_as_dict(snapshot) for snapshot in snapshots]


class OACDeleteSnapshotOperator(OACSingleCallOperator):
    """Delete (deregister) a snapshot by id, or every snapshot of a name; with ``delete_storage``
    also delete the BAR files from the bucket.

    Returns (XCom) the list of ids deleted. Without ``delete_storage`` the BAR file stays in Object
    Storage and can be registered again.

    :param snapshot_id: the snapshot's id (templated).
    :param snapshot_name: or its name (templated): every snapshot of that exact name is deleted.
    :param delete_storage: also delete the BAR files (``deleteStorage=true``). Irreversible.
    :param missing_ok: succeed when there is nothing to delete (default True), so a retry after a
        delete whose answer was lost succeeds; False fails the task instead.
    """

    template_fields: Sequence[str] = ("snapshot_id", "snapshot_name")

    def __init__(
        self,
        *,
        snapshot_id: str | None = None,
        snapshot_name: str | None = None,
        delete_storage: bool = False,
        missing_ok: bool = True,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        # lazy: DAG-parse cost, see bench/parse_cost.py
        from airflow_provider_oac.errors import OACConfigError

        if (snapshot_id is None) == (snapshot_name is None):
            raise OACConfigError("Pass exactly one of snapshot_id or snapshot_name.")
        for flag, value in (("delete_storage", delete_storage), ("missing_ok", missing_ok)):
            if not isinstance(value, bool):
                raise OACConfigError(f"{flag} must be True or False, not {type(value).__name__}.")
        self.snapshot_id = snapshot_id
        self.snapshot_name = snapshot_name
        self.delete_storage = delete_storage
        self.missing_ok = missing_ok

    def execute(self, context: Context) -> list[str]:
        # lazy: DAG-parse cost, see bench/parse_cost.py
        from airflow_provider_oac.errors import OACNotFoundError
        from airflow_provider_oac.validation import validate_resource_id, validate_snapshot_name

        with self.oac_errors():
            if self.snapshot_id is not None:
                targets = [validate_resource_id(self.snapshot_id, "snapshot_id")]
                what = f"snapshot {targets[0]}"
            else:
                name = validate_snapshot_name(self.snapshot_name, "snapshot_name")
                what = f"snapshot named {name!r}"
                targets = [snapshot.id for snapshot in self.hook.find_snapshots(name)]
            self.push_instance_url(context)
            deleted: list[str] = []
            for snapshot_id in targets:
                try:
                    self.hook.delete_snapshot(snapshot_id, delete_storage=self.delete_storage)
                except OACNotFoundError:
                    if not self.missing_ok:
                        raise
                    self.log.info(
                        "Snapshot %s does not exist (missing_ok=True): nothing to delete.", snapshot_id
                    )
                    continue
                deleted.append(snapshot_id)
                storage = (
                    " and its BAR file" if self.delete_storage else " (its BAR file stays in the bucket)"
                )
                self.log.info("Deleted snapshot %s%s.", snapshot_id, storage)
        if not targets:
            if not self.missing_ok:
                # lazy: DAG-parse cost, see bench/parse_cost.py
                from airflow_provider_oac.hooks._airflow import airflow_exception

                raise airflow_exception()(f"No {what} in OAC to delete (missing_ok=False).")
            self.log.info("No %s in OAC (missing_ok=True): nothing to delete.", what)
        return deleted


class OACPruneSnapshotsOperator(OACSingleCallOperator):
    """Delete the snapshots a retention rule lets go, among those whose name matches a pattern.

    - ``keep_last`` only: keep the newest N, delete the rest.
    - ``max_age`` only: delete those created longer ago than ``max_age``.
    - both: delete those beyond the newest N **and** older than ``max_age``.

    Snapshots without a creation time are never deleted. With ``dry_run=True`` nothing is deleted
    and the task log lists what would go. Returns (XCom) the ids deleted, or that would be.

    :param name_pattern: fnmatch glob on the name, case-sensitive (templated), e.g. ``"nightly-*"``.
        Only matching snapshots are considered: make it specific to the snapshots this DAG owns.
    :param keep_last: how many of the newest matching snapshots to keep (at least 1).
    :param max_age: a ``timedelta`` or seconds; only older snapshots are deleted.
    :param delete_storage: also delete their BAR files from the bucket. Irreversible.
    :param dry_run: only log what would be deleted (default False).
    """

    template_fields: Sequence[str] = ("name_pattern",)

    def __init__(
        self,
        *,
        name_pattern: str,
        keep_last: int | None = None,
        max_age: timedelta | float | None = None,
        delete_storage: bool = False,
        dry_run: bool = False,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        # lazy: DAG-parse cost, see bench/parse_cost.py
        from airflow_provider_oac.client.retention import RetentionRule, as_max_age
        from airflow_provider_oac.errors import OACConfigError

        # The rule is checked here (the pattern again once templates are rendered), so a DAG with
        # a senseless rule fails to load instead of deleting anything.
        has_template = isinstance(name_pattern, str) and "{{" in name_pattern
        RetentionRule(
            "placeholder" if has_template else name_pattern,
            keep_last,
            None if max_age is None else as_max_age(max_age),
        )
        for flag, value in (("delete_storage", delete_storage), ("dry_run", dry_run)):
            if not isinstance(value, bool):
                raise OACConfigError(f"{flag} must be True or False, not {type(value).__name__}.")
        self.name_pattern = name_pattern
        self.keep_last = keep_last
        self.max_age = max_age
        self.delete_storage = delete_storage
        # BaseOperator.dry_run() is a method: keep the flag under another name.
        self.plan_only = dry_run

    def execute(self, context: Context) -> list[str]:
        with self.oac_errors():
            self.push_instance_url(context)
            plan = self.hook.prune_snapshots(
                name_pattern=self.name_pattern,
                keep_last=self.keep_last,
                max_age=self.max_age,
                delete_storage=self.delete_storage,
                dry_run=self.plan_only,
            )
        return plan.delete_ids if self.plan_only else list(plan.deleted)
