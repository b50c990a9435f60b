"""The short form of the copy's fault rows (``make faults`` runs them all): a lost register answer
is waited for by name, a lost restore answer is never sent again."""

from __future__ import annotations

import pytest

from tests.faults.copy_faults import SCENARIOS, run_row

pytestmark = [pytest.mark.usefixtures("airflow_db"), pytest.mark.timeout(600)]


@pytest.mark.parametrize("index", range(len(SCENARIOS)), ids=[s.name for s in SCENARIOS])
def test_the_copy_fault_breaks_no_invariant(tmp_path, capfd, index):
    row = run_row(SCENARIOS[index], tmp_path, index, output=lambda: capfd.readouterr().out)

    assert row.broken == [], row
    assert row.duplicates == 0
