"""How long after the one-time code is approved does ``airflow-oac login`` write the connection?
Target: at most one poll interval.

    .venv/bin/python bench/cli_login.py [--intervals 1 5] [--repeats 4]

Starts its own emulator and a temporary AIRFLOW_HOME, runs ``airflow-oac login`` as a user does
(a new process, ``--no-browser``), reads the one-time code from its output, waits a random time
up to 2.5 poll intervals (approvals land anywhere between two polls), approves the code through the
emulator and times until the CLI prints that it logged in, which it does after the connection is
written. The clock starts just *before* the approval call, so the figure is an upper bound.
Interval 5 s is what clients use when IAM sends none (RFC 8628), as IAM does. Writing the
connection comes on top of the wait: it is timed alone in the same run, and the target applies to
the rest (the wait for the poll that sees the approval).
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests

from airflow_provider_oac.auth.flows import poll_device_login, start_device_login
from airflow_provider_oac.auth.protocol import IAMEndpoints
from airflow_provider_oac.emulator import EmulatorConfig, EmulatorServer
from airflow_provider_oac.login import NewLogin, save_login
from airflow_provider_oac.login.connections import existing_connection
from airflow_provider_oac.testing import cli_login_args

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _env  # sets up AIRFLOW_HOME before Airflow is imported


def one_login(emulator: Any, conn_id: str, interval: float) -> tuple[float, bool]:
    """Seconds from approval to the CLI's "Logged in" line; whether the connection exists then."""
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "airflow-oac"), *cli_login_args(emulator, conn_id)],
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    try:
        code = None
        for line in proc.stdout:
            if "one-time code:" in line:
                code = line.rsplit(":", 1)[1].strip()
                break
        if code is None:
            raise RuntimeError(f"no one-time code: {proc.stderr.read() if proc.stderr else ''}")
        # Anywhere within the first polls: some approvals find the CLI between two pending polls.
        time.sleep(random.uniform(0, 2.5 * interval))
        approved_at = time.monotonic()
        emulator.control.approve(code)
        for line in proc.stdout:
            if line.startswith("Logged in to"):
                written = time.monotonic() - approved_at
                break
        else:
            raise RuntimeError(f"the CLI did not log in: {proc.stderr.read() if proc.stderr else ''}")
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    return written, existing_connection(conn_id) is not None


def write_seconds(emulator: Any, repeats: int = 3) -> float:
    """How long writing the connection takes by itself (``save_login``, what the CLI calls once the
    tokens arrive): the part of the latency that is not waiting for a poll. Median of ``repeats``."""
    emulator.control.configure(auto_approve=True, device_interval=1)
    endpoints = IAMEndpoints.for_domain(emulator.iam_url)
    times = []
    for attempt in range(repeats):
        with requests.Session() as session:
            authorization = start_device_login(
                session, endpoints, emulator.config.client_id, emulator.config.scope
            )
            tokens = poll_device_login(session, endpoints, emulator.config.client_id, authorization)
        login = NewLogin(
            f"bench_cli_write_{attempt}",
            oac_url=emulator.url,
            iam_url=emulator.iam_url,
            client_id=emulator.config.client_id,
            scope=emulator.config.scope,
            tokens=tokens,
            refresh_token_lifetime=604800.0,
        )
        started = time.monotonic()
        save_login(login)
        times.append(time.monotonic() - started)
    emulator.control.configure(auto_approve=False)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--intervals", type=int, nargs="+", default=[1, 5], help="device poll intervals, s")
    parser.add_argument("--repeats", type=int, default=4, help="logins per interval")
    args = parser.parse_args()

    _env.airflow_home("cli-login")

    rows: list[list[object]] = []
    met = True
    with EmulatorServer(EmulatorConfig()) as emulator:
        write = write_seconds(emulator)
        for interval in args.intervals:
            # The default (5 s) is what a client uses when IAM sends no interval, as IAM does.
            emulator.control.configure(device_interval=None if interval == 5 else interval)
            before = emulator.control.counters()
            latencies = []
            written = 0
            for attempt in range(args.repeats):
                seconds, exists = one_login(emulator, f"bench_cli_{interval}_{attempt}", interval)
                latencies.append(seconds)
                written += exists
            after = emulator.control.counters()
            polls = after["device_polls"] - before["device_polls"]
            slow_downs = after["slow_downs"] - before["slow_downs"]
            worst = max(latencies) / interval
            # The poll wait is what the interval bounds; writing the connection comes on top.
            ok = (max(latencies) - write) / interval <= 1.0 and written == args.repeats
            met = met and ok
            rows.append(
                [
                    f"{interval} s" + (" (none sent: RFC default)" if interval == 5 else ""),
                    args.repeats,
                    f"{statistics.median(latencies):.2f}",
                    f"{max(latencies):.2f}",
                    f"{statistics.median(latencies) / interval:.2f}",
                    f"{worst:.2f}",
                    f"{(max(latencies) - write) / interval:.2f}",
                    f"{written}/{args.repeats}",
                    f"{polls} ({polls / args.repeats:.1f} per login)",
                    slow_downs,
                ]
            )
    _env.print_table(
        "CLI login: approval to connection written (airflow-oac login in a new process)",
        [
            "poll interval",
            "logins",
            "median s",
            "max s",
            "median / interval",
            "max / interval",
            "(max - write) / interval",
            "connection written",
            "device polls",
            "slow_down answers",
        ],
        rows,
        note=(
            "Approvals land at a random point between two polls. Writing the connection alone (save_login, "
            f"measured in this run): {write * 1000:.0f} ms. Target: the wait for the next poll is at most one "
            "interval, i.e. (max - write) / interval <= 1."
        ),
    )
    _env.verdict("at most one poll interval", met, "every interval, every login")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
