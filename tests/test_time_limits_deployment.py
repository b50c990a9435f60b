"""Time limits and kills in a real deployment (issue 15, item 3): API server, scheduler
(LocalExecutor), DAG processor and triggerer, the emulator holding every work request unfinished.

Four runs at once, each creating one snapshot: a wait in the worker and a deferred one, each with
``execution_timeout=LIMIT``; and one of each with a long limit that a person stops (marks the task
failed through the REST API: SIGTERM and ``on_kill`` in the worker, the trigger's ``on_kill`` on
Airflow 3.3). Each must end (the time-limited ones about LIMIT seconds after the task started),
log one line naming its work request and how to check on it, and keep its record: after the work
requests are let finish, clearing the tasks re-attaches, with no second POST.

The runs are in tests/time_limits.py, which the CeleryExecutor bench's ``time_limits`` scenario
shares. Prints the figures docs/scale-out.md quotes ("Time limits and kills").
"""

from __future__ import annotations

import json

import pytest

from airflow_provider_oac.version_compat import AIRFLOW_V_3_3_PLUS
from tests.deployment import AirflowDeployment
from tests.test_real_scheduler import PASSWORD, cli_login
from tests.time_limits import DAGS, KILLED, LIMIT, LIMITED, POLL, four_runs, measure

# serial: it measures when each wait ends (within a poll of its limit), so it runs alone after the
# parallel part of make test (see docs/development.md).
pytestmark = [pytest.mark.deployment, pytest.mark.serial, pytest.mark.timeout(1500)]


def test_time_limits_and_kills_end_the_wait_keep_the_record_and_reruns_reattach(emulator, tmp_path):
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "oac_limits.py").write_text(DAGS)
    home = tmp_path / "home"
    deployment = AirflowDeployment(
        home, dags_folder=dags, env={"AIRFLOW_PROVIDER_OAC_STATE_DIR": str(tmp_path / "state")}
    )
    deployment.airflow("db", "migrate", timeout=600)
    cli_login(deployment, emulator)
    deployment.airflow("variables", "set", "oac_snapshot_password", PASSWORD)
    with deployment:
        outcome = four_runs(deployment, emulator.control, [home])
    stopped, logs, reruns, figures = outcome.stopped, outcome.logs, outcome.reruns, outcome.figures
    runs = outcome.runs

    for dag_id in LIMITED + KILLED:
        assert stopped[dag_id], f"{dag_id}: no 'Stopped waiting' line\n{logs[dag_id][-3000:]}"
    for dag_id in LIMITED:
        # Ends about LIMIT s after execute began (Airflow's start_date is earlier: the DAG file's parse).
        assert LIMIT - 1 <= figures[dag_id]["task_seconds"] <= LIMIT + 60, (dag_id, figures[dag_id])
        assert "execution_timeout" in stopped[dag_id][0]
    assert "the task was killed" in stopped["oac_kill_worker"][0]
    if AIRFLOW_V_3_3_PLUS:  # BaseTrigger.on_kill
        assert "stopped by a user while deferred" in stopped["oac_kill_deferred"][0]
    for dag_id in runs:
        line = stopped[dag_id][0]
        assert "airflow-oac snapshots wait" in line and "--conn-id oac_default" in line, line
        assert {r["state"] for r in [reruns[dag_id]]} == {"success"}, (dag_id, logs[dag_id][-3000:])
        assert "Re-attaching to work request" in logs[dag_id], dag_id
    assert outcome.released == len(runs)
    assert outcome.created == len(runs)
    assert outcome.created_after_clear == len(runs), "a rerun posted again"
    measure(outcome, [home])
    for dag_id in LIMITED:
        # execution_timeout counts from execute (both modes): the wait ends then, give or take a poll.
        assert LIMIT - 1 <= figures[dag_id]["wait_ended_after_execute_s"] <= LIMIT + POLL + 2, figures[dag_id]
    print("time limit figures:", json.dumps({"limit_s": LIMIT, "poll_interval_s": POLL, **figures}))
