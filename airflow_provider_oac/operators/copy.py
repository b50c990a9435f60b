"""Copy a snapshot from one OAC instance to another: the environment refresh (PROD -> TEST) and
the DR drill (primary -> standby), in one task. The steps live in :mod:`airflow_provider_oac.refresh`
(shared with ``airflow-oac snapshots copy``), loaded in ``execute`` only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_oac.links import OACInstanceLink, OACSourceInstanceLink
from airflow_provider_oac.operators._base import OACBaseOperator
from airflow_provider_oac.operators.snapshot import check_literal_new_password

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_oac.hooks.oac import OACHook
    from airflow_provider_oac.operators._base import WorkRecord


class OACCopySnapshotOperator(OACBaseOperator):
    """Copy a snapshot from the instance of ``source_conn_id`` to that of ``target_conn_id`` and
    restore it there.

    In order: check both OAC versions (``GET /system``; a missing version only warns); make
    snapshot ``snapshot_name`` on the source (or take an existing one: ``use_existing=True``, or
    ``snapshot_id``); REGISTER its BAR file on the target, naming the bucket's region and
    namespace when they are known (the snapshot's storage, else the source connection's
    ``bucket_region`` / ``bucket_namespace`` extras); optionally take a safety snapshot of the
    target; restore; remove the target's registration (``keep_registration=False``) and, with
    ``delete_bar=True``, the source snapshot and its BAR file.

    Each step is recorded in the task's work record before and after its POST: a retry, or a new
    try after a crash, re-attaches to the recorded work (by work request, or by name after a lost
    answer) and never sends a step twice. A restore whose answer was lost fails the task for good
    (a person checks the target). Two connections, two logins, two token stores: the instances may
    sit in different identity domains, regions and tenancies.

    Returns (XCom) the copy's result as a dict (see
    :func:`~airflow_provider_oac.assets.oac_refresh_asset`); with that asset of the target among
    ``outlets``, the asset event carries it. Extra links open both instances.

    The waits run in the worker: ``deferrable`` is not supported yet and is ignored (with a
    warning when set).

    :param source_conn_id: the ``oac`` connection of the instance to copy from.
    :param target_conn_id: the ``oac`` connection of the instance to restore (also ``oac_conn_id``).
    :param password: the BAR file's password (templated, masked); also the safety snapshot's.
    :param snapshot_name: the snapshot to make on the source (templated); with
        ``use_existing=True``, the existing snapshot to copy (the newest of that name).
    :param snapshot_id: or copy this existing snapshot of the source (templated).
    :param registered_name: its name on the target (templated; default: the source's name).
    :param safety_snapshot_name: first take a snapshot of the target under this name (templated).
    :param keep_registration: leave the target's registration in place (default: removed).
    :param delete_bar: delete the snapshot the copy made on the source, with its BAR file.
    :param bucket: the source's bucket for a new snapshot (default: the source connection's).
    """

    template_fields: Sequence[str] = (
        "snapshot_name",
        "snapshot_id",
        "password",
        "registered_name",
        "safety_snapshot_name",
        "bucket",
    )
    secret_template_fields = ("password",)
    operator_extra_links = (OACInstanceLink(), OACSourceInstanceLink())  # type: ignore[assignment]

    def __init__(
        self,
        *,
        source_conn_id: str,
        target_conn_id: str,
        password: str,
        snapshot_name: str | None = None,
        snapshot_id: str | None = None,
        use_existing: bool = False,
        registered_name: str | None = None,
        safety_snapshot_name: str | None = None,
        keep_registration: bool = False,
        delete_bar: bool = False,
        bucket: str | None = None,
        **kwargs: Any,
    ):
        # lazy: DAG-parse cost, see bench/parse_cost.py
        from airflow_provider_oac.errors import OACConfigError
        from airflow_provider_oac.validation import require_text

        kwargs.pop("oac_conn_id", None)
        super().__init__(oac_conn_id=target_conn_id, **kwargs)
        fix = "give the id of an oac connection (airflow-oac login writes it)"
        self.source_conn_id = require_text(source_conn_id, "source_conn_id", fix, max_length=250)
        self.target_conn_id = self.oac_conn_id
        if self.source_conn_id == self.target_conn_id:
            raise OACConfigError(
                f"source_conn_id and target_conn_id are both {self.source_conn_id!r}: a copy goes from one "
                "instance to another (to restore an instance from its own snapshot, see the rollback example)."
            )
        if (snapshot_id is None) == (snapshot_name is None):
            raise OACConfigError("Pass exactly one of snapshot_name or snapshot_id.")
        if (snapshot_name is not None and not use_existing) or safety_snapshot_name is not None:
            check_literal_new_password(password)  # a new BAR file is made with it
        if delete_bar and (use_existing or snapshot_id is not None):
            raise OACConfigError(
                "delete_bar deletes only a snapshot the copy made: not with an existing one."
            )
        self.password = password
        self.snapshot_name = snapshot_name
        self.snapshot_id = snapshot_id
        self.use_existing = use_existing
        self.registered_name = registered_name
        self.safety_snapshot_name = safety_snapshot_name
        self.keep_registration = keep_registration
        self.delete_bar = delete_bar
        self.bucket = bucket

    def execute(self, context: Context) -> dict[str, Any]:
        # lazy: DAG-parse cost, see bench/parse_cost.py
        from airflow_provider_oac.errors import OACCopyNeedsAPerson
        from airflow_provider_oac.hooks._airflow import fail_exception, mask_secret
        from airflow_provider_oac.refresh import SnapshotCopy

        password = self.rendered_secret("password")
        mask_secret(password)
        if self.deferrable:
            self.log.warning("OACCopySnapshotOperator waits in the worker: deferrable is not supported yet.")
        with self.oac_errors():
            self._check_inputs(password)
            context["ti"].xcom_push(key=OACInstanceLink.xcom_key, value=self.hook.config.oac_url)
            context["ti"].xcom_push(key=OACSourceInstanceLink.xcom_key, value=self.source_hook.config.oac_url)
            self.warn_if_login_expiring()
            copy = SnapshotCopy(
                source=self.source_hook,
                target=self.hook,
                journal=_RecordJournal(self.work_record(context)),
                password=password,
                log=self.log,
                snapshot_name=self.snapshot_name,
                snapshot_id=self.snapshot_id,
                use_existing=self.use_existing,
                registered_name=self.registered_name,
                safety_snapshot_name=self.safety_snapshot_name,
                keep_registration=self.keep_registration,
                delete_bar=self.delete_bar,
                bucket=self.bucket,
                poll_interval=self.poll_interval,
                timeout=self.timeout,
            )
            try:
                result = copy.run().as_dict()
            except OACCopyNeedsAPerson as exc:
                raise fail_exception()(str(exc)) from None
        result.update(source_conn_id=self.source_conn_id, target_conn_id=self.target_conn_id)
        # lazy: DAG-parse cost, see bench/parse_cost.py
        from airflow_provider_oac.assets import announce_copy

        announce_copy(self, context, result)
        return result

    @property
    def source_hook(self) -> OACHook:
        """The source's hook: its own connection, login and token store."""
        hook = self.__dict__.get("_source_hook")
        if hook is None:
            # lazy: DAG-parse cost, see bench/parse_cost.py
            from airflow_provider_oac.hooks.oac import OACHook

            hook = self.__dict__["_source_hook"] = OACHook(self.source_conn_id)
        return hook

    def _check_inputs(self, password: Any) -> None:
        # lazy: DAG-parse cost, see bench/parse_cost.py
        from airflow_provider_oac.validation import (
            existing_password_warning,
            validate_new_snapshot_password,
            validate_password,
            validate_snapshot_name,
        )

        makes_bar = (self.snapshot_name is not None and not self.use_existing) or self.safety_snapshot_name
        if makes_bar:
            validate_new_snapshot_password(password, "password")
        else:
            warning = existing_password_warning(validate_password(password, "password"), "password")
            if warning:
                self.log.warning("%s", warning)
        for name in ("snapshot_name", "registered_name", "safety_snapshot_name"):
            if getattr(self, name) is not None:
                setattr(self, name, validate_snapshot_name(getattr(self, name), name))


class _RecordJournal:
    """The copy's journal in the task's work record (kept across tries)."""

    def __init__(self, record: WorkRecord):
        self._record = record

    def get(self) -> dict[str, Any] | None:
        return self._record.get()

    def put(self, record: dict[str, Any]) -> None:
        self._record.set(**record)

    def clear(self) -> None:
        self._record.clear()
