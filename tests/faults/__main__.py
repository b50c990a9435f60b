"""``make faults``: the whole fault matrix, the secret scan and the bad-input matrix; writes
docs/reliability.md and exits 1 if any invariant broke.

    .venv/bin/python -m tests.faults [--only faults scan bad-input] [--short] [--output docs/reliability.md]
    .venv/bin/python -m tests.faults --only faults --faults "NAME" ...   (some faults' rows, printed)
    .venv/bin/python -m tests.faults --only faults --match "state dir" SIGKILL   # some rows only
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Sets AIRFLOW_HOME and friends (a temporary home with the example DAGs) before Airflow loads,
# exactly as the test session does.
import tests.conftest as session

PARTS = ("faults", "copy", "scan", "bad-input")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", choices=PARTS, default=list(PARTS))
    parser.add_argument("--short", action="store_true", help="the short forms (as make test runs them)")
    parser.add_argument("--output", default=str(session.REPO / "docs" / "reliability.md"))
    parser.add_argument(
        "--faults",
        nargs="+",
        metavar="NAME",
        help="only these faults (matrix.FAULTS names); prints their rows",
    )
    parser.add_argument(
        "--match", nargs="+", help="only the fault scenarios whose 'step / fault' contains one of these"
    )
    parser.add_argument("--save", help="also keep each part's results in this directory (for --merge)")
    parser.add_argument("--merge", help="write the page from the parts saved in this directory")
    args = parser.parse_args()
    if args.merge:
        return merge(Path(args.merge), Path(args.output))

    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True)
    from airflow_provider_oac.emulator import EmulatorConfig, EmulatorServer
    from airflow_provider_oac.testing import login
    from tests.faults import bad_input, matrix, report, secret_scan

    work_dir = Path(tempfile.mkdtemp(prefix="oac-faults-"))
    started = time.monotonic()
    faults = scan = rows = copy = None
    with EmulatorServer(EmulatorConfig()) as emulator:
        if "faults" in args.only:
            chosen = matrix.short_scenarios() if args.short else matrix.scenarios()
            if args.faults:
                unknown = sorted(set(args.faults) - set(matrix.FAULTS))
                if unknown:
                    parser.error(f"unknown fault(s): {', '.join(unknown)}")
                chosen = [(fault, step) for fault, step in chosen if fault.name in args.faults]
            if args.match:
                chosen = [
                    (fault, step)
                    for fault, step in chosen
                    if any(text in f"{step.name} / {fault.name}" for text in args.match)
                ]
            faults = matrix.run_scenarios(emulator, chosen, work_dir, progress=True)
        if "copy" in args.only:
            from tests.faults.copy_faults import run_copy_faults

            copy = run_copy_faults(work_dir / "copy", short=args.short, progress=True)
        if "bad-input" in args.only:
            rows = run_bad_input(emulator, work_dir, bad_input, login, short=args.short)
        if "scan" in args.only:
            print("secret scan: two deployments (sync, deferrable)...", file=sys.stderr, flush=True)
            scan = secret_scan.run_scan(emulator, work_dir / "scan")
    seconds = time.monotonic() - started
    if args.save:
        save(Path(args.save), faults, scan, rows, seconds, copy)
    for line in report.summary(faults, scan, rows, copy):
        print(line)
    if (args.faults or args.match) and faults:
        print("\n".join(report.fault_rows(faults)))
    if set(args.only) == set(PARTS) and not args.short and not args.faults and not args.match:
        Path(args.output).write_text(report.render(faults, scan, rows, seconds=seconds, copy=copy))
        print(f"wrote {args.output}")
    return 1 if report.failed(faults, scan, rows, copy) else 0


def save(directory: Path, faults, scan, rows, seconds: float, copy=None) -> None:
    import dataclasses
    import json

    directory.mkdir(parents=True, exist_ok=True)
    for name, value in (("faults", faults), ("copy", copy), ("scan", scan), ("bad-input", rows)):
        if value is None:
            continue
        data = (
            dataclasses.asdict(value)
            if dataclasses.is_dataclass(value)
            else [dataclasses.asdict(v) for v in value]
        )
        (directory / f"{name}.json").write_text(
            json.dumps({"seconds": seconds, "data": data}, default=sorted)
        )


def merge(directory: Path, output: Path) -> int:
    """The page from parts run separately (e.g. in parallel) and saved with --save."""
    import json

    from tests.faults import report
    from tests.faults.bad_input import Row
    from tests.faults.matrix import Result
    from tests.faults.secret_scan import Scan

    def load(name: str):
        path = directory / f"{name}.json"
        return json.loads(path.read_text()) if path.exists() else None

    parts = {name: load(name) for name in PARTS}
    faults = (
        [Result(**{**r, "allowed": frozenset(r["allowed"])}) for r in parts["faults"]["data"]]
        if parts["faults"]
        else None
    )
    scan = Scan(**parts["scan"]["data"]) if parts["scan"] else None
    rows = [Row(**r) for r in parts["bad-input"]["data"]] if parts["bad-input"] else None
    from tests.faults.copy_faults import CopyRow

    copy = [CopyRow(**r) for r in parts["copy"]["data"]] if parts["copy"] else None
    seconds = sum(part["seconds"] for part in parts.values() if part)
    note = "(The parts ran as separate processes at the same time; their minutes are added up.)"
    output.write_text(report.render(faults, scan, rows, seconds=seconds, note=note, copy=copy))
    for line in report.summary(faults, scan, rows, copy):
        print(line)
    print(f"wrote {output}")
    return 1 if report.failed(faults, scan, rows, copy) else 0


def run_bad_input(emulator, work_dir: Path, bad_input, login, *, short: bool):
    import os

    from airflow_provider_oac.hooks.oac import OACHook
    from airflow_provider_oac.hooks.token_manager import forget_process_cache

    os.environ["AIRFLOW_PROVIDER_OAC_STATE_DIR"] = str(work_dir / "state-bad-input")
    forget_process_cache()
    emulator.control.reset()
    emulator.control.configure(work_request_seconds=0.2)
    login(emulator, "oac_bad_input")
    hook = OACHook("oac_bad_input")
    accepted = hook.create_snapshot("bad-input-source", bad_input.PASSWORD)
    work_request = hook.wait_for_work_request(accepted.work_request_id, poll_interval=0.2)
    snapshot_id = hook.client.find_created_snapshot("bad-input-source", work_request).id
    print("bad input: CLI flags...", file=sys.stderr, flush=True)
    matrix = bad_input.CLIMatrix(emulator, "oac_bad_input", snapshot_id, accepted.work_request_id)
    commands = {"login": ["--oac-url"], "snapshots restore": ["SNAPSHOT_ID"]} if short else None
    rows = matrix.rows(commands)
    print("bad input: connection fields...", file=sys.stderr, flush=True)
    rows += bad_input.connection_rows(emulator, "oac_bad_input", fields=("host",) if short else None)
    print("bad input: operator arguments...", file=sys.stderr, flush=True)
    rows += bad_input.operator_rows(
        emulator, "oac_bad_input", bad_input.OPERATOR_ARGUMENTS[:2] if short else None
    )
    return rows


if __name__ == "__main__":
    sys.exit(main())
