"""Create and restore OAC snapshots.

Both operators persist before they act: they record their intent (operation and name or target)
before the POST, then the work request id the moment OAC accepts the call. A retry (or a new try
after a worker crash) waits for that work, or by name, instead of starting it again; a restore
whose intent was recorded without a work request id is never sent again. The register operator
(:mod:`.lifecycle`) shares the create operator's base, :class:`SnapshotMakingOperator`; create,
register and the restore's safety snapshot make their snapshot through one implementation,
:class:`~._making.SnapshotStep` (loaded in ``execute``, not when the DAG is parsed).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_oac.operators._base import OACBaseOperator

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_oac.client.models import Accepted
    from airflow_provider_oac.operators._making import SnapshotStep

IF_EXISTS_POLICIES = ("fail", "reuse", "replace")
#: The restore operator's work record while its safety snapshot is being taken.
SAFETY_SNAPSHOT = "safety_snapshot"


def check_literal_new_password(password: object) -> None:
    """At DAG parse, refuse a literal (untemplated) new-snapshot password that breaks Oracle's rule;
    templated values are checked after rendering, in ``execute``."""
    if isinstance(password, str) and password and "{{" not in password and "{%" not in password:
        # lazy: DAG-parse cost, see bench/parse_cost.py
        from airflow_provider_oac.validation import validate_new_snapshot_password

        validate_new_snapshot_password(password, "password")


class SnapshotMakingOperator(OACBaseOperator):
    """Base of the operators whose POST makes a snapshot of a given name (create, register):
    ``if_exists``, re-attaching on retries (by the work record, or by name when the POST got no
    answer), finding the new snapshot's id, and the snapshots asset event. Not for direct use.
    """

    #: The work record's name for this operation: a retry re-attaches only to the same kind.
    operation = "make"

    def __init__(self, *, name: str, if_exists: str = "fail", **kwargs: Any):
        super().__init__(**kwargs)
        if if_exists not in IF_EXISTS_POLICIES:
            # lazy: DAG-parse cost, see bench/parse_cost.py
            from airflow_provider_oac.errors import OACConfigError

            raise OACConfigError(f"if_exists={if_exists!r}: use one of {', '.join(IF_EXISTS_POLICIES)}.")
        self.name = name
        self.if_exists = if_exists

    def check_inputs(self) -> str:
        """Local checks before any call (raise OACConfigError); returns the snapshot name."""
        raise NotImplementedError

    def post(self, name: str) -> Accepted:
        """Send the one request that makes the snapshot."""
        raise NotImplementedError

    def execute(self, context: Context) -> str | None:
        with self.oac_errors():
            name = self.check_inputs()
            self.push_instance_url(context)
            self.warn_if_login_expiring()
            step = self._step(context, name)
            snapshot_id = step.run(
                step.record.get(), lambda: self._existing(name), wait=self.wait_for_completion
            )
        return self._announce(context, snapshot_id)

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        """Resume after the deferred wait, for the work request or (after a lost answer) the name."""
        # lazy: DAG-parse cost, see bench/parse_cost.py
        from airflow_provider_oac.triggers.events import WaitEvent
        from airflow_provider_oac.validation import validate_snapshot_name

        with self.oac_errors():
            step = self._step(context, validate_snapshot_name(self.name, "name"))
            return self._announce(context, step.resume(WaitEvent.from_dict(event)))

    def _step(self, context: Context, name: str) -> SnapshotStep:
        # lazy: DAG-parse cost, see bench/parse_cost.py
        from airflow_provider_oac.operators._making import SnapshotStep

        return SnapshotStep(
            self,
            context,
            name,
            operation=self.operation,
            verb=self.operation,
            post=lambda: self.post(name),
            made_message=f"Snapshot %r {self.operation}d: id %s.",
        )

    def _announce(self, context: Context, snapshot_id: str | None) -> str | None:
        # lazy: DAG-parse cost, see bench/parse_cost.py
        from airflow_provider_oac.assets import announce_snapshot

        announce_snapshot(self, context, snapshot_id=snapshot_id, name=self.name)
        return snapshot_id

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
        # lazy: DAG-parse cost, see bench/parse_cost.py
        from airflow_provider_oac.errors import OACConfigError

        raise OACConfigError(
            f"A snapshot named {name!r} already exists (id {snapshots[0].id}): use another name (e.g. with "
            "{{ dag_run.run_after.strftime('%Y%m%dT%H%M%S%f') }}), or if_exists='reuse' or 'replace'."
        )


class OACCreateSnapshotOperator(SnapshotMakingOperator):
    """Take a snapshot of the OAC instance into a password-protected BAR file in Object Storage.

    Returns the new snapshot's id (when ``wait_for_completion``; otherwise None). Pushes
    ``work_request_id`` to XCom as soon as OAC accepts the request. With
    :func:`~airflow_provider_oac.assets.oac_snapshots_asset` among its ``outlets``, the asset
    event carries ``{"snapshot_id", "name", "oac_url"}``.

    :param name: snapshot name (templated), e.g. ``"pre-deploy-{{ dag_run.run_after.strftime('%Y%m%dT%H%M%S%f') }}"``.
    :param password: password protecting the BAR file (templated, masked).
    :param bucket: Object Storage bucket; default: the connection's ``bucket`` extra.
    :param bar_uri: ``file:///<object name>``; default: derived from the name.
    :param storage_auth_type: default: the connection's ``storage_auth_type`` extra.
    :param if_exists: a snapshot of this name already exists: ``"fail"`` (default), ``"reuse"``
        (return its id, create nothing) or ``"replace"`` (delete it, then create).
    """

    template_fields: Sequence[str] = ("name", "password", "bucket", "bar_uri")
    secret_template_fields = ("password",)
    operation = "create"

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
        super().__init__(name=name, if_exists=if_exists, **kwargs)
        check_literal_new_password(password)
        self.password = password
        self.bucket = bucket
        self.bar_uri = bar_uri
        self.storage_auth_type = storage_auth_type

    def check_inputs(self) -> str:
        # lazy: DAG-parse cost, see bench/parse_cost.py
        from airflow_provider_oac.hooks._airflow import mask_secret
        from airflow_provider_oac.validation import (
            bar_uri_warning,
            validate_bar_uri,
            validate_new_snapshot_password,
            validate_snapshot_name,
        )

        mask_secret(self.rendered_secret("password"))
        name = validate_snapshot_name(self.name, "name")
        validate_new_snapshot_password(self.rendered_secret("password"), "password")
        if self.bar_uri is not None:
            warning = bar_uri_warning(validate_bar_uri(self.bar_uri, "bar_uri"), "bar_uri")
            if warning:
                self.log.warning("%s", warning)
        # The storage request is built now, so a bad bucket fails before the if_exists lookup.
        self.hook.storage_spec(self.bucket, storage_auth_type=self.storage_auth_type).to_json()
        return name

    def post(self, name: str) -> Accepted:
        return self.hook.create_snapshot(
            name,
            self.rendered_secret("password"),
            bucket=self.bucket,
            bar_uri=self.bar_uri,
            storage_auth_type=self.storage_auth_type,
        )


class OACRestoreSnapshotOperator(OACBaseOperator):
    """Restore the OAC instance from a snapshot, by id or by name (the newest of that name).

    Returns the work request id. OAC cannot cancel a restore: killing the task leaves it running.

    With ``safety_snapshot_name``, the operator first takes a snapshot of the current state under
    that name (same password, the connection's storage defaults) and waits for it, whatever
    ``wait_for_completion`` says; only then does it start the restore. Its id goes to XCom as
    ``safety_snapshot_id``. Both steps are recorded: a retry re-attaches to whichever step was
    running and never takes a second safety snapshot or starts a second restore.

    :param snapshot_id: the snapshot's id (templated).
    :param snapshot_name: or its name (templated); the newest snapshot of that name is used.
    :param password: the BAR file's password (templated, masked).
    :param safety_snapshot_name: take a snapshot of the current state under this name first
        (templated; use a new name per run, e.g. ``"before-restore-{{ dag_run.run_after.strftime('%Y%m%dT%H%M%S%f') }}"``).
    """

    template_fields: Sequence[str] = ("snapshot_id", "snapshot_name", "password", "safety_snapshot_name")
    secret_template_fields = ("password",)

    def __init__(
        self,
        *,
        password: str,
        snapshot_id: str | None = None,
        snapshot_name: str | None = None,
        safety_snapshot_name: str | None = None,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        if (snapshot_id is None) == (snapshot_name is None):
            # lazy: DAG-parse cost, see bench/parse_cost.py
            from airflow_provider_oac.errors import OACConfigError

            raise OACConfigError("Pass exactly one of snapshot_id or snapshot_name.")
        if safety_snapshot_name is not None:  # the safety snapshot is a new BAR with this password
            check_literal_new_password(password)
        self.snapshot_id = snapshot_id
        self.snapshot_name = snapshot_name
        self.password = password
        self.safety_snapshot_name = safety_snapshot_name

    def execute(self, context: Context) -> str:
        # lazy: DAG-parse cost, see bench/parse_cost.py
        from airflow_provider_oac.hooks._airflow import mask_secret
        from airflow_provider_oac.validation import (
            existing_password_warning,
            validate_new_snapshot_password,
            validate_password,
        )

        mask_secret(self.rendered_secret("password"))
        with self.oac_errors():
            if self.safety_snapshot_name is not None:
                # The safety snapshot is a new BAR protected by this password: Oracle's rule applies.
                validate_new_snapshot_password(
                    self.rendered_secret("password"), "password (also the safety snapshot's)"
                )
            else:
                warning = existing_password_warning(
                    validate_password(self.rendered_secret("password"), "password"), "password"
                )
                if warning:
                    self.log.warning("%s", warning)
            self._safety_name()
            self.push_instance_url(context)
            self.warn_if_login_expiring()
            return self._proceed(context)

    def _proceed(self, context: Context) -> str:
        """Run the steps the work record does not show as done: the safety snapshot, then the
        restore. Returns the restore's work request id, or defers."""
        record = self.work_record(context)
        previous = record.get() or {}
        if previous.get("operation") == "restore":
            work_request_id = previous.get("work_request_id")
            if work_request_id is None:
                # lazy: DAG-parse cost, see bench/parse_cost.py
                from airflow_provider_oac.hooks._airflow import fail_exception

                # OAC cannot list work requests, so nothing tells whether that restore is running.
                raise fail_exception()(
                    f"An earlier try of this task sent the restore of snapshot {previous.get('snapshot_id')} "
                    "but recorded no work request (its answer was lost, the record write failed or the "
                    "worker died): OAC may be restoring it now, so it was not sent again. Check the OAC "
                    f"instance; to run the restore again deliberately, {record.how_to_clear(context['ti'])}, "
                    "then clear the task."
                )
            self.log.info("Re-attaching to restore work request %s from an earlier try.", work_request_id)
            if previous.get("safety_snapshot_id"):
                context["ti"].xcom_push(key="safety_snapshot_id", value=previous["safety_snapshot_id"])
        else:
            safety_name = self._safety_name()
            if not (
                safety_name
                and previous.get("operation") == SAFETY_SNAPSHOT
                and previous.get("name") == safety_name
            ):
                previous = {}
            target = previous.get("target_snapshot_id") or self._target_snapshot_id()
            safety_snapshot_id = previous.get("safety_snapshot_id")
            if safety_name and not safety_snapshot_id:
                # Waits whatever wait_for_completion says; may defer (execute_complete goes on).
                step = self._safety_step(context, safety_name, target)
                safety_snapshot_id = step.run(previous, lambda: self._refuse_existing(safety_name))
                assert safety_snapshot_id is not None  # run() waits, so it returns the id
                self._safety_taken(context, target, safety_snapshot_id)
            elif safety_snapshot_id:
                # Taken by an earlier try, whose XComs Airflow cleared for this one.
                context["ti"].xcom_push(key="safety_snapshot_id", value=safety_snapshot_id)
            work_request_id = self._start_restore(record, target, safety_name, safety_snapshot_id)
        context["ti"].xcom_push(key="work_request_id", value=work_request_id)
        if self.wait_for_completion:
            self.wait(context, work_request_id)
        return self.finish(context, work_request_id)

    def _safety_name(self) -> str | None:
        if self.safety_snapshot_name is None:
            return None
        # lazy: DAG-parse cost, see bench/parse_cost.py
        from airflow_provider_oac.errors import OACConfigError
        from airflow_provider_oac.validation import validate_snapshot_name

        name = validate_snapshot_name(self.safety_snapshot_name, "safety_snapshot_name")
        if name == self.snapshot_name:
            raise OACConfigError(
                f"safety_snapshot_name is the snapshot_name being restored ({name!r}): give the safety "
                "snapshot its own name, e.g. before-restore-{{ dag_run.run_after.strftime('%Y%m%dT%H%M%S%f') }}."
            )
        return name

    def _target_snapshot_id(self) -> str:
        # lazy: DAG-parse cost, see bench/parse_cost.py
        from airflow_provider_oac.errors import OACConfigError
        from airflow_provider_oac.validation import validate_resource_id, validate_snapshot_name

        if self.snapshot_id is not None:
            return validate_resource_id(self.snapshot_id, "snapshot_id")
        name = validate_snapshot_name(self.snapshot_name, "snapshot_name")
        snapshots = self.hook.find_snapshots(name)
        if not snapshots:
            known = ", ".join(sorted({s.name or "?" for s in self.hook.list_snapshots()})[:10]) or "none"
            raise OACConfigError(f"No snapshot named {name!r} in OAC (names there: {known}).")
        if len(snapshots) > 1:
            self.log.warning(
                "%d snapshots are named %r; restoring the newest, %s.", len(snapshots), name, snapshots[0].id
            )
        return snapshots[0].id

    # --- step 1: the safety snapshot ---------------------------------------------------------------

    def _safety_step(self, context: Context, name: str, target: str) -> SnapshotStep:
        # lazy: DAG-parse cost, see bench/parse_cost.py
        from airflow_provider_oac.operators._making import SnapshotStep

        return SnapshotStep(
            self,
            context,
            name,
            operation=SAFETY_SNAPSHOT,
            verb="take safety",
            post=lambda: self.hook.create_snapshot(name, self.rendered_secret("password")),
            work={"target_snapshot_id": target},
            made_key="safety_snapshot_id",
            push_work_request_id=False,
            failure_prefix="The safety snapshot failed, so the restore was not started: ",
            made_message="Safety snapshot %r taken: id %s.",
        )

    def _refuse_existing(self, name: str) -> None:
        # lazy: DAG-parse cost, see bench/parse_cost.py
        from airflow_provider_oac.errors import OACConfigError

        existing = self.hook.find_snapshots(name)
        if existing:
            raise OACConfigError(
                f"A snapshot named {name!r} already exists (id {existing[0].id}), so it cannot be this "
                "run's safety snapshot: give safety_snapshot_name a new name per run, e.g. "
                "before-restore-{{ dag_run.run_after.strftime('%Y%m%dT%H%M%S%f') }}."
            )

    def _safety_taken(self, context: Context, target: str, snapshot_id: str) -> None:
        context["ti"].xcom_push(key="safety_snapshot_id", value=snapshot_id)
        self.log.info("Restoring snapshot %s now.", target)

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        """Resume after the trigger: after the safety snapshot, start the restore; after the
        restore, finish."""
        # lazy: DAG-parse cost, see bench/parse_cost.py
        from airflow_provider_oac.hooks._airflow import mask_secret
        from airflow_provider_oac.triggers.events import WaitEvent

        mask_secret(self.rendered_secret("password"))  # a resumed task runs in a new process
        record = self.work_record(context)
        previous = record.get() or {}
        # The record shows the safety step unfinished: the event is the safety snapshot's (its work
        # request id may be missing from the record if that write failed; the restore starts only after).
        if event is None or not (
            previous.get("operation") == SAFETY_SNAPSHOT and not previous.get("safety_snapshot_id")
        ):
            return super().execute_complete(context, event)
        with self.oac_errors():
            name, target = previous["name"], previous["target_snapshot_id"]
            safety_snapshot_id = self._safety_step(context, name, target).resume(WaitEvent.from_dict(event))
            self._safety_taken(context, target, safety_snapshot_id)
            return self._proceed(context)

    # --- step 2: the restore -------------------------------------------------------------------------

    def _start_restore(
        self, record: Any, target: str, safety_name: str | None, safety_snapshot_id: str | None
    ) -> str:
        # lazy: DAG-parse cost, see bench/parse_cost.py
        from airflow_provider_oac.errors import OACError, OACOutcomeUnknownError
        from airflow_provider_oac.hooks._airflow import fail_exception

        # The access token first (a restore by id makes no OAC call before its POST): a refresh that
        # fails, or a kill while it waits for the refresh lock, must come before the intent.
        self.hook.get_access_token()
        # Persist before acting: a retry that finds this intent without a work request id refuses to
        # send the restore again (OAC has no call to list work requests to look for it).
        record.intend(
            f"restore snapshot {target}",
            undo=lambda: self._forget_restore_intent(record, target, safety_name, safety_snapshot_id),
            operation="restore",
            snapshot_id=target,
            safety_snapshot_id=safety_snapshot_id,
        )
        try:
            accepted = self.hook.restore_snapshot(target, self.rendered_secret("password"))
        except OACOutcomeUnknownError as exc:
            # The task fails for good and says so; clearing the task (a person's decision after
            # checking OAC) runs the restore again, so the intent goes back to what came before.
            self._forget_restore_intent(record, target, safety_name, safety_snapshot_id)
            raise fail_exception()(
                f"{exc} OAC may have started the restore; it was not sent again and the task will not "
                "retry. Check OAC, then clear the task to run it again."
            ) from None
        except OACError:
            self._forget_restore_intent(record, target, safety_name, safety_snapshot_id)
            raise
        work_request_id = accepted.work_request_id
        record.accepted(
            self.log,
            operation="restore",
            snapshot_id=target,
            work_request_id=work_request_id,
            safety_snapshot_id=safety_snapshot_id,
        )
        self.log.info("OAC started restoring snapshot %s: work request %s.", target, work_request_id)
        return work_request_id

    @staticmethod
    def _forget_restore_intent(
        record: Any, target: str, safety_name: str | None, safety_snapshot_id: str | None
    ) -> None:
        """No restore was started (or a person will decide): the record as it was before the intent,
        so a new try does not take a second safety snapshot."""
        if safety_name and safety_snapshot_id:
            with contextlib.suppress(Exception):
                record.set(
                    operation=SAFETY_SNAPSHOT,
                    name=safety_name,
                    target_snapshot_id=target,
                    safety_snapshot_id=safety_snapshot_id,
                )
        else:
            record.clear()

    def finish(self, context: Context, work_request_id: str) -> str:
        self.work_record(context).clear()
        return work_request_id
