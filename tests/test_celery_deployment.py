"""The short form of issue 15's CeleryExecutor deployment (``bench/celery_deployment.py``): three
Celery workers, each its own "host" (own AIRFLOW_HOME and state directory), on this machine's
PostgreSQL (metadata database and result backend) and Redis (broker), with the provider's Redis
lock and 4-second access tokens.

Fewer runs than the long form (``make faults`` / the bench itself: 20 runs, every scenario), and two
scenarios: no fault, and ``kill -9`` of the worker that holds the most waiting backups. Every run
must succeed, with one POST per backup and restore, no spent refresh token presented and no
login revoked.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.deployment,
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.timeout(1500),
]

REPO = Path(__file__).resolve().parent.parent


def test_a_celery_deployment_survives_a_killed_worker_without_a_second_post():
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO / "bench" / "celery_deployment.py"),
            "--runs",
            "8",
            "--scenarios",
            "base,worker_kill",
            "--work-seconds",
            "20",
        ],
        cwd=REPO,
        text=True,
        capture_output=True,
        timeout=1400,
    )
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("  {")]
    report = proc.stdout[-4000:] + proc.stderr[-4000:]
    assert [row["scenario"] for row in rows] == ["base", "worker_kill"], report
    for row in rows:
        assert row["success"] == row["runs"] == 8, (row, report)
        assert row["creates"] == row["backups"] and row["restores"] == row["restore_runs"], (row, report)
        assert row["spent"] == 0 and row["revoked"] == 0, (row, report)
    assert proc.returncode == 0, report
