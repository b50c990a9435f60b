"""Airflow Assets for OAC snapshots: schedule downstream DAGs on "a new snapshot was made".

URI scheme: ``oac://<oac_conn_id>/snapshots``, one asset per ``oac`` connection (that is, per OAC
instance as Airflow knows it), for example ``oac://oac_default/snapshots``. The connection id
stands where a host would; nothing is looked up, so building the asset is free at DAG-parse time.

Producer: put the asset in ``outlets`` of :class:`~airflow_provider_oac.operators.snapshot.OACCreateSnapshotOperator`
or :class:`~airflow_provider_oac.operators.lifecycle.OACRegisterSnapshotOperator`; when the task
succeeds, its asset event carries ``extra = {"snapshot_id", "name", "oac_url"}``.
Consumer: ``schedule=[oac_snapshots_asset()]``, then read ``triggering_asset_events``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import Asset

from airflow_provider_oac.errors import OACConfigError

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

SCHEME = "oac"
_CONN_ID_RE = re.compile(r"[A-Za-z0-9_.-]{1,250}")


def snapshots_asset_uri(oac_conn_id: str = "oac_default") -> str:
    """``oac://<oac_conn_id>/snapshots``. Raises OACConfigError for a connection id that cannot
    stand in a URI (Airflow's own ids are letters, digits, ``_``, ``-`` and ``.``)."""
    if not isinstance(oac_conn_id, str) or not _CONN_ID_RE.fullmatch(oac_conn_id):
        raise OACConfigError(
            f"oac_conn_id {oac_conn_id!r} cannot name an asset: use a connection id of letters, digits, "
            "'_', '-' and '.'."
        )
    return f"{SCHEME}://{oac_conn_id}/snapshots"


def oac_snapshots_asset(oac_conn_id: str = "oac_default") -> Asset:
    """The Asset of the snapshots made or registered through connection ``oac_conn_id``:
    ``Asset("oac://<oac_conn_id>/snapshots")``. Cheap: no connection or network access.

    Use it as an outlet of the create or register operator, and as the ``schedule`` of the DAG
    that should run after each new snapshot. The asset event's ``extra`` holds
    ``snapshot_id`` (None when the operator did not wait for the snapshot), ``name`` and ``oac_url``.
    """
    return Asset(snapshots_asset_uri(oac_conn_id))


def announce_snapshot(operator: Any, context: Context, *, snapshot_id: str | None, name: str) -> None:
    """Attach ``{"snapshot_id", "name", "oac_url"}`` to the asset event of the operator's
    connection's snapshots asset, when that asset is among its outlets (others are left alone)."""
    if not operator.outlets:
        return

    try:
        uri = snapshots_asset_uri(operator.oac_conn_id)
    except OACConfigError:
        return  # no asset can name this connection, so none is among the outlets
    outlets = [outlet for outlet in operator.outlets if getattr(outlet, "uri", None) == uri]
    if not outlets:
        return
    extra = {"snapshot_id": snapshot_id, "name": name, "oac_url": operator.hook.config.oac_url}
    for outlet in outlets:
        event = context["outlet_events"][outlet]
        event.extra = {**(event.extra or {}), **extra}


def refresh_asset_uri(oac_conn_id: str) -> str:
    """``oac://<oac_conn_id>/refreshes``: the content of that connection's instance was replaced by
    a copy from another instance."""
    return snapshots_asset_uri(oac_conn_id).removesuffix("/snapshots") + "/refreshes"


def oac_refresh_asset(oac_conn_id: str = "oac_default") -> Asset:
    """The Asset of the copies restored onto connection ``oac_conn_id``'s instance (an environment
    refresh, a DR drill): ``Asset("oac://<oac_conn_id>/refreshes")``. Cheap: no connection or
    network access.

    Put it in ``outlets`` of :class:`~airflow_provider_oac.operators.copy.OACCopySnapshotOperator`
    (with the target's connection id), and as the ``schedule`` of what should run on a refreshed
    instance. The event's ``extra`` is the copy's result: ``source_url``, ``target_url``,
    ``source_snapshot_id``, ``source_snapshot_name``, ``bar_uri``, ``registered_snapshot_id``,
    ``restore_work_request_id``, ``safety_snapshot_id``, the two versions, and the source and
    target connection ids.
    """
    return Asset(refresh_asset_uri(oac_conn_id))


def announce_copy(operator: Any, context: Context, extra: dict[str, Any]) -> None:
    """Attach ``extra`` (the copy's result) to the event of the target's refresh asset, when that
    asset is among the operator's outlets."""
    if not operator.outlets:
        return
    # lazy: DAG-parse cost, see bench/parse_cost.py
    from airflow_provider_oac.errors import OACConfigError

    try:
        uri = refresh_asset_uri(operator.oac_conn_id)
    except OACConfigError:
        return
    for outlet in [o for o in operator.outlets if getattr(o, "uri", None) == uri]:
        event = context["outlet_events"][outlet]
        event.extra = {**(event.extra or {}), **extra}
