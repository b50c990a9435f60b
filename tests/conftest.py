"""Shared fixtures: a throw-away AIRFLOW_HOME with a real SQLite metadata DB, and the emulator.

AIRFLOW_HOME is set here, at import, before anything imports Airflow: Airflow reads its
configuration once, on first import.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
_HOME = Path(tempfile.mkdtemp(prefix="oac-test-airflow-home-"))
# A fixed, test-only Fernet key so connection passwords are stored encrypted, as in production.
TEST_FERNET_KEY = "dGVzdC1vbmx5LWZlcm5ldC1rZXktMDAwMDAwMDAwMDA="

AIRFLOW_ENV = {
    "AIRFLOW_HOME": str(_HOME),
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__CORE__FERNET_KEY": TEST_FERNET_KEY,
    # dag.test() only runs DAGs found in a bundle on disk: the example DAGs are linked here and
    # tests write their own DAG files here (tests.helpers.write_dag).
    "AIRFLOW__CORE__DAGS_FOLDER": str(_HOME / "dags"),
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_HOME / 'airflow.db'}",
    "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
}
(_HOME / "dags").mkdir()
for _example in (REPO / "example_dags").glob("*.py"):
    (_HOME / "dags" / _example.name).symlink_to(_example)
os.environ.update(AIRFLOW_ENV)
for _name in [n for n in os.environ if n.startswith("AIRFLOW_CONN_") or n.startswith("AIRFLOW_VAR_")]:
    del os.environ[_name]


@pytest.fixture(scope="session")
def airflow_home() -> Path:
    return _HOME


@pytest.fixture(scope="session")
def airflow_db(airflow_home: Path) -> Path:
    """The session's metadata DB, migrated once (``airflow db migrate``, about 7 s)."""
    marker = airflow_home / ".migrated"
    if not marker.exists():
        subprocess.run(
            [sys.executable, "-m", "airflow", "db", "migrate"],
            check=True,
            capture_output=True,
            env={**os.environ, **AIRFLOW_ENV},
        )
        marker.touch()
    return airflow_home


@pytest.fixture(scope="session")
def emulator_server():
    """One emulator (IAM + OAC) on 127.0.0.1 for the whole session, in a background thread."""
    from airflow_provider_oac.emulator import EmulatorConfig, EmulatorServer

    server = EmulatorServer(EmulatorConfig()).start()
    yield server
    server.stop()


@pytest.fixture
def emulator(emulator_server):
    """The session's emulator, reset to its initial configuration, state and counters."""
    emulator_server.control.reset()
    yield emulator_server
    emulator_server.control.reset()
