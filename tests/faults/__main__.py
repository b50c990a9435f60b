"""``make faults``: the whole fault matrix, the secret scan and the bad-input matrix; writes
docs/reliability.md and exits 1 if any invariant broke.

    .venv/bin/python -m tests.faults [--only faults scan bad-input] [--short] [--output docs/reliability.md]
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

PARTS = ("faults", "scan", "bad-input")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", choices=PARTS, default=list(PARTS))
    parser.add_argument("--short", action="store_true", help="the short forms (as make test runs them)")
    parser.add_argument("--output", default=str(session.REPO / "docs" / "reliability.md"))
    args = parser.parse_args()

    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True)
    from airflow_provider_oac.emulator import EmulatorConfig, EmulatorServer
    from tests.faults import bad_input, matrix, report, secret_scan
    from tests.helpers import login

    work_dir = Path(tempfile.mkdtemp(prefix="oac-faults-"))
    started = time.monotonic()
    faults = scan = rows = None
    with EmulatorServer(EmulatorConfig()) as emulator:
        if "faults" in args.only:
            chosen = matrix.short_scenarios() if args.short else matrix.scenarios()
            faults = matrix.run_scenarios(emulator, chosen, work_dir, progress=True)
        if "bad-input" in args.only:
            rows = run_bad_input(emulator, work_dir, bad_input, login, short=args.short)
        if "scan" in args.only:
            print("secret scan: two deployments (sync, deferrable)...", file=sys.stderr, flush=True)
            scan = secret_scan.run_scan(emulator, work_dir / "scan")
    seconds = time.monotonic() - started
    for line in report.summary(faults, scan, rows):
        print(line)
    if set(args.only) == set(PARTS) and not args.short:
        Path(args.output).write_text(report.render(faults, scan, rows, seconds=seconds))
        print(f"wrote {args.output}")
    return 1 if report.failed(faults, scan, rows) else 0


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
