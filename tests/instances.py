"""Two emulated OAC instances over one object store, each with its own identity domain, audience
and login (connection): what the copy tests, the refresh examples and the fault rows run against."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from airflow_provider_oac.emulator.config import DEFAULT_NAMESPACE, DEFAULT_REGION

PROD_CONN, TEST_CONN = "oac_prod", "oac_test"
SHARED_BUCKET = "oac-shared-snapshots"
API = "/api/20210901"


@dataclass
class Instances:
    source: Any  # EmulatorServer
    target: Any

    def posts(self, server: Any, suffix: str) -> int:
        """POSTs to ``suffix`` (e.g. ``/snapshots``) the instance answered, faults included."""
        return sum(
            1
            for entry in server.control.request_log()
            if entry["method"] == "POST" and entry["path"] == f"{API}{suffix}"
        )

    def figures(self) -> dict[str, dict[str, Any]]:
        """Per instance: snapshots made, registrations, restores, and the POSTs behind them."""
        result = {}
        for role, server in (("source", self.source), ("target", self.target)):
            snapshots = server.control.snapshots()
            result[role] = {
                "instance": server.control.state()["instance_name"],
                "snapshot_posts": self.posts(server, "/snapshots"),
                "restore_posts": self.posts(server, "/system/actions/restoreSnapshot"),
                "created": sum(1 for s in snapshots if s["type"] == "CREATE"),
                "registered": sum(1 for s in snapshots if s["type"] == "REGISTER"),
                "restores": [r["status"] for r in server.control.restores()],
                "counters": {
                    k: v
                    for k, v in server.control.counters().items()
                    if k
                    in ("snapshots_created", "snapshots_registered", "restores_started", "snapshots_deleted")
                },
            }
        return result


@contextmanager
def two_instances(
    tmp_path: Any,
    monkeypatch: Any,
    *,
    source: str = "prod",
    target: str = "test",
    target_region: str = DEFAULT_REGION,
    target_namespace: str = DEFAULT_NAMESPACE,
    source_conn: str = PROD_CONN,
    target_conn: str = TEST_CONN,
    work_request_seconds: float = 0.2,
    source_names_region: bool = True,
    **target_config: Any,
) -> Iterator[Instances]:
    """Start ``source`` and ``target`` (names), log in to each as its own connection (bucket
    ``oac-shared-snapshots``; the source connection names its region and namespace, as a DR drill
    across regions needs, unless ``source_names_region=False``), with the test's own token state
    directory."""
    from airflow_provider_oac.emulator import EmulatorConfig, EmulatorServer
    from airflow_provider_oac.emulator.storage import ObjectStore
    from airflow_provider_oac.hooks.token_manager import forget_process_cache
    from tests.helpers import login

    store = ObjectStore(threading.RLock())

    def config(name: str, **changes: Any) -> Any:
        return EmulatorConfig(
            instance_name=name,
            audience=f"https://{name}0audience0tests.analytics.ocp.oraclecloud.com",
            work_request_seconds=work_request_seconds,
            **changes,
        )

    monkeypatch.setenv("AIRFLOW_PROVIDER_OAC_STATE_DIR", str(tmp_path / "state"))
    forget_process_cache()
    with (
        EmulatorServer(config(source), store=store) as source_server,
        EmulatorServer(
            config(target, region=target_region, namespace=target_namespace, **target_config), store=store
        ) as target_server,
    ):
        where = (
            {"bucket_region": source_server.config.region, "bucket_namespace": source_server.config.namespace}
            if source_names_region
            else {}
        )
        login(source_server, source_conn, bucket=SHARED_BUCKET, **where)
        login(target_server, target_conn, bucket=SHARED_BUCKET)
        for server in (source_server, target_server):
            server.control.configure(device_interval=None, auto_approve=False)
        try:
            yield Instances(source_server, target_server)
        finally:
            forget_process_cache()
