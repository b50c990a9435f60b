"""Helpers for running the provider against the emulator from a test or a benchmark: a throw-away
AIRFLOW_HOME, a device login the emulator approves (saved as the connection, as ``airflow-oac
login`` saves it), the ``airflow-oac login`` arguments for an emulator, a DAG file written and
loaded, and the emulator in a process of its own.

The provider's test suite and ``bench/`` both use this module, so neither imports the other.
Importing it is cheap: Airflow, the hook and the CLI load only when a helper that needs them runs
(call :func:`temporary_airflow_home` before anything imports Airflow: Airflow reads its
configuration once, on first import). Not for production DAGs.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

import requests
from cryptography.fernet import Fernet

from airflow_provider_oac.auth.flows import poll_device_login, start_device_login
from airflow_provider_oac.auth.protocol import IAMEndpoints
from airflow_provider_oac.emulator import EmulatorConfig, EmulatorControl
from airflow_provider_oac.login import NewLogin, save_login

#: A snapshot password that meets Oracle's rule (14-50 characters, a number, an uppercase and a
#: lowercase letter, a special character): the emulator refuses weaker ones, as OAC does.
SNAPSHOT_PASSWORD = "Snapshot-Pa55word!"
#: Where the token manager keeps its host journal and locks (``hooks/token_store.py``).
STATE_DIR_ENV = "AIRFLOW_PROVIDER_OAC_STATE_DIR"


def temporary_airflow_home(prefix: str, *, migrate: bool = True, log_level: str = "WARNING") -> Path:
    """A new AIRFLOW_HOME under the system's temporary directory: a SQLite metadata DB (migrated
    unless ``migrate=False``), a dags folder for :func:`write_dag`, a token state directory and a
    new Fernet key, set in ``os.environ`` for this process and its children. Connections and
    variables defined in the environment are removed from it."""
    home = Path(tempfile.mkdtemp(prefix=f"oac-{prefix}-"))
    (home / "dags").mkdir()
    for name in [n for n in os.environ if n.startswith(("AIRFLOW_CONN_", "AIRFLOW_VAR_", "AIRFLOW__"))]:
        del os.environ[name]
    os.environ.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
            "AIRFLOW__LOGGING__LOGGING_LEVEL": log_level,
            STATE_DIR_ENV: str(home / "state"),
        }
    )
    if migrate:
        subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True)
    return home


def login(emulator: Any, conn_id: str = "oac_default", **extra: Any) -> Any:
    """A device login approved by the emulator, saved as the connection ``conn_id`` (what the CLI
    does); ``extra`` goes into the connection's extras (``bucket`` is ``test-bucket``).

    ``emulator`` is an ``EmulatorServer`` or anything with its ``url``, ``iam_url``, ``config``
    and ``control`` (such as :class:`EmulatorProcess`). Switches the emulator to auto-approval.
    """
    emulator.control.configure(auto_approve=True, device_interval=1)
    endpoints = IAMEndpoints.for_domain(emulator.iam_url)
    with requests.Session() as session:
        authorization = start_device_login(
            session, endpoints, emulator.config.client_id, emulator.config.scope
        )
        tokens = poll_device_login(session, endpoints, emulator.config.client_id, authorization)
    lifetime = extra.pop("refresh_token_lifetime", 604800.0)
    return save_login(
        NewLogin(
            conn_id,
            oac_url=emulator.url,
            iam_url=emulator.iam_url,
            client_id=emulator.config.client_id,
            scope=emulator.config.scope,
            tokens=tokens,
            refresh_token_lifetime=lifetime,
            extra_updates={"bucket": "test-bucket", "refresh_token_lifetime": lifetime, **extra},
        )
    )


def cli_login_args(emulator: Any, conn_id: str = "oac_default") -> list[str]:
    """``airflow-oac login`` arguments (without the command) for a login against ``emulator``."""
    return [
        "login",
        "--conn-id",
        conn_id,
        "--oac-url",
        emulator.url,
        "--iam-url",
        emulator.iam_url,
        "--client-id",
        emulator.config.client_id,
        "--scope",
        emulator.config.scope,
        "--no-browser",
    ]


_DAG_HEADER = """\
from datetime import datetime, timedelta

from airflow.sdk import DAG

with DAG(
    {dag_id!r},
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    default_args={{"retries": {retries}, "retry_delay": timedelta(seconds=0)}},
) as dag:
"""


def write_dag(dag_id: str, tasks: str, *, retries: int = 0, imports: str = "") -> Any:
    """A DAG file in the dags folder (``AIRFLOW__CORE__DAGS_FOLDER``), loaded: ``dag.test()`` runs
    only DAGs of a bundle.

    ``tasks`` is the body of the ``with DAG(...)`` block; ``imports`` goes above it.
    """
    path = Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"]) / f"{dag_id}.py"
    source = textwrap.dedent(imports) + "\n" + _DAG_HEADER.format(dag_id=dag_id, retries=retries)
    path.write_text(source + textwrap.indent(textwrap.dedent(tasks).strip() + "\n", "    "))
    bag = dag_bag(path)
    if bag.import_errors:
        raise AssertionError(bag.import_errors)
    return bag.get_dag(dag_id)


def dag_bag(folder: Path | str) -> Any:
    """Airflow's DagBag of ``folder`` (airflow.dag_processing.dagbag from 3.2, airflow.models before)."""
    # lazy: Airflow reads AIRFLOW_HOME on import; temporary_airflow_home() sets it first
    from airflow_provider_oac.version_compat import AIRFLOW_V_3_2_PLUS

    if AIRFLOW_V_3_2_PLUS:
        # lazy: DagBag moved in Airflow 3.2
        from airflow.dag_processing.dagbag import DagBag
    else:
        # lazy: DagBag before Airflow 3.2
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef]
    return DagBag(dag_folder=str(folder))


class EmulatorProcess:
    """The emulator in a process of its own (``airflow-oac emulator ARGS`` on a free port), so that
    what a benchmark measures in this process (memory, event-loop lag) is not the emulator's.
    Offers what :func:`login` needs: ``url``, ``iam_url``, ``config`` and ``control``. ``config``
    is the default :class:`~airflow_provider_oac.emulator.EmulatorConfig`: pass no flag that changes
    the client id or the audience."""

    def __init__(self, *args: str):
        self._args = args
        self._proc: subprocess.Popen[str] | None = None

    def __enter__(self) -> EmulatorProcess:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        self._proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "airflow-oac"), "emulator", "--port", str(port), *self._args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self.url = f"http://127.0.0.1:{port}"
        self.iam_url = f"{self.url}/iam"
        self.config = EmulatorConfig()
        self.control = EmulatorControl(self.url)
        deadline = time.monotonic() + 60
        while True:
            try:
                self.control.health()
                return self
            except Exception:
                if self._proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the emulator process did not start") from None
                time.sleep(0.1)

    def __exit__(self, *exc: object) -> None:
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self.control.close()
