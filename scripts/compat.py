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
    Row(
        "3.1",
        "3.1.8",
        "3.10",
        "2026-03-11",
        "2026-03-18T00:00:00Z",
        COMMON_COMPAT_FLOOR,
        "Composer 3 (3.1.7)",
    ),
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


# --- venvs --------------------------------------------------------------------------------------------

INSTALLED_PLUGIN = """\
# Written by scripts/compat.py: the compat suite must test the installed wheel, not a checkout.
import importlib.util
import sys

import pytest


def pytest_sessionstart(session):
    spec = importlib.util.find_spec("airflow_provider_oac")
    origin = spec.origin if spec else None
    if not origin or "site-packages" not in origin or not origin.startswith(sys.prefix):
        raise pytest.UsageError(f"airflow_provider_oac comes from {origin}, not the installed wheel")


def pytest_report_header(config):
    return f"airflow_provider_oac from {importlib.util.find_spec('airflow_provider_oac').origin}"
"""


def find_python(version: str) -> str:
    for candidate in (
        *sorted(Path.home().glob(f".pyenv/versions/{version}.*/bin/python{version}"), reverse=True),
        shutil.which(f"python{version}"),
    ):
        if candidate and Path(candidate).exists():
            return str(candidate)
    raise SystemExit(f"compat: no Python {version} (pyenv install {version} or put python{version} on PATH)")


def build_wheel() -> Path:
    dist = COMPAT_ROOT / "dist"
    shutil.rmtree(dist, ignore_errors=True)
    dist.mkdir(parents=True)
    subprocess.run(
        [
            str(REPO / ".venv" / "bin" / "python"),
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(dist),
            str(REPO),
        ],
        check=True,
    )
    (wheel,) = dist.glob("airflow_provider_oac-*.whl")
    return wheel


def prepare(row: Row, wheel: Path, log) -> None:
    """The row's venv with its Python and lock (re-made when the lock changed), the wheel, and a
    fresh copy of the tests to run from."""
    stamp = row.venv / ".lock-installed"
    lock_text = row.lock.read_text()
    uv = str(UV)
    if not (stamp.exists() and stamp.read_text() == lock_text and (row.venv / "bin" / "python").exists()):
        shutil.rmtree(row.venv, ignore_errors=True)
        run_logged([uv, "venv", "--quiet", "--python", find_python(row.python), str(row.venv)], log)
        run_logged(
            [uv, "pip", "sync", "--quiet", "--python", str(row.venv / "bin" / "python"), str(row.lock)], log
        )
        stamp.write_text(lock_text)
    run_logged(
        [
            uv,
            "pip",
            "install",
            "--quiet",
            "--reinstall",
            "--no-deps",
            "--python",
            str(row.venv / "bin" / "python"),
            str(wheel),
        ],
        log,
    )
    work = row.venv / "work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(REPO / "tests", work / "tests", ignore=ignore)
    shutil.copytree(REPO / "example_dags", work / "example_dags", ignore=ignore)
    shutil.copytree(REPO / "docs" / "_static", work / "docs" / "_static", ignore=ignore)
    shutil.copy2(REPO / "pyproject.toml", work / "pyproject.toml")  # pytest's settings and markers
    shutil.copy2(REPO / "scripts" / "compat_row.py", work / "compat_row.py")
    (work / "compat_installed.py").write_text(INSTALLED_PLUGIN)


def run_logged(cmd: list[str], log) -> None:
    log.write(("+ " + " ".join(cmd) + "\n").encode())
    log.flush()
    subprocess.run(cmd, check=True, stdout=log, stderr=subprocess.STDOUT)


def run_row(row: Row, wheel: Path, checks: list[str]) -> dict:
    started = time.monotonic()
    log_path = COMPAT_ROOT / f"airflow-{row.minor}.log"
    results: dict[str, dict] = {}
    with open(log_path, "wb") as log:
        try:
            prepare(row, wheel, log)
        except subprocess.CalledProcessError as exc:
            for check in checks:
                results[check] = {
                    "ok": False,
                    "summary": f"venv setup failed ({exc.returncode}), see {log_path}",
                }
            return {"row": row, "results": results, "seconds": time.monotonic() - started, "log": log_path}
        setup_seconds = time.monotonic() - started
        print(f"   venv ready in {setup_seconds:.0f} s", flush=True)
        proc = subprocess.Popen(
            [str(row.venv / "bin" / "python"), "compat_row.py", "--checks", ",".join(checks)],
            cwd=row.venv / "work",
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env={k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")},
        )
        assert proc.stdout is not None
        for raw in proc.stdout:
            log.write(raw)
            line = raw.decode(errors="replace").rstrip()
            if line.startswith("COMPAT-RESULT "):
                data = json.loads(line.removeprefix("COMPAT-RESULT "))
                results[data["check"]] = data
                mark = "ok  " if data["ok"] else "FAIL"
                print(
                    f"   {mark} {data['check']:<10} {data['summary']} ({data['seconds']:.0f} s)", flush=True
                )
            elif line.startswith("compat row:"):
                print("   " + line, flush=True)
        proc.wait()
    for check in checks:
        results.setdefault(
            check, {"ok": False, "summary": f"no result (exit {proc.returncode}), see {log_path}"}
        )
    save_results(row, results)
    return {
        "row": row,
        "results": results,
        "seconds": time.monotonic() - started,
        "setup_seconds": setup_seconds,
        "log": log_path,
    }


def save_results(row: Row, results: dict[str, dict]) -> None:
    """Merge this run's cells into the row's saved ones (``make compat CHECKS=unit`` keeps the rest)."""
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
    ).stdout.strip()
    path = row.venv / "results.json"
    saved = json.loads(path.read_text()) if path.exists() else {}
    for check, result in results.items():
        saved[check] = {
            **result,
            "commit": commit,
            "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        }
    path.write_text(json.dumps(saved, indent=1, default=str))


def report() -> int:
    """docs/compatibility.md from every row's saved cells (the latest run of each)."""
    outcomes = []
    for row in ROWS:
        path = row.venv / "results.json"
        saved = json.loads(path.read_text()) if path.exists() else {}
        seconds = sum(r.get("seconds", 0) for r in saved.values())
        outcomes.append({"row": row, "results": saved, "seconds": seconds})
    text = table(outcomes)
    runs = sorted(
        {f"{r['when']} ({r['commit']})" for o in outcomes for r in o["results"].values() if "when" in r}
    )
    DOC.write_text(
        DOC_HEAD
        + "Cells from the runs of "
        + ", ".join(runs)
        + " on the shared 2-core machine.\n\n"
        + text
        + "\n"
    )
    print(text)
    print(f"compat: wrote {DOC.relative_to(REPO)}")
    return (
        0
        if all(
            len(o["results"]) == len(CHECKS) and all(r["ok"] for r in o["results"].values()) for o in outcomes
        )
        else 1
    )


def cell(result: dict | None) -> str:
    if result is None:
        return "not run"
    seconds = f" ({result['seconds']:.0f} s)" if "seconds" in result else ""
    return f"{'pass' if result['ok'] else 'FAIL'}: {result['summary']}{seconds}".replace("|", "/")


def table(outcomes: list[dict]) -> str:
    lines = [
        "| airflow | python | unit tests | deployment | form | plugin | row time |",
        "|---|---|---|---|---|---|---|",
    ]
    for outcome in outcomes:
        row: Row = outcome["row"]
        cells = [cell(outcome["results"].get(check)) for check in CHECKS]
        lines.append(
            f"| {row.airflow} | {row.python} | "
            + " | ".join(cells)
            + f" | {outcome['seconds'] / 60:.1f} min |"
        )
    return "\n".join(lines)


DOC_HEAD = """# Compatibility matrix

Written by `make compat` (`scripts/compat.py`); do not edit by hand. Each row is a venv under
`.venv-compat/` with that Python, the pinned lock `requirements/airflow-3.X.lock` (made with uv:
`--exclude-newer` about a week after the Airflow release, the `apache-airflow-providers-common-compat`
floor 1.17 excepted) and the provider installed from its wheel, not editable. See
[Development](development.md#compatibility-matrix) for what each column runs.

- **unit tests**: `pytest -n 2 -m "not scheduler and not deployment and not stress"` on
  `tests/{auth,client,emulator,hooks,locks,operators,lifecycle,ui}` (the quick suite without
  `tests/cli` and `tests/faults`), from a copy of `tests/` (the installed wheel is what is imported;
  the run stops if not).
- **deployment**: API server, scheduler (LocalExecutor), DAG processor and triggerer on SQLite, the
  emulator as IAM and OAC. A create waits in the worker, then a restore (deferrable) waits in the
  triggerer, where every access token is expired meanwhile so the trigger refreshes. Passes when both
  tasks succeed, the emulator saw exactly one snapshot POST and one restore POST, no spent refresh
  token was presented, and the snapshot password is in no file of the deployment (task logs and the
  components' output) but its database.
- **form**: the `oac` type's fields as the api-server serves them (`/ui/connections/hook_meta`); on 3.0
  without `wtforms` (no FAB provider) Airflow drops every provider's fields: the type listed, generic form.
- **plugin**: `tests/ui/test_login_routes.py` on that api-server: the `/oac-login` page and its API with
  SimpleAuthManager users logged in through `/auth/token`; and `tests/ui/test_login_browser.py` in
  headless Chromium (skipped without it): on 3.1+ the page in the UI's frame (Admin > Log in to OAC);
  on 3.0, which has no plugin pages in its UI, the page opened by its URL after 3.0's UI has moved the
  sign-in token into the browser's storage, as 3.0 users open it.

What differs on Airflow 3.0 (measured on 3.0.6):

- 3.0's scheduler does not configure structlog, so the LocalExecutor's task supervisor prints its
  debug lines, each message from the task with its body, to the scheduler's output whatever
  `[logging] logging_level` says; 3.0's task runner sends the rendered template fields unredacted
  (3.1+ redact fields named like `password` first). The snapshot operators therefore keep a rendered
  password aside on 3.0 and leave `***` in the field (the UI's rendered fields show `***`, as on 3.1+).
  The same output carries the token store's Variable writes (`PutVariable`): on 3.0 the record is
  written sealed there ([How tokens are kept](tokens.md#the-record-sealed-under-a-name-airflow-does-not-mask)), and the
  deployment check finds none of the emulator's tokens in any component's output.
- A task that fails after resuming from a deferral keeps `next_method` on 3.0 (3.1 clears it), so
  its retry resumes with the old trigger event instead of executing again. The provider's triggers
  send back the try that deferred in their event, and an event from an earlier try runs `execute`
  instead (a restore whose POST failed after its safety snapshot would otherwise succeed without
  restoring). A trigger that crashed or timed out in Airflow's triggerer (`__fail__`, no event)
  still fails every retry the same way on 3.0: clear the task instead.
- `dag.test()` does not put the DAG and its assets in the metadata database (3.1+ do), prints failed
  tasks' exceptions through rich (coloured, wrapped) and each task log line twice; the unit tests
  allow for that on 3.0 only.

"""


def run(rows: list[Row], args) -> int:
    checks = [c for c in CHECKS if not args.checks or c in args.checks.split(",")]
    COMPAT_ROOT.mkdir(exist_ok=True)
    started = time.monotonic()
    wheel = build_wheel()
    print(
        f"compat: {wheel.name}; rows {', '.join(r.minor for r in rows)}; checks {', '.join(checks)}",
        flush=True,
    )
    outcomes = []
    for row in rows:
        print(f"== Airflow {row.airflow} on Python {row.python}", flush=True)
        outcome = run_row(row, wheel, checks)
        print(f"   row done in {outcome['seconds'] / 60:.1f} min; log {outcome['log']}", flush=True)
        outcomes.append(outcome)
    total = time.monotonic() - started
    text = table(outcomes)
    print()
    print(text)
    print(f"\ncompat: {total / 60:.1f} min in all")
    summary = [
        {
            "airflow": o["row"].airflow,
            "python": o["row"].python,
            "seconds": round(o["seconds"]),
            "results": o["results"],
        }
        for o in outcomes
    ]
    (COMPAT_ROOT / "results.json").write_text(json.dumps(summary, indent=1, default=str))
    if not args.no_doc and len(rows) == len(ROWS) and len(checks) == len(CHECKS):
        report()
    return 0 if all(r["ok"] for o in outcomes for r in o["results"].values()) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["lock", "run", "report"])
    parser.add_argument("--rows", default=os.environ.get("ROWS"), help="e.g. 3.0 or 3.0,3.2 (default all)")
    parser.add_argument("--checks", default=os.environ.get("CHECKS"), help=f"subset of {','.join(CHECKS)}")
    parser.add_argument("--no-doc", action="store_true", help="do not rewrite docs/compatibility.md")
    args = parser.parse_args(argv)
    rows = select(args.rows)
    if args.command == "lock":
        lock(rows)
        return 0
    if args.command == "report":
        return report()
    return run(rows, args)


if __name__ == "__main__":
    sys.exit(main())
