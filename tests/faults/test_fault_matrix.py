"""The short form of the fault matrix (``make faults`` runs all of it: ``python -m tests.faults``).

One scenario of each kind of behaviour: retried, re-attached by name, read retried in the worker
and in the trigger, a restore never sent twice, a refused token refreshed, a maybe-spent refresh
token presented again only by the task retry, a CLI login through an IAM outage; and of the token
state (tests/faults/state_faults.py): journal and Variable writes both failing, a worker SIGKILLed
while masking its new tokens.
"""

from __future__ import annotations

import pytest

from tests.faults.matrix import FAULTS, SHORT, STEPS, Runner

pytestmark = [pytest.mark.usefixtures("airflow_db"), pytest.mark.timeout(600)]


@pytest.mark.parametrize(("fault", "step"), SHORT, ids=[f"{step} / {fault}" for fault, step in SHORT])
def test_the_fault_breaks_no_invariant(emulator, tmp_path, fault, step):
    result = Runner(emulator, tmp_path).run(FAULTS[fault], STEPS[step])

    assert result.broken == [], result
