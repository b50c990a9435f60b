"""Run the emulator with uvicorn in a background thread on a loopback address."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from types import TracebackType
from typing import TYPE_CHECKING, Any

from airflow_provider_oac.emulator.config import EmulatorConfig
from airflow_provider_oac.emulator.control import EmulatorControl
from airflow_provider_oac.validation import is_loopback_host

if TYPE_CHECKING:
    from airflow_provider_oac.emulator.state import EmulatorState
    from airflow_provider_oac.emulator.storage import ObjectStore

_START_TIMEOUT = 15.0
_STOP_TIMEOUT = 5.0


class EmulatorServer:
    """OCI IAM + OAC on ``http://127.0.0.1:<port>``, served from a daemon thread.

    ``port=0`` picks a free port. ``store`` (an ``emulator.storage.ObjectStore``) is shared with
    other servers: several OAC instances, each with its own identity domain, over one object store.
    Use as a context manager, or call :meth:`start` and :meth:`stop`::

        with EmulatorServer(EmulatorConfig(auto_approve=True)) as server:
            print(server.url, server.iam_url, server.config.scope)
    """

    def __init__(
        self,
        config: EmulatorConfig | None = None,
        port: int = 0,
        *,
        host: str = "127.0.0.1",
        store: ObjectStore | None = None,
    ):
        if not is_loopback_host(host):
            raise ValueError(f"the emulator only listens on loopback addresses, not {host!r}")
        self._initial_config = config if config is not None else EmulatorConfig()
        self._store = store
        self._host = host.strip("[]")
        self._requested_port = port
        self._port: int | None = None
        self._state: EmulatorState | None = None
        self._uvicorn: Any = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self._control: EmulatorControl | None = None
        self._failure: BaseException | None = None

    # --- addresses -------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the emulator is not started")
        return self._port

    @property
    def url(self) -> str:
        """The OAC URL: the OAC API lives under ``/api/20210901``."""
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self.port}"

    @property
    def iam_url(self) -> str:
        """The identity domain URL: ``/oauth2/v1/device``, ``/oauth2/v1/token``, ``/ui/v1/device``."""
        return f"{self.url}/iam"

    @property
    def config(self) -> EmulatorConfig:
        """The current configuration (including changes made through ``control.configure``)."""
        return self._state.config if self._state is not None else self._initial_config

    @property
    def state(self) -> EmulatorState:
        """The in-process state, for debugging; tests should use :attr:`control`."""
        if self._state is None:
            raise RuntimeError("the emulator is not started")
        return self._state

    @property
    def control(self) -> EmulatorControl:
        if self._control is None:
            self._control = EmulatorControl(self.url)
        return self._control

    @property
    def is_running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # --- lifecycle -------------------------------------------------------------------------------

    def start(self) -> EmulatorServer:
        """Start serving and return once the server answers; ``OSError`` if the port is taken."""
        if self._thread is not None:
            raise RuntimeError("the emulator is already started")
        # lazy: FastAPI/uvicorn and the state load only to serve (tests/emulator/test_emulator_control.py)
        import uvicorn

        from airflow_provider_oac.emulator.app import create_app
        from airflow_provider_oac.emulator.state import EmulatorState

        family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
        # IPPROTO_TCP spelled out: asyncio sets TCP_NODELAY on accepted connections only when the
        # listener says so, and without it every keep-alive answer waits ~40 ms for a delayed ACK.
        listener = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        try:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind((self._host, self._requested_port))
        except OSError:
            listener.close()
            raise
        self._socket = listener
        self._port = listener.getsockname()[1]
        self._state = EmulatorState(self._initial_config, store=self._store)
        config = uvicorn.Config(
            create_app(self._state),
            log_config=None,
            log_level="warning",
            # Access lines would carry query strings; our middleware logs paths only.
            access_log=False,
            lifespan="off",
            loop="asyncio",
            timeout_graceful_shutdown=1,
        )
        self._uvicorn = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._serve, name=f"oac-emulator-{self._port}", daemon=True)
        self._thread.start()
        self._wait_until_answering()
        return self

    def _serve(self) -> None:
        try:
            asyncio.run(self._uvicorn.serve(sockets=[self._socket]))
        except BaseException as exc:  # reported by start(); a daemon thread has nowhere else to say it
            self._failure = exc

    def _wait_until_answering(self) -> None:
        deadline = time.monotonic() + _START_TIMEOUT
        while time.monotonic() < deadline:
            if self._thread is None or not self._thread.is_alive():
                raise RuntimeError(f"the emulator stopped while starting: {self._failure!r}")
            if self._uvicorn.started:
                try:
                    self.control.health()
                    return
                except Exception:  # noqa: S110 - not answering yet: keep waiting
                    pass
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"the emulator did not answer on {self.url} within {_START_TIMEOUT:.0f} s")

    def stop(self) -> None:
        """Stop serving; requests still held by faults are cut after about a second."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._uvicorn.should_exit = True
        thread.join(_STOP_TIMEOUT)
        if thread.is_alive():
            self._uvicorn.force_exit = True
            thread.join(_STOP_TIMEOUT)
        if self._socket is not None:
            self._socket.close()
            self._socket = None
        if self._control is not None:
            self._control.close()
            self._control = None

    def __enter__(self) -> EmulatorServer:
        if self._thread is None:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = self.url if self._port is not None else "not started"
        return f"EmulatorServer({where})"
