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
    # The host journal and lock files of this session's own, not the host-wide default
    # ($TMPDIR/airflow-provider-oac-<uid>) that every other pytest process of this user (xdist
    # workers, other checkouts) would share: their logins of the same conn_id against other
    # emulators would meet in it. Tests that need another directory set their own.
    "AIRFLOW_PROVIDER_OAC_STATE_DIR": str(_HOME / "state"),
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


#: Under xdist with ``--dist loadgroup`` (make test), all tests of the modules of one group go to
#: one worker, so the API server that their package- or module-scoped fixture starts (ui_server,
#: airflow_api: half a minute to minutes of CPU each) starts once, not on every worker. Every
#: other test is its own work unit, as with ``--dist load``. The ``xdist_group`` mark cannot do
#: this: pytest-xdist 3.8 tags the grouped tests by changing their node ids, which pytest 9.2 no
#: longer lets it do, so it silently distributes them one by one (pytest-xdist issue 1386).
XDIST_GROUPS = {
    "tests/ui/test_login_routes.py": "ui_server",
    "tests/ui/test_login_browser.py": "ui_server",
    "tests/cli/test_login_rest_api.py": "rest_api",
}


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadGroupScheduling

    class ModuleGroupScheduling(LoadGroupScheduling):
        def _split_scope(self, nodeid: str) -> str:
            group = XDIST_GROUPS.get(nodeid.split("::", 1)[0])
            return f"group:{group}" if group else super()._split_scope(nodeid)

    return ModuleGroupScheduling(config, log)


def pytest_collection_modifyitems(config, items):
    """Under xdist (make test), the slowest tests first: a whole deployment, then the tests that
    start real Airflow components. Started last, one of them would keep a worker busy for minutes
    after the others ran out of work. The order within each kind stays; serial runs keep the
    collection order."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return

    def rank(item: pytest.Item) -> int:
        if item.get_closest_marker("deployment"):
            return 0
        if item.get_closest_marker("scheduler"):
            return 1
        return 2

    items.sort(key=rank)
