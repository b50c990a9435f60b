"""The snapshots Asset: the helper, and the event extra the create and register operators attach."""

from __future__ import annotations

import pytest

from airflow_provider_oac.assets import oac_snapshots_asset
from airflow_provider_oac.errors import OACConfigError
from airflow_provider_oac.hooks.token_manager import forget_process_cache
from tests.conftest import REPO
from tests.helpers import SNAPSHOT_PASSWORD, dag_bag, login, sync_dags_folder, write_dag

PASSWORD = SNAPSHOT_PASSWORD
IMPORTS = f"""
from airflow.sdk import Asset

from airflow_provider_oac.assets import oac_snapshots_asset
from airflow_provider_oac.operators.lifecycle import OACRegisterSnapshotOperator
from airflow_provider_oac.operators.snapshot import OACCreateSnapshotOperator
PASSWORD = {PASSWORD!r}
"""


def test_the_asset_uri_names_the_connection():
    assert oac_snapshots_asset().uri == "oac://oac_default/snapshots"
    assert oac_snapshots_asset("oac_prod.eu-1").uri == "oac://oac_prod.eu-1/snapshots"
    assert oac_snapshots_asset("oac_prod") == oac_snapshots_asset("oac_prod")


@pytest.mark.parametrize("conn_id", ["", "with space", "a/b", None])
def test_a_connection_id_that_cannot_stand_in_a_uri_is_refused(conn_id):
    with pytest.raises(OACConfigError, match="cannot name an asset"):
        oac_snapshots_asset(conn_id)


@pytest.fixture
def logged_in(tmp_path, monkeypatch, emulator, airflow_db):
    monkeypatch.setenv("AIRFLOW_PROVIDER_OAC_STATE_DIR", str(tmp_path / "state"))
    forget_process_cache()
    emulator.control.configure(work_request_seconds=0.2)
    login(emulator, "oac_default")
    yield
    forget_process_cache()


def dag_test(dag):
    """``dag.test()`` with the dags folder in the metadata DB first on 3.0 (3.1+ does it itself): a
    deployment's DAG processor activates the outlet assets before any task runs."""
    sync_dags_folder()
    return dag.test()


def asset_events(uri: str) -> list[dict]:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = (
            session.query(AssetEvent)
            .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
            .filter(AssetModel.uri == uri)
            .order_by(AssetEvent.id)
            .all()
        )
        return [dict(row.extra or {}) for row in rows]


def test_a_create_with_the_asset_as_outlet_puts_the_snapshot_in_the_event(emulator, logged_in):
    before = len(asset_events("oac://oac_default/snapshots"))
    dag = write_dag(
        "oac_asset_create",
        """
        OACCreateSnapshotOperator(
            task_id="backup", name="announced", password=PASSWORD, poll_interval=0.1,
            outlets=[oac_snapshots_asset(), Asset("s3://elsewhere/other")],
        )
        """,
        imports=IMPORTS,
    )
    run = dag_test(dag)
    assert run.state == "success"
    [snapshot] = emulator.control.snapshots()
    events = asset_events("oac://oac_default/snapshots")
    assert len(events) == before + 1
    assert events[-1] == {"snapshot_id": snapshot["id"], "name": "announced", "oac_url": emulator.url}
    assert asset_events("s3://elsewhere/other")[-1] == {}


def test_a_register_with_the_asset_as_outlet_puts_the_snapshot_in_the_event(emulator, logged_in):
    emulator.control.put_bar_object("test-bucket", "exported.bar", PASSWORD)
    dag = write_dag(
        "oac_asset_register",
        """
        OACRegisterSnapshotOperator(
            task_id="register", name="imported", bar_uri="file:///exported.bar", poll_interval=0.1,
            outlets=[oac_snapshots_asset()],
        )
        """,
        imports=IMPORTS,
    )
    run = dag_test(dag)
    assert run.state == "success"
    [snapshot] = emulator.control.snapshots()
    assert asset_events("oac://oac_default/snapshots")[-1] == {
        "snapshot_id": snapshot["id"],
        "name": "imported",
        "oac_url": emulator.url,
    }


def test_the_asset_of_another_connection_gets_no_snapshot_details(emulator, logged_in):
    dag = write_dag(
        "oac_asset_other_conn",
        """
        OACCreateSnapshotOperator(
            task_id="backup", name="elsewhere", password=PASSWORD, poll_interval=0.1,
            outlets=[oac_snapshots_asset("oac_other")],
        )
        """,
        imports=IMPORTS,
    )
    run = dag_test(dag)
    assert run.state == "success"
    assert asset_events("oac://oac_other/snapshots")[-1] == {}


def test_the_example_consumer_dag_is_scheduled_on_the_default_snapshots_asset():
    bag = dag_bag(REPO / "example_dags" / "oac_snapshot_consumer.py")
    assert not bag.import_errors
    dag = bag.dags["oac_snapshot_consumer"]
    assert list(dag.timetable.asset_condition.objects) == [oac_snapshots_asset()]


def set_paused(dag_id: str, paused: bool) -> None:
    from airflow.models.dag import DagModel
    from airflow.utils.session import create_session

    with create_session() as session:
        session.query(DagModel).filter_by(dag_id=dag_id).update({"is_paused": paused})


def queued_runs(dag_id: str) -> int:
    from airflow.models.asset import AssetDagRunQueue
    from airflow.utils.session import create_session

    with create_session() as session:
        return session.query(AssetDagRunQueue).filter_by(target_dag_id=dag_id).count()


def test_a_snapshot_event_queues_a_run_of_the_consumer_dag(emulator, logged_in):
    producer = write_dag(
        "oac_asset_producer",
        """
        OACCreateSnapshotOperator(
            task_id="backup", name="for-the-consumer-{{ run_id }}", password=PASSWORD, poll_interval=0.1,
            outlets=[oac_snapshots_asset()],
        )
        """,
        imports=IMPORTS,
    )
    assert dag_test(producer).state == "success"  # also loads the example DAGs into the metadata DB
    assert queued_runs("oac_snapshot_consumer") == 0  # paused DAGs are not queued
    set_paused("oac_snapshot_consumer", False)
    try:
        assert dag_test(producer).state == "success"
        assert queued_runs("oac_snapshot_consumer") == 1
    finally:
        set_paused("oac_snapshot_consumer", True)
