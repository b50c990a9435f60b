"""What the bench scripts share: a throw-away AIRFLOW_HOME, a token state directory, and tables.

Not a bench of its own (``make bench`` runs the scripts whose names do not start with ``_``).
Import it before anything imports Airflow: Airflow reads its configuration once, on first import.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # tests.helpers (login, write_dag) live there

STATE_DIR_ENV = "AIRFLOW_PROVIDER_OAC_STATE_DIR"


def airflow_home(prefix: str, *, migrate: bool = True, log_level: str = "WARNING") -> Path:
    """A temporary AIRFLOW_HOME (SQLite metadata DB, a dags folder for ``write_dag``, a token state
    directory), set in ``os.environ`` for this process and its children."""
    from cryptography.fernet import Fernet

    home = Path(tempfile.mkdtemp(prefix=f"oac-bench-{prefix}-"))
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


def print_table(title: str, headers: Sequence[str], rows: Sequence[Sequence[object]], note: str = "") -> None:
    """A plain-text table (also valid Markdown when pasted into the docs)."""
    cells = [[str(value) for value in row] for row in rows]
    widths = [max(len(row[i]) for row in [list(headers), *cells]) for i in range(len(headers))]
    print(f"\n{title}")
    if note:
        print(note)
    # Timings on a shared machine are only comparable with the load they ran under.
    load = os.getloadavg()
    print(
        f"(load average now {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} over 1/5/15 min, {os.cpu_count()} CPUs)"
    )
    print()
    for row in [list(headers), ["-" * w for w in widths], *cells]:
        print("| " + " | ".join(value.ljust(width) for value, width in zip(row, widths, strict=True)) + " |")


def verdict(name: str, met: bool, detail: str) -> bool:
    print(f"{name}: {'met' if met else 'MISSED'} ({detail})")
    return met


class EmulatorProcess:
    """The emulator in a process of its own (``airflow-oac emulator``), so that what a bench
    measures in this process (memory, event-loop lag) is not the emulator's. Offers what
    ``tests.helpers.login`` needs: ``url``, ``iam_url``, ``config`` and ``control``."""

    def __init__(self, *args: str):
        self._args = args
        self._proc: subprocess.Popen[str] | None = None

    def __enter__(self) -> EmulatorProcess:
        import socket
        import time

        from airflow_provider_oac.emulator import EmulatorConfig, EmulatorControl

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


def rss_bytes() -> int:
    """This process's resident memory now (Linux)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
