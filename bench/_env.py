"""What the bench scripts share: a throw-away AIRFLOW_HOME, a token state directory, and tables.
The helpers they share with the test suite (logging in against the emulator, writing a DAG, the
emulator in its own process) are in ``airflow_provider_oac.testing``.

Not a bench of its own (``make bench`` runs the scripts whose names do not start with ``_``).
Import it before anything imports Airflow: Airflow reads its configuration once, on first import.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from airflow_provider_oac.testing import temporary_airflow_home

REPO = Path(__file__).resolve().parent.parent


def airflow_home(prefix: str, *, migrate: bool = True, log_level: str = "WARNING") -> Path:
    """A temporary AIRFLOW_HOME (SQLite metadata DB, a dags folder for ``write_dag``, a token state
    directory), set in ``os.environ`` for this process and its children."""
    return temporary_airflow_home(f"bench-{prefix}", migrate=migrate, log_level=log_level)


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


def rss_bytes() -> int:
    """This process's resident memory now (Linux)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
