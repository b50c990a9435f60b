"""Every DAG the README and the docs show is a file in example_dags/, run here against the emulator.

The pages include those files with ``literalinclude`` between ``# [START ...]`` / ``# [END ...]``
markers; the README, which GitHub renders raw, repeats one of them and is compared with it here.
The runs are real DAG runs (``dag.test()``, deferred tasks run their triggers in-process). Only
the poll intervals are shortened, so a run takes seconds instead of minutes.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone

import pytest

from airflow_provider_oac.hooks.oac import OACHook
from tests.conftest import REPO
from tests.helpers import cli, own_login

PASSWORD = "Snapshot-Passw0rd-Example!"
PROD_PASSWORD = "Prod-Snapshot-Passw0rd-Example!"
RUN_AFTER_FORMAT = "%Y%m%dT%H%M%S%f"
# reliability.md is make faults' recorded output, not text we write.
DOC_FILES = [
    REPO / "README.md",
    *sorted(p for p in (REPO / "docs").rglob("*.md") if p.name != "reliability.md"),
]
EXAMPLE_FILES = sorted((REPO / "example_dags").glob("*.py"))


# --- the pages show only tested code ------------------------------------------------------------------


def marked_region(path, marker: str) -> str:
    text = path.read_text()
    start = text.index(f"# [START {marker}]\n") + len(f"# [START {marker}]\n")
    return text[start : text.index(f"# [END {marker}]")]


def test_the_readme_dag_is_the_marked_region_of_the_nightly_snapshot_example():
    readme = (REPO / "README.md").read_text()
    blocks = re.findall(r"^```python\n(.*?)^```$", readme, flags=re.MULTILINE | re.DOTALL)
    dag_blocks = [block for block in blocks if "@dag" in block or "DAG(" in block]
    assert dag_blocks == [
        marked_region(REPO / "example_dags" / "oac_nightly_snapshot.py", "howto_oac_nightly_snapshot")
    ]


@pytest.mark.parametrize("page", [p for p in DOC_FILES if p.name != "README.md"], ids=lambda p: p.name)
def test_doc_pages_show_dags_only_through_literalinclude_of_an_example(page):
    blocks = re.findall(r"^```python\n(.*?)^```$", page.read_text(), flags=re.MULTILINE | re.DOTALL)
    assert not [block for block in blocks if "@dag" in block or "DAG(" in block]
    for include, options in re.findall(
        r"^```\{literalinclude\} (\S+)\n((?::\S+:.*\n)*)", page.read_text(), flags=re.MULTILINE
    ):
        included = (page.parent / include).resolve()
        assert included.parent == REPO / "example_dags", include
        for marker in re.findall(r":(?:start-after|end-before): (.+)", options):
            assert marker.strip('"') in included.read_text(), (include, marker)


@pytest.mark.parametrize("example", EXAMPLE_FILES, ids=lambda p: p.stem)
def test_every_example_dag_is_run_by_a_test(example):
    dag_ids = re.findall(r'dag_id="(\w+)"', example.read_text()) or re.findall(
        r"^def (\w+)\(\):", example.read_text(), flags=re.MULTILINE
    )
    assert dag_ids
    tests = "\n".join(p.read_text() for p in (REPO / "tests").rglob("test_*.py"))
    for dag_id in dag_ids:
        assert re.search(rf'example(?:_dag)?\("{dag_id}"', tests) or f'"{dag_id}.py"' in tests, dag_id


def test_snapshot_names_use_one_run_after_format_everywhere():
    """Names built from ``run_after`` with microseconds: ``{{ ds }}``/``data_interval_start`` fail or
    are empty on manual runs in Airflow 3, and names without microseconds collide."""
    sources = [*DOC_FILES, *EXAMPLE_FILES, *sorted((REPO / "airflow_provider_oac").rglob("*.py"))]
    problems = []
    for path in sources:
        for line_number, line in enumerate(path.read_text().splitlines(), 1):
            where = f"{path.relative_to(REPO)}:{line_number}: {line.strip()}"
            # In code (an argument's value), not in prose that explains why not.
            if re.search(
                r"[=:] *[\"'][^\"']*\{\{ *(ds|ts|ds_nodash|ts_nodash|data_interval_start|data_interval_end) *\}\}",
                line,
            ):
                problems.append(where)
            for template in re.findall(r"dag_run\.run_after[^}]*\}\}", line):
                if not template.startswith(f"dag_run.run_after.strftime('{RUN_AFTER_FORMAT}')") and (
                    "timedelta" not in template
                ):
                    problems.append(where)
            if "%Y%m%dT%H%M%S'" in line:
                problems.append(where)
    assert not problems, "\n".join(problems)


# --- running the examples -----------------------------------------------------------------------------


@pytest.fixture(autouse=False)
def logged_in(tmp_path, monkeypatch, emulator, airflow_db):
    from airflow.models import Variable

    with own_login(emulator, "oac_default", tmp_path, monkeypatch, work_request_seconds=0.2):
        Variable.set("oac_snapshot_password", PASSWORD)
        Variable.set("oac_prod_snapshot_password", PROD_PASSWORD)
        yield


def example(dag_id: str):
    """The example DAG ``dag_id``, from its own file, with poll intervals of 0.2 s."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO / "example_dags" / f"{dag_id}.py"))
    assert not bag.import_errors, bag.import_errors
    dag = bag.get_dag(dag_id)
    for task in dag.tasks:
        if hasattr(task, "poll_interval"):
            task.poll_interval = 0.2
        if hasattr(task, "poke_interval"):
            task.poke_interval = 0.2
    return dag


def states(dag_run) -> dict[str, str]:
    return {ti.task_id: ti.state for ti in dag_run.get_task_instances()}


def xcom(dag_run, task_id: str, key: str = "return_value"):
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = (
            session.query(XComModel)
            .filter_by(dag_id=dag_run.dag_id, run_id=dag_run.run_id, task_id=task_id, key=key)
            .one_or_none()
        )
        return None if row is None else XComModel.deserialize_value(row)


def make(name: str, password: str = PASSWORD) -> str:
    """A finished snapshot called ``name`` (made with the hook, outside any DAG); its id."""
    hook = OACHook("oac_default")
    accepted = hook.create_snapshot(name, password)
    work_request = hook.wait_for_work_request(accepted.work_request_id, poll_interval=0.05)
    return hook.client.find_created_snapshot(name, work_request).id


def snapshot_names(emulator) -> list[str]:
    return sorted(s["name"] for s in emulator.control.snapshots())


def test_nightly_snapshot_makes_one_snapshot_per_run_named_after_run_after(emulator, logged_in):
    first = example("oac_nightly_snapshot").test()  # a manual run: no logical date
    second = example("oac_nightly_snapshot").test(logical_date=datetime(2026, 3, 1, tzinfo=timezone.utc))
    assert states(first) == states(second) == {"snapshot": "success"}
    expected = sorted(f"nightly-{run.run_after.strftime(RUN_AFTER_FORMAT)}" for run in (first, second))
    assert snapshot_names(emulator) == expected
    assert {xcom(first, "snapshot"), xcom(second, "snapshot")} == {
        s["id"] for s in emulator.control.snapshots()
    }
    assert emulator.control.counters()["snapshots_created"] == 2


def test_rollback_restores_the_backup_named_by_airflow_oac_snapshots_list(emulator, logged_in):
    backup = example("oac_pre_deployment_backup").test()
    listed = cli("snapshots", "list", "--name-pattern", "pre-deploy-*", "--json")
    assert listed.returncode == 0, listed.stderr
    [snapshot] = json.loads(listed.stdout)
    assert snapshot["id"] == xcom(backup, "backup")

    run = example("oac_rollback").test(run_conf={"snapshot_name": snapshot["name"]})
    assert states(run) == {"restore": "success"}
    assert [r["snapshot_id"] for r in emulator.control.restores()] == [snapshot["id"]]


def test_restore_example_takes_a_safety_snapshot_then_restores_deferred(emulator, logged_in):
    golden = make("golden")
    run = example("oac_restore_snapshot").test(run_conf={"snapshot_name": "golden"})
    assert states(run) == {"restore": "success"}
    assert snapshot_names(emulator) == [
        "before-restore-" + run.run_after.strftime(RUN_AFTER_FORMAT),
        "golden",
    ]
    assert [r["snapshot_id"] for r in emulator.control.restores()] == [golden]


def test_copy_from_production_registers_the_shared_bar_and_restores_it(emulator, logged_in):
    emulator.control.put_bar_object("oac-shared-snapshots", "golden.bar", PROD_PASSWORD)
    run = example("oac_copy_from_production").test()
    assert states(run) == {"register": "success", "restore": "success"}
    [registered] = emulator.control.snapshots()
    assert (registered["name"], registered["type"]) == ("from-prod-golden", "REGISTER")
    assert [r["snapshot_id"] for r in emulator.control.restores()] == [registered["id"]]


def test_snapshot_report_lists_the_nightly_snapshots_of_the_last_day(emulator, logged_in):
    nightly = example("oac_nightly_snapshot").test()
    make("other-snapshot")
    run = example("oac_snapshot_report").test()
    assert states(run) == {"list": "success", "report": "success"}
    assert xcom(run, "report") == [f"nightly-{nightly.run_after.strftime(RUN_AFTER_FORMAT)}"]


def test_delete_example_deletes_every_snapshot_of_the_name_and_its_bar_files(emulator, logged_in):
    make("scratch")
    make("scratch")
    kept = make("keep-me")
    run = example("oac_delete_snapshot").test(run_conf={"snapshot_name": "scratch"})
    assert states(run) == {"delete": "success"}
    assert [s["id"] for s in emulator.control.snapshots()] == [kept]
    assert [o["object"] for o in emulator.control.bar_objects()] == ["keep-me.bar"]


def test_retention_deletes_only_snapshots_beyond_the_newest_7_and_older_than_30_days(emulator, logged_in):
    ids = [make(f"nightly-{n}") for n in range(9)]
    make("other-old")
    # Back-date the first three nightly ones and the other one by 40 days (the emulator runs in this
    # process; its clock only moves forward).
    for snapshot_id in [*ids[:3], emulator.control.snapshots()[-1]["id"]]:
        emulator.state.oac._snapshots[snapshot_id].time_created -= timedelta(days=40).total_seconds()
    run = example("oac_retention").test()
    assert states(run) == {"prune": "success"}
    # Newest 7: nightly-2 (old) .. nightly-8 stay; nightly-0 and -1 are old and beyond them.
    assert sorted(xcom(run, "prune")) == sorted(ids[:2])
    assert snapshot_names(emulator) == sorted(["other-old", *(f"nightly-{n}" for n in range(2, 9))])


def test_restore_then_wait_hands_the_work_request_to_the_sensor(emulator, logged_in):
    golden = make("golden")
    run = example("oac_restore_then_wait").test()
    assert states(run) == {"restore": "success", "wait_for_restore": "success"}
    [restore] = emulator.control.restores()
    assert restore["snapshot_id"] == golden
    assert xcom(run, "restore") == restore["work_request_id"]


def test_snapshot_consumer_runs_its_report_and_retention(emulator, logged_in):
    make("pre-deploy-1")
    run = example("oac_snapshot_consumer").test()
    assert states(run) == {"report": "success", "prune": "success"}
    assert xcom(run, "prune") == []
    assert snapshot_names(emulator) == ["pre-deploy-1"]


# --- across instances: the environment refresh and the DR drill (two emulated instances) ---------------


def test_environment_refresh_copies_prod_into_test_with_a_safety_snapshot_and_notifies(
    tmp_path, monkeypatch, airflow_db
):
    from airflow.models import Variable

    from tests.instances import two_instances

    with two_instances(tmp_path, monkeypatch) as pair:
        Variable.set("oac_refresh_password", PASSWORD)
        prod_content = pair.source.control.state()["content"]
        run = example("oac_environment_refresh").test()

        assert states(run) == {"refresh_test_from_prod": "success", "notify": "success"}
        stamp = run.run_after.strftime(RUN_AFTER_FORMAT)
        assert pair.target.control.state()["content"] == prod_content
        assert [s["name"] for s in pair.source.control.snapshots()] == [f"prod-for-test-{stamp}"]
        # TEST keeps only its safety snapshot: the registration of PROD's BAR was removed.
        [safety] = pair.target.control.snapshots()
        assert safety["name"] == f"test-before-refresh-{stamp}"
        assert f"restore safety snapshot {safety['id']} on TEST" in xcom(run, "notify")
        figures = pair.figures()
        assert figures["source"]["snapshot_posts"] == figures["source"]["counters"]["snapshots_created"] == 1
        assert figures["target"]["snapshot_posts"] == 2 and figures["target"]["restore_posts"] == 1
        assert figures["target"]["restores"] == ["SUCCEEDED"]


def test_dr_drill_restores_the_primary_on_a_standby_in_another_region_and_cleans_up(
    tmp_path, monkeypatch, airflow_db
):
    from airflow.models import Variable

    from tests.instances import two_instances

    with two_instances(
        tmp_path,
        monkeypatch,
        source="primary",
        target="standby",
        source_conn="oac_primary",
        target_conn="oac_standby",
        target_region="eu-frankfurt-1",
        target_namespace="standbyns",
    ) as pair:
        Variable.set("oac_dr_password", PASSWORD)
        primary_content = pair.source.control.state()["content"]
        run = example("oac_dr_drill").test()

        assert states(run) == {"primary_to_standby": "success"}
        assert pair.target.control.state()["content"] == primary_content
        # The standby registered the BAR in the primary's region and namespace, then nothing is left.
        log = pair.target.control.request_log()
        assert sum(1 for e in log if e["method"] == "POST" and e["path"].endswith("/snapshots")) == 1
        assert pair.source.control.snapshots() == pair.target.control.snapshots() == []
        assert pair.source.control.bar_objects() == []
        result = xcom(run, "primary_to_standby")
        assert result["bar_deleted"] and result["registration_removed"]
