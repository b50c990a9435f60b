"""List, delete, prune and keep-alive wait for nothing: the waiting arguments of the other OAC
operators are refused when the DAG is parsed instead of being silently ignored (issue 17)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from airflow_provider_oac.errors import OACConfigError
from airflow_provider_oac.operators.keepalive import OACKeepAliveOperator
from airflow_provider_oac.operators.lifecycle import (
    OACDeleteSnapshotOperator,
    OACListSnapshotsOperator,
    OACPruneSnapshotsOperator,
)
from airflow_provider_oac.operators.snapshot import OACCreateSnapshotOperator

SINGLE_CALL = [
    (OACListSnapshotsOperator, {}),
    (OACDeleteSnapshotOperator, {"snapshot_id": "3f2c0d1e-0000-4000-8000-000000000001"}),
    (OACPruneSnapshotsOperator, {"name_pattern": "nightly-*", "keep_last": 3}),
    (OACKeepAliveOperator, {}),
]
WAITING = {"deferrable": True, "timeout": 600, "poll_interval": 5, "wait_for_completion": False}


@pytest.mark.parametrize(("operator", "required"), SINGLE_CALL, ids=lambda v: getattr(v, "__name__", ""))
@pytest.mark.parametrize("argument", sorted(WAITING))
def test_a_waiting_argument_is_refused_in_one_line_at_parse_time(operator, required, argument):
    with pytest.raises(OACConfigError) as raised:
        operator(task_id="t", **required, **{argument: WAITING[argument]})

    message = str(raised.value)
    assert "\n" not in message
    assert message == (
        f"{operator.__name__} (task 't') does not take {argument}: it waits for nothing, so remove it "
        "(execution_timeout still limits the task)."
    )


def test_dag_default_args_for_the_waiting_operators_do_not_reach_the_single_call_ones():
    from airflow.sdk import DAG

    default_args = {**WAITING, "execution_timeout": timedelta(minutes=5)}
    with DAG("oac_default_args", schedule=None, start_date=datetime(2026, 1, 1), default_args=default_args):
        create = OACCreateSnapshotOperator(task_id="create", name="n", password="Snapshot-Pa55word!")
        single = [operator(task_id=operator.__name__, **required) for operator, required in SINGLE_CALL]

    assert (create.timeout, create.deferrable, create.poll_interval) == (600, True, 5)
    for task in single:
        assert task.execution_timeout == timedelta(minutes=5)


def test_airflow_s_own_timeouts_still_work_on_them():
    task = OACListSnapshotsOperator(task_id="t", execution_timeout=timedelta(seconds=30), retries=2)

    assert task.execution_timeout == timedelta(seconds=30)
    assert task.retries == 2
