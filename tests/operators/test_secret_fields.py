"""A rendered snapshot password stays out of the rendered fields Airflow 3.0 sends unredacted.

The DAG-run side (the supervisor's output in a deployment) is checked by
tests/operators/test_snapshot_operators.py on 3.0 and by scripts/compat_row.py's deployment.
"""

from __future__ import annotations

import pytest

from airflow_provider_oac.operators.lifecycle import OACRegisterSnapshotOperator
from airflow_provider_oac.operators.snapshot import OACCreateSnapshotOperator, OACRestoreSnapshotOperator
from airflow_provider_oac.version_compat import AIRFLOW_V_3_1_PLUS
from tests.helpers import SNAPSHOT_PASSWORD

OPERATORS = [
    lambda: OACCreateSnapshotOperator(task_id="op", name="n", password="{{ pw }}"),
    lambda: OACRestoreSnapshotOperator(task_id="op", snapshot_name="n", password="{{ pw }}"),
    lambda: OACRegisterSnapshotOperator(task_id="op", name="n", bar_uri="file:///x.bar", password="{{ pw }}"),
]


@pytest.mark.parametrize("make", OPERATORS, ids=["create", "restore", "register"])
def test_the_rendered_password_is_used_but_not_left_in_the_field_on_3_0(make):
    op = make()
    op.render_template_fields({"pw": SNAPSHOT_PASSWORD})
    assert op.rendered_secret("password") == SNAPSHOT_PASSWORD
    # 3.0 sends the fields as they are; 3.1+ redact a field named password themselves.
    assert op.password == (SNAPSHOT_PASSWORD if AIRFLOW_V_3_1_PLUS else "***")
