"""OACHook: an Airflow connection turned into an authenticated OAC client.

A thin adapter: the connection's fields are checked by :mod:`.config`, tokens are kept by
:class:`~.token_manager.TokenManager`, and every OAC call is the :mod:`airflow_provider_oac.client`'s.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import AirflowNotFoundException, BaseHook

from airflow_provider_oac.errors import OACConfigError, OACError, OACNotFoundError
from airflow_provider_oac.hooks.config import (
    API_KEY_STORAGE_AUTH,
    CONN_TYPE,
    DEFAULT_CONN_ID,
    OACConnectionConfig,
    api_key_storage_auth_message,
    connection_config,
    connection_extra,
)

if TYPE_CHECKING:
    from airflow_provider_oac.client.aio import AsyncOACClient
    from airflow_provider_oac.client.models import Accepted, Snapshot, SnapshotStorageSpec, WorkRequest
    from airflow_provider_oac.client.retention import PrunePlan
    from airflow_provider_oac.client.sync import OACClient
    from airflow_provider_oac.hooks.token_manager import TokenManager

#: Warn in task logs and ``status`` when the login expires sooner than this (seconds).
LOGIN_EXPIRY_WARNING = 24 * 3600.0
#: test_connection() gives up on the cross-host lock after this many seconds (a refresh holds it
#: for well under a second).
TEST_LOCK_TIMEOUT = 15.0


def load_connection(conn_id: str) -> Any:
    """The Airflow connection ``conn_id``: through the Task SDK inside tasks and the triggerer,
    else secrets backends, ``AIRFLOW_CONN_*`` and then the metadata database (scripts, the CLI)."""
    # lazy: DAG-parse cost, see bench/parse_cost.py
    from airflow_provider_oac.hooks._airflow import in_supervised_process

    if in_supervised_process():
        return BaseHook.get_connection(conn_id)
    # lazy: DAG-parse cost; only scripts and the CLI read connections outside the Task SDK
    from airflow.models.connection import Connection

    return Connection.get_connection_from_secrets(conn_id)


class OACHook(BaseHook):
    """Talk to one Oracle Analytics Cloud instance through the connection ``oac_conn_id``.

    Connection fields: Host = OAC URL; Login = IAM client id; Password = refresh token (written
    by ``airflow-oac login``); Extra = ``iam_url``, ``scope`` and the snapshot storage defaults
    (``bucket``, ``storage_auth_type``, ``bucket_namespace``, ``bucket_region``), optionally
    ``lock_conn_id`` (cross-host refresh lock) and ``refresh_token_lifetime`` (seconds).
    """

    conn_name_attr = "oac_conn_id"
    default_conn_name = DEFAULT_CONN_ID
    conn_type = CONN_TYPE
    hook_name = "Oracle Analytics Cloud"

    def __init__(
        self,
        oac_conn_id: str = DEFAULT_CONN_ID,
        *,
        timeout: float | None = None,
        config: OACConnectionConfig | None = None,
        refuse_state_split: bool = False,
        **kwargs: Any,
    ):
        """``config``: the connection's settings when the caller has read them already (the CLI
        reads the definition tasks get and says where it found it); by default they are read from
        Airflow on first use. ``refuse_state_split``: refuse to refresh beside another OS user's
        token state (the CLI; tasks only warn)."""
        super().__init__(**kwargs)
        if config is not None and config.conn_id != oac_conn_id:
            raise ValueError(f"config is for connection {config.conn_id!r}, not {oac_conn_id!r}")
        self.oac_conn_id = oac_conn_id
        self._timeout = timeout
        self._given_config = config
        self.refuse_state_split = refuse_state_split

    # --- configuration and tokens ---------------------------------------------------------------

    @cached_property
    def config(self) -> OACConnectionConfig:
        if self._given_config is not None:
            return self._given_config

        try:
            conn = load_connection(self.oac_conn_id)
        except AirflowNotFoundException:
            # Final, like any bad input: retrying cannot make the connection appear.
            raise OACConfigError(
                f"Connection {self.oac_conn_id!r} does not exist: run airflow-oac login --conn-id "
                f"{self.oac_conn_id} (or create it in Airflow)."
            ) from None
        config = connection_config(
            self.oac_conn_id,
            host=conn.host,
            login=conn.login,
            password=conn.password,
            extra=connection_extra(conn, self.oac_conn_id),
            conn_type=conn.conn_type,
        )
        for warning in config.warnings:
            self.log.warning("%s", warning)
        return config

    @cached_property
    def token_manager(self) -> TokenManager:
        # lazy: DAG-parse cost, see bench/parse_cost.py
        from airflow_provider_oac.hooks.locks import cross_host_lock
        from airflow_provider_oac.hooks.token_manager import TokenManager
        from airflow_provider_oac.hooks.token_store import VariableTokenStore

        config = self.config
        lock = None
        if config.lock_conn_id:
            lock = cross_host_lock(config.conn_id, self._lock_connection(config.lock_conn_id))
        return TokenManager(
            config,
            VariableTokenStore(config.refresh_token),
            cross_host_lock=lock,
            refuse_state_split=self.refuse_state_split,
        )

    def _lock_connection(self, lock_conn_id: str) -> Any:
        try:
            return load_connection(lock_conn_id)
        except AirflowNotFoundException:
            raise OACConfigError(
                f"Connection {self.oac_conn_id!r}: Extra 'lock_conn_id' names {lock_conn_id!r}, which does "
                "not exist: create it (type postgres or redis) or remove the extra."
            ) from None

    def get_access_token(self) -> str:
        """A valid OAC access token, refreshed (once for all callers) when needed."""
        return self.token_manager.get_access_token()

    def login_expiry_warning(self, now: float | None = None) -> str | None:
        """A one-line warning when the login expires within a day, else None. ``now`` defaults to
        the token manager's clock (tests move it instead of sleeping)."""
        tokens = self.token_manager
        expires_at = tokens.login_expires_at()
        if expires_at is None:
            return None
        left = expires_at - (tokens.now() if now is None else now)
        if left > LOGIN_EXPIRY_WARNING:
            return None
        when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(expires_at))
        return (
            f"The OAC login of connection {self.oac_conn_id!r} expires at {when} ({max(left, 0) / 3600:.1f} h) "
            f"unless a task refreshes it: run airflow-oac login --conn-id {self.oac_conn_id}, or schedule "
            "OACKeepAliveOperator (example DAG oac_keep_alive) more often than the login's lifetime."
        )

    # --- clients ----------------------------------------------------------------------------------

    def get_conn(self) -> OACClient:
        """A sync OAC client authenticated through this connection."""
        return self.client

    @cached_property
    def client(self) -> OACClient:
        # lazy: DAG-parse cost, see bench/parse_cost.py
        from airflow_provider_oac.client.sync import OACClient

        config = self.config
        timeout = self._timeout or config.timeout
        return OACClient(config.oac_url, self.token_manager, timeout=(10.0, timeout), verify=config.verify)

    async def aget_async_client(self) -> AsyncOACClient:
        """An async OAC client (httpx), for triggers and other coroutines. Close it when done.

        Reads the connection and the lock connection (sync Task SDK calls) off the event loop,
        bridged as the installed Airflow's triggerer needs."""
        # lazy: DAG-parse cost, see bench/parse_cost.py
        from airflow_provider_oac.hooks._airflow import run_sync_sdk

        await run_sync_sdk(lambda: self.token_manager)
        return self.get_async_client()

    def get_async_client(self) -> AsyncOACClient:
        """An async OAC client (httpx), built from sync code. From a coroutine use
        ``await hook.aget_async_client()``: building it here would read the connections on the
        event loop's thread."""
        # lazy: DAG-parse cost, see bench/parse_cost.py
        from airflow_provider_oac.client.aio import AsyncOACClient

        if "token_manager" not in self.__dict__:
            try:
                asyncio.get_running_loop()
            except RuntimeError:
                pass
            else:
                raise OACError(
                    "OACHook.get_async_client() was called on an event loop before the connection was "
                    "read: use client = await hook.aget_async_client()."
                )
        config = self.config
        timeout = self._timeout or config.timeout
        return AsyncOACClient(
            config.oac_url, self.token_manager, timeout=(10.0, timeout), verify=config.verify
        )

    # --- snapshots ----------------------------------------------------------------------------------

    def storage_spec(
        self,
        bucket: str | None = None,
        *,
        storage_auth_type: str | None = None,
        bucket_namespace: str | None = None,
        bucket_region: str | None = None,
    ) -> SnapshotStorageSpec:
        """Where BAR files go: the arguments, else the connection's storage extras."""
        # lazy: DAG-parse cost, see bench/parse_cost.py
        from airflow_provider_oac.client.models import SnapshotStorageSpec

        config = self.config
        bucket = bucket or config.bucket
        if not bucket:
            raise OACConfigError(
                f"No bucket for the snapshot: pass bucket=... or set the Extra 'bucket' of connection "
                f"{self.oac_conn_id!r}."
            )
        auth_type = storage_auth_type or config.storage_auth_type
        if auth_type == API_KEY_STORAGE_AUTH:
            where = (
                "storage_auth_type"
                if storage_auth_type
                else f"Connection {self.oac_conn_id!r}: Extra 'storage_auth_type'"
            )
            raise OACConfigError(api_key_storage_auth_message(where))
        return SnapshotStorageSpec(
            bucket=bucket,
            auth_type=auth_type,
            namespace=bucket_namespace or config.bucket_namespace,
            region=bucket_region or config.bucket_region,
        )

    def list_snapshots(
        self,
        *,
        name: str | None = None,
        name_pattern: str | None = None,
        created_after: datetime | str | None = None,
        created_before: datetime | str | None = None,
        created_by: str | None = None,
    ) -> list[Snapshot]:
        """Snapshots made or registered through the REST API, newest first.

        OAC's list has no filters or paging: the whole list is fetched and filtered here (see
        :class:`~airflow_provider_oac.client.retention.SnapshotFilter`): ``name`` exact,
        ``name_pattern`` an fnmatch glob, ``created_after`` / ``created_before`` exclusive bounds
        (datetime or ISO 8601 text), ``created_by`` exact. Filters are checked before the call.
        """
        # lazy: DAG-parse cost, see bench/parse_cost.py
        from airflow_provider_oac.client.retention import SnapshotFilter

        selection = SnapshotFilter(
            name=name,
            name_pattern=name_pattern,
            created_after=created_after,
            created_before=created_before,
            created_by=created_by,
        )
        return selection.apply(self.client.list_snapshots())

    def get_snapshot(self, snapshot_id: str) -> Snapshot:
        return self.client.get_snapshot(snapshot_id)

    def find_snapshots(self, name: str) -> list[Snapshot]:
        """Snapshots called ``name``, newest first."""
        return self.client.find_snapshots(name)

    def create_snapshot(
        self,
        name: str,
        password: str,
        *,
        bucket: str | None = None,
        bar_uri: str | None = None,
        storage_auth_type: str | None = None,
    ) -> Accepted:
        storage = self.storage_spec(bucket, storage_auth_type=storage_auth_type)
        return self.client.create_snapshot(name=name, password=password, storage=storage, bar_uri=bar_uri)

    def restore_snapshot(self, snapshot_id: str, password: str) -> Accepted:
        return self.client.restore_snapshot(snapshot_id, password)

    def delete_snapshot(self, snapshot_id: str, *, delete_storage: bool = False) -> None:
        self.client.delete_snapshot(snapshot_id, delete_storage=delete_storage)

    def register_snapshot(
        self,
        name: str,
        bar_uri: str,
        *,
        password: str | None = None,
        bucket: str | None = None,
        storage_auth_type: str | None = None,
        bucket_namespace: str | None = None,
        bucket_region: str | None = None,
    ) -> Accepted:
        """Register a BAR file already in Object Storage (``file:///<object name>``) as snapshot
        ``name`` (``type: REGISTER``). Storage defaults come from the connection, as for a create.
        ``password`` may be left out and given at restore. Sent once, like a create."""
        storage = self.storage_spec(
            bucket,
            storage_auth_type=storage_auth_type,
            bucket_namespace=bucket_namespace,
            bucket_region=bucket_region,
        )
        return self.client.register_snapshot(name, bar_uri, storage, password=password)

    def prune_snapshots(
        self,
        *,
        name_pattern: str,
        keep_last: int | None = None,
        max_age: timedelta | float | None = None,
        delete_storage: bool = False,
        dry_run: bool = True,
        now: datetime | None = None,
    ) -> PrunePlan:
        """Delete the snapshots a retention rule lets go; by default only plan and log (dry run).

        Among snapshots whose name matches the fnmatch glob ``name_pattern``: keep the newest
        ``keep_last``; with ``max_age`` (timedelta or seconds) delete only older ones; with both,
        delete those beyond the newest ``keep_last`` *and* older than ``max_age``. Snapshots
        without a creation time are never deleted. ``delete_storage`` also deletes their BAR files.
        ``now`` (default: the current time) is what ages are measured from.

        Returns the :class:`~airflow_provider_oac.client.retention.PrunePlan`; after a real run its
        ``deleted`` lists the ids removed. Deletion runs oldest first and stops at the first error.
        """
        # lazy: DAG-parse cost, see bench/parse_cost.py
        from airflow_provider_oac.client.retention import (
            RetentionRule,
            as_max_age,
            as_utc_datetime,
            plan_prune,
        )

        rule = RetentionRule(name_pattern, keep_last, None if max_age is None else as_max_age(max_age))
        for flag, value in (("delete_storage", delete_storage), ("dry_run", dry_run)):
            if not isinstance(value, bool):
                raise OACConfigError(f"{flag} must be True or False, not {type(value).__name__}.")
        moment = datetime.now(timezone.utc) if now is None else as_utc_datetime(now, "now")
        plan = replace(plan_prune(self.client.list_snapshots(), rule, moment), dry_run=dry_run)
        self.log.info("%s", plan.summary())
        for line in plan.lines():
            self.log.info("%s %s", "Would delete" if dry_run else "Deleting", line)
        if dry_run:
            return plan
        deleted: list[str] = []
        for snapshot in plan.delete:
            try:
                self.client.delete_snapshot(snapshot.id, delete_storage=delete_storage)
            except OACNotFoundError:
                self.log.info("Snapshot %s (%r) was already gone.", snapshot.id, snapshot.name)
            except OACError:
                self.log.error(
                    "Prune stopped after deleting %d of %d snapshots: %s",
                    len(deleted),
                    len(plan.delete),
                    ", ".join(deleted) or "none",
                )
                raise
            deleted.append(snapshot.id)
        return replace(plan, deleted=tuple(deleted))

    def get_work_request(self, work_request_id: str) -> WorkRequest:
        return self.client.get_work_request(work_request_id)

    def wait_for_work_request(
        self,
        work_request_id: str,
        *,
        poll_interval: float = 10.0,
        timeout: float | None = None,
        on_poll: Any = None,
    ) -> WorkRequest:
        """Poll until the work request ends; raises OACWorkRequestFailed with OAC's error text."""
        return self.client.wait_for_work_request(
            work_request_id, poll_interval=poll_interval, timeout=timeout, on_poll=on_poll
        )

    # --- Airflow UI -------------------------------------------------------------------------------------

    def test_connection(self) -> tuple[bool, str]:
        """Checks the URLs, one token refresh, one OAC call, and the login's remaining lifetime."""
        try:
            self.get_access_token()
            count = len(self.client.list_snapshots())
            lock_note = self._check_cross_host_lock()
        except OACError as exc:
            return False, str(exc)
        message = f"Connected to {self.config.oac_url}: {count} snapshot(s) visible. {lock_note}"
        warning = self.login_expiry_warning()
        return True, f"{message} {warning}" if warning else message

    def _check_cross_host_lock(self) -> str:
        """Take and release the cross-host refresh lock once; say which one is set, or when one is needed."""
        # lazy: DAG-parse cost, see bench/parse_cost.py
        from airflow_provider_oac.hooks.locks import cross_host_lock, lock_kind

        lock_conn_id = self.config.lock_conn_id
        if not lock_conn_id:
            return (
                "No cross-host refresh lock (Extra 'lock_conn_id'): fine while all workers and triggerers "
                "run on one host; when they run on more than one, set it to a postgres or redis connection."
            )
        lock_conn = self._lock_connection(lock_conn_id)
        with cross_host_lock(self.oac_conn_id, lock_conn, timeout=TEST_LOCK_TIMEOUT)():
            pass
        kind = "PostgreSQL advisory lock" if lock_kind(lock_conn) == "postgres" else "Redis lock"
        return f"Cross-host refresh lock: {kind} through connection {lock_conn_id!r}, taken and released."

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Connection form on Airflow 3.0/3.1 (3.2+ reads get_provider_info's ui-field-behaviour)."""
        # lazy: get_provider_info is for the providers manager, not for DAG parsing
        from airflow_provider_oac.get_provider_info import get_provider_info

        behaviour = get_provider_info()["connection-types"][0]["ui-field-behaviour"]
        return {
            "hidden_fields": behaviour["hidden-fields"],
            "relabeling": behaviour["relabeling"],
            "placeholders": behaviour["placeholders"],
        }

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """Extra fields of the connection form on Airflow 3.0/3.1."""
        # lazy: Flask/WTForms only for the Airflow 3.0/3.1 connection form
        from flask_appbuilder.fieldwidgets import BS3TextFieldWidget
        from flask_babel import lazy_gettext
        from wtforms import StringField

        fields = get_provider_info_fields()
        return {
            name: StringField(
                lazy_gettext(spec["label"]), widget=BS3TextFieldWidget(), description=spec.get("description")
            )
            for name, spec in fields.items()
        }


def get_provider_info_fields() -> dict[str, Any]:
    # lazy: get_provider_info is for the providers manager, not for DAG parsing
    from airflow_provider_oac.get_provider_info import get_provider_info

    return get_provider_info()["connection-types"][0]["conn-fields"]
