"""The copy operator in real DAG runs (``dag.test()``) against two emulated instances: PROD and
TEST (or a primary and a standby in another region), each its own identity domain and login."""

from __future__ import annotations

import pytest

from tests.helpers import SNAPSHOT_PASSWORD, console_text, sync_dags_folder, write_dag
from tests.instances import PROD_CONN, TEST_CONN, two_instances

pytestmark = pytest.mark.usefixtures("airflow_db")

IMPORTS = f"""
from airflow_provider_oac.operators.copy import OACCopySnapshotOperator
from airflow_provider_oac.assets import oac_refresh_asset
PASSWORD = {SNAPSHOT_PASSWORD!r}
"""


def copy_task(**arguments: str) -> str:
    given = {
        "task_id": "'copy'",
        "source_conn_id": repr(PROD_CONN),
        "target_conn_id": repr(TEST_CONN),
        "password": "PASSWORD",
        "poll_interval": "0.1",
        **arguments,
    }
    return f"OACCopySnapshotOperator({', '.join(f'{k}={v}' for k, v in given.items())})"


def states(run) -> dict[str, tuple[str, int]]:
    return {ti.task_id: (ti.state, ti.try_number) for ti in run.get_task_instances()}


def xcom(run, task_id: str, key: str = "return_value"):
    from tests.test_example_dags import xcom as read

    return read(run, task_id, key)


@pytest.fixture
def instances(tmp_path, monkeypatch):
    with two_instances(tmp_path, monkeypatch) as pair:
        yield pair


def test_copy_makes_registers_restores_and_removes_the_registration_once_each(instances):
    prod, test = instances.source, instances.target
    prod_content = prod.control.state()["content"]
    assert test.control.state()["content"] != prod_content

    dag = write_dag(
        "oac_copy_basic",
        copy_task(
            snapshot_name="'weekly-1'",
            safety_snapshot_name="'before-refresh-1'",
            outlets="[oac_refresh_asset('oac_test')]",
        ),
        imports=IMPORTS,
    )
    sync_dags_folder()  # on 3.0 dag.test() activates no outlet asset itself
    run = dag.test()

    assert states(run) == {"copy": ("success", 1)}
    assert test.control.state()["content"] == prod_content  # TEST now holds what PROD held
    figures = instances.figures()
    assert figures["source"]["snapshot_posts"] == 1 and figures["source"]["restore_posts"] == 0
    assert figures["target"]["snapshot_posts"] == 2  # the register and the safety snapshot
    assert figures["target"]["restore_posts"] == 1
    assert figures["target"]["restores"] == ["SUCCEEDED"]
    # The temporary registration is gone; the safety snapshot and PROD's snapshot stay.
    assert [s["name"] for s in test.control.snapshots()] == ["before-refresh-1"]
    assert [s["name"] for s in prod.control.snapshots()] == ["weekly-1"]
    result = xcom(run, "copy")
    assert result["source_snapshot_name"] == "weekly-1" and result["registration_removed"]
    assert result["source_url"] == prod.url and result["target_url"] == test.url
    # The extra links, as Airflow stored them after the task: one per instance.
    assert xcom(run, "copy", "oac_source_instance_url") == f"{prod.url}/ui/"
    assert xcom(run, "copy", "oac_instance_url") == f"{test.url}/ui/"


def test_copy_of_an_existing_snapshot_by_name_makes_nothing_on_the_source(instances):
    first = write_dag(
        "oac_copy_first", copy_task(snapshot_name="'golden'", keep_registration="True"), imports=IMPORTS
    ).test()
    assert states(first) == {"copy": ("success", 1)}
    second = write_dag(
        "oac_copy_existing",
        copy_task(snapshot_name="'golden'", use_existing="True", registered_name="'golden-again'"),
        imports=IMPORTS,
    ).test()
    assert states(second) == {"copy": ("success", 1)}
    assert instances.posts(instances.source, "/snapshots") == 1
    assert [s["name"] for s in instances.target.control.snapshots()] == ["golden"]  # kept by the first


def test_a_lost_register_answer_is_waited_for_by_name_and_never_posted_again(instances, capfd):
    instances.target.control.add_fault("POST /api/20210901/snapshots", "accept_then_error", status=502)
    run = write_dag("oac_copy_lost_register", copy_task(snapshot_name="'lost-reg'"), imports=IMPORTS).test()
    assert states(run) == {"copy": ("success", 1)}
    assert instances.posts(instances.target, "/snapshots") == 1
    assert instances.figures()["target"]["restores"] == ["SUCCEEDED"]
    assert "instead of posting again" in console_text(capfd.readouterr().out)


def test_a_retry_re_attaches_to_the_recorded_steps_and_posts_nothing_twice(instances):
    # The first poll of a target work request (the register's) fails: the first try fails after
    # the source snapshot was made and the register accepted; the retry must re-attach to both.
    instances.target.control.add_fault("GET /api/20210901/workRequests/*", "status", status=404, times=1)
    run = write_dag(
        "oac_copy_retry",
        copy_task(snapshot_name="'retried'", safety_snapshot_name="'retried-safety'"),
        retries=1,
        imports=IMPORTS,
    ).test()

    assert states(run) == {"copy": ("success", 2)}
    assert instances.posts(instances.source, "/snapshots") == 1
    assert instances.posts(instances.target, "/snapshots") == 2  # one register, one safety snapshot
    assert instances.posts(instances.target, "/system/actions/restoreSnapshot") == 1
    assert instances.target.control.state()["content"] == instances.source.control.state()["content"]
