"""The compatibility matrix: the provider, installed as a wheel, on each supported Airflow minor.

``make lock-compat`` runs ``lock``: one pinned lock per row, made with uv from
``requirements/airflow-3.X.in``. ``--exclude-newer`` is about a week after that Airflow release
(what its constraints pinned, near enough: today's newest libraries break older Airflow, e.g.
pydantic 2.14 stops 3.2.2's API server); the provider's own floors that are newer than that date
get a per-package exception.

``make compat`` runs ``run``: per row a venv under ``.venv-compat/airflow-3.X`` with that
row's Python, the lock, and the provider's wheel (not editable); then in that venv
``scripts/compat_row.py`` checks the unit suite, one real deployment, the connection form and the
login plugin page. Prints (and writes to docs/compatibility.md) the table; exits 1 if any cell
failed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
REQUIREMENTS = REPO / "requirements"
COMPAT_ROOT = REPO / ".venv-compat"
UV = REPO / ".venv" / "bin" / "uv"
DOC = REPO / "docs" / "compatibility.md"
CHECKS = ("unit", "deployment", "form", "plugin")


@dataclass(frozen=True)
class Row:
    minor: str
    airflow: str
    python: str
    released: str  # upload date of apache-airflow-core on PyPI
    exclude_newer: str  # about a week later
    # Provider floors newer than exclude_newer: package -> date just after the floor's upload.
    exceptions: dict[str, str] = field(default_factory=dict)
    platforms: str = ""

    @property
    def lock(self) -> Path:
        return REQUIREMENTS / f"airflow-{self.minor}.lock"

    @property
    def requirements_in(self) -> Path:
        return REQUIREMENTS / f"airflow-{self.minor}.in"

    @property
    def venv(self) -> Path:
        return COMPAT_ROOT / f"airflow-{self.minor}"


# apache-airflow-providers-common-compat 1.17.0 (our floor) was uploaded 2026-07-28.
COMMON_COMPAT_FLOOR = {"apache-airflow-providers-common-compat": "2026-07-29T00:00:00Z"}

ROWS = (
    Row("3.0", "3.0.6", "3.12", "2025-08-29", "2025-09-05T00:00:00Z", COMMON_COMPAT_FLOOR, "Amazon MWAA"),
    Row("3.1", "3.1.8", "3.10", "2026-03-11", "2026-03-18T00:00:00Z", COMMON_COMPAT_FLOOR, "Composer 3 (3.1.7)"),
    Row("3.2", "3.2.2", "3.13", "2026-05-29", "2026-06-05T00:00:00Z", COMMON_COMPAT_FLOOR),
    Row("3.3", "3.3.2", "3.11", "2026-09-17", "2026-09-24T00:00:00Z", {}, "Composer 3 (3.3.1), Astro 3.3"),
)


def select(rows: str | None) -> list[Row]:
    if not rows:
        return list(ROWS)
    wanted = [r.strip() for r in rows.replace(",", " ").split() if r.strip()]
    unknown = [w for w in wanted if w not in {r.minor for r in ROWS}]
    if unknown:
        sys.exit(f"compat: unknown row(s) {unknown}; choose from {[r.minor for r in ROWS]} (ROWS=3.0,3.2)")
    return [r for r in ROWS if r.minor in wanted]


# --- locks -------------------------------------------------------------------------------------------


def lock(rows: list[Row]) -> None:
    for row in rows:
        cmd = [
            str(UV),
            "pip",
            "compile",
            "--quiet",
            "--python-version",
            row.python,
            "--exclude-newer",
            row.exclude_newer,
        ]
        for package, date in row.exceptions.items():
            cmd += ["--exclude-newer-package", f"{package}={date}"]
        cmd += [str(row.requirements_in.relative_to(REPO)), "-o", str(row.lock.relative_to(REPO))]
        print("+", " ".join(cmd[1:]), flush=True)
        subprocess.run(cmd, check=True, cwd=REPO)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["lock", "run"])
    parser.add_argument("--rows", default=os.environ.get("ROWS"), help="e.g. 3.0 or 3.0,3.2 (default all)")
    parser.add_argument("--checks", default=os.environ.get("CHECKS"), help=f"subset of {','.join(CHECKS)}")
    parser.add_argument("--no-doc", action="store_true", help="do not rewrite docs/compatibility.md")
    args = parser.parse_args(argv)
    rows = select(args.rows)
    if args.command == "lock":
        lock(rows)
        return 0
    return 0  # run: added below


if __name__ == "__main__":
    sys.exit(main())
