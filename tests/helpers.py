"""Test helpers: logging in against the emulator, running the CLI as users do."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

BIN = Path(sys.executable).parent

#: A snapshot password that meets Oracle's rule (14-50 characters, a number, an uppercase and a
#: lowercase letter, a special character): the emulator refuses weaker ones, as OAC does.
SNAPSHOT_PASSWORD = "Snapshot-Pa55word!"


def login(emulator: Any, conn_id: str = "oac_default", **extra: Any):
    """A device login approved by the emulator, saved as the connection (what the CLI does)."""
    import requests

    from airflow_provider_oac.auth.flows import poll_device_login, start_device_login
    from airflow_provider_oac.auth.protocol import IAMEndpoints
    from airflow_provider_oac.login import NewLogin, save_login

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


@contextmanager
def own_login(
    emulator: Any, conn_id: str, tmp_path: Path, monkeypatch: Any, *, work_request_seconds: float = 0.2
) -> Iterator[None]:
    """A fresh login of ``conn_id`` with the test's own token state directory (subprocesses inherit
    it, so their host journal is the test's too), and no process token cache before or after."""
    from airflow_provider_oac.hooks.token_manager import forget_process_cache

    monkeypatch.setenv("AIRFLOW_PROVIDER_OAC_STATE_DIR", str(tmp_path / "state"))
    forget_process_cache()
    emulator.control.configure(work_request_seconds=work_request_seconds)
    login(emulator, conn_id)
    try:
        yield
    finally:
        forget_process_cache()


def cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """``airflow-oac ARGS`` in a new process, with this session's AIRFLOW_HOME."""
    return subprocess.run(
        [str(BIN / "airflow-oac"), *args],
        env={**os.environ, **(env or {})},
        text=True,
        capture_output=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def cli_login_args(emulator: Any, conn_id: str = "oac_default") -> list[str]:
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


class CLIProcess:
    """A running ``airflow-oac`` whose output a test reads while it runs (to approve its code)."""

    def __init__(self, *args: str):
        self.proc = subprocess.Popen(
            [str(BIN / "airflow-oac"), *args],
            env=dict(os.environ),
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
        )
        self.lines: list[str] = []

    def user_code(self, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        assert self.proc.stdout is not None
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            self.lines.append(line)
            if "one-time code:" in line:
                return line.rsplit(":", 1)[1].strip()
        raise AssertionError(f"no user code in the CLI output: {self.lines}")

    def finish(self, timeout: float = 60) -> tuple[int, str, str]:
        out, err = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, "".join(self.lines) + out, err


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


def write_dag(dag_id: str, tasks: str, *, retries: int = 0, imports: str = ""):
    """A DAG file in the session's dags folder, loaded: ``dag.test()`` runs only DAGs of a bundle.

    ``tasks`` is the body of the ``with DAG(...)`` block; ``imports`` goes above it.
    """
    path = Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"]) / f"{dag_id}.py"
    source = textwrap.dedent(imports) + "\n" + _DAG_HEADER.format(dag_id=dag_id, retries=retries)
    path.write_text(source + textwrap.indent(textwrap.dedent(tasks).strip() + "\n", "    "))
    bag = dag_bag(path)
    assert not bag.import_errors, bag.import_errors
    return bag.get_dag(dag_id)


def console_text(text: str) -> str:
    """Captured ``dag.test()`` output as plain text: ANSI colours removed and every run of
    whitespace (line breaks included) made one space.

    On Airflow 3.0, ``dag.test()`` prints a failed task's exception through structlog's rich
    console renderer: coloured, and the message wrapped at the console width. 3.1+ print it on
    one plain line. Search messages in this text to match them on every version.
    """
    import re

    return re.sub(r"\s+", " ", re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", text))


def sync_dags_folder() -> None:
    """Put the DAGs of every bundle (the session's dags folder) into the metadata DB, assets
    activated, as the DAG processor does in a deployment.

    ``dag.test()`` does this itself from Airflow 3.1 (when the DAG has no version yet); on 3.0 it
    does not, so a task with an asset outlet fails with ``AirflowInactiveAssetInInletOrOutletException``
    and no other DAG (an asset consumer) is in the DB. Call it before ``dag.test()``; a no-op on 3.1+.
    """
    from airflow_provider_oac.version_compat import AIRFLOW_V_3_1_PLUS

    if AIRFLOW_V_3_1_PLUS:
        return
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.models.dagbag import DagBag
    from airflow.utils.session import create_session

    manager = DagBundlesManager()
    with create_session() as session:
        manager.sync_bundles_to_db(session=session)
    for bundle in manager.get_all_dag_bundles():
        if not bundle.is_initialized:
            bundle.initialize()
        bag = DagBag(dag_folder=str(bundle.path), include_examples=False)
        with create_session() as session:
            bag.sync_to_db(bundle.name, bundle.version, session=session)


def dag_bag(folder: Path | str) -> Any:
    """Airflow's DagBag of ``folder`` (airflow.dag_processing.dagbag from 3.2, airflow.models before)."""
    from airflow_provider_oac.version_compat import AIRFLOW_V_3_2_PLUS

    if AIRFLOW_V_3_2_PLUS:
        from airflow.dag_processing.dagbag import DagBag
    else:
        from airflow.models.dagbag import DagBag
    return DagBag(dag_folder=str(folder))


def stored_work_records(run: Any, task_id: str) -> dict[str, str]:
    """The task's work record as stored after ``run`` (key -> stored text): the task state store's
    rows on 3.3+, else the record's Variable as ``{"oac_work": ...}`` (3.0-3.2)."""
    from airflow.utils.session import create_session

    from airflow_provider_oac.version_compat import AIRFLOW_V_3_3_PLUS

    with create_session() as session:
        if AIRFLOW_V_3_3_PLUS:
            from airflow.models.task_state_store import TaskStateStoreModel

            rows = session.query(TaskStateStoreModel).filter_by(run_id=run.run_id, task_id=task_id)
            return {row.key: row.value for row in rows}
        from airflow.models import Variable

        from airflow_provider_oac.operators._base import work_record_variable

        key = work_record_variable(run.dag_id, run.run_id, task_id, -1)
        row = session.query(Variable).filter(Variable.key == key).one_or_none()
        return {} if row is None else {"oac_work": row.val}
