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


def test_the_full_matrix_pairs_lock_steps_with_lock_faults_only():
    """``make faults`` runs every scenario: an emulator fault scheduled at a lock step has no runner
    (it crashed the whole run with a KeyError before the lock faults' ``applies`` checked the action)."""
    from tests.faults import locks
    from tests.faults.matrix import scenarios

    pairs = scenarios()

    assert pairs
    assert all((step.kind == "lock") == (fault.action in locks.ACTIONS) for fault, step in pairs)
