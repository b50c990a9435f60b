"""Helpers for running the provider against the emulator from a test or a benchmark: a throw-away
AIRFLOW_HOME, a device login the emulator approves (saved as the connection, as ``airflow-oac
login`` saves it), the ``airflow-oac login`` arguments for an emulator, a DAG file written and
loaded, the emulator in a process of its own, and a TCP forwarder that can cut a service (the
emulator's IAM) off the network.

The provider's test suite and ``bench/`` both use this module, so neither imports the other.
Importing it is cheap: Airflow, the hook and the CLI load only when a helper that needs them runs
(call :func:`temporary_airflow_home` before anything imports Airflow: Airflow reads its
configuration once, on first import). Not for production DAGs.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import struct
import subprocess
import sys
import tempfile
import textwrap
import threading
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


def cli_login_args(emulator: Any, conn_id: str = "oac_default", *, iam_url: str | None = None) -> list[str]:
    """``airflow-oac login`` arguments (without the command) for a login against ``emulator``;
    ``iam_url`` replaces the emulator's identity domain URL (such as a :class:`TCPForwarder`'s
    in front of it)."""
    return [
        "login",
        "--conn-id",
        conn_id,
        "--oac-url",
        emulator.url,
        "--iam-url",
        iam_url or emulator.iam_url,
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


class TCPForwarder:
    """Forwards every TCP connection to ``127.0.0.1:<port>`` on to ``target_host:target_port``,
    until :meth:`cut`: then the port is closed, so a new connection is refused, and every open one
    is reset (RST) on both sides, as when a service drops off the network. :meth:`restore` listens
    again on the same port. Runs an event loop in a daemon thread; use as a context manager, or
    call :meth:`start` and :meth:`stop`::

        with TCPForwarder("127.0.0.1", emulator.port) as iam:
            iam_url = f"{iam.url}/iam"  # the emulator's IAM, behind the forwarder
            iam.cut()
            iam.restore()
    """

    def __init__(self, target_host: str, target_port: int):
        self.target_host = target_host
        self.target_port = target_port
        self.port = 0  # a free one, chosen by start()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="tcp-forwarder", daemon=True)
        self._server: asyncio.Server | None = None
        #: Both ends of every open forwarded connection, and the tasks that pump them.
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``: the target's URL with the forwarder's port."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> TCPForwarder:
        self._thread.start()
        self._call(self._listen())
        return self

    def cut(self) -> None:
        """Close the port and reset every open connection; returns once they are closed."""
        self._call(self._cut())

    def restore(self) -> None:
        """Listen on the same port again (nothing happens if it is listening)."""
        self._call(self._listen())

    def stop(self) -> None:
        if self._thread.is_alive():
            self.cut()
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
        self._loop.close()

    def __enter__(self) -> TCPForwarder:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _call(self, coroutine: Any) -> None:
        asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=30)

    async def _listen(self) -> None:
        if self._server is None:
            self._server = await asyncio.start_server(self._forward, "127.0.0.1", self.port)
            self.port = self._server.sockets[0].getsockname()[1]

    async def _cut(self) -> None:
        if self._server is not None:
            self._server.close()  # also resets connections not yet accepted
            self._server = None
        for writer in self._writers:
            _reset(writer)
        self._writers.clear()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=10)

    async def _forward(
        self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        assert task is not None  # the server runs each connection in a task of its own
        if self._server is None:  # accepted just before a cut
            _reset(client_writer)
            return
        self._tasks.add(task)
        self._writers.add(client_writer)
        target_writer: asyncio.StreamWriter | None = None
        try:
            try:
                target_reader, target_writer = await asyncio.open_connection(
                    self.target_host, self.target_port
                )
            except OSError:
                _reset(client_writer)
                return
            if client_writer not in self._writers:  # cut while connecting
                _reset(target_writer)
                return
            self._writers.add(target_writer)
            await asyncio.gather(
                _pump(client_reader, target_writer, client_writer),
                _pump(target_reader, client_writer, target_writer),
            )
        finally:
            self._tasks.discard(task)
            for writer in (client_writer, target_writer):
                if writer is not None:
                    self._writers.discard(writer)
                    writer.close()


async def _pump(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, other: asyncio.StreamWriter
) -> None:
    """Copy ``reader`` to ``writer`` until end of stream, then pass the end on; on a reset or an
    error reset both connections (``writer`` and ``other``), as a cut does."""
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except OSError:
        _reset(writer)
        _reset(other)


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close the connection with a TCP reset: the peer's next read or write fails with
    ECONNRESET instead of seeing an orderly end of stream."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
