"""The kill window of a refresh: from IAM's answer (the old refresh token is spent) to the end of
the first durable write of the new one (the host journal: written, fsynced, renamed, directory
fsynced). A process killed inside the window loses the login.

    .venv/bin/python bench/token_window.py [--refreshes 20] [--masked 0 1000]

Runs against the emulator in this process with a temporary AIRFLOW_HOME (SQLite).
``--masked N`` first registers N unrelated secrets with the secrets masker, as a long-running
triggerer or a task with many connections has: masking recompiles one regex of all of them. Run it
on an older checkout (PYTHONPATH=that checkout) to compare: the wrappers are the same.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

from airflow_provider_oac.testing import STATE_DIR_ENV, temporary_airflow_home


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--refreshes", type=int, default=20)
    parser.add_argument("--masked", type=int, nargs="+", default=[0, 1000])
    args = parser.parse_args()

    temporary_airflow_home("bench-window")  # before anything imports Airflow
    from airflow_provider_oac.auth import flows
    from airflow_provider_oac.emulator import EmulatorConfig, EmulatorServer
    from airflow_provider_oac.hooks import token_store
    from airflow_provider_oac.hooks._airflow import mask_secret
    from airflow_provider_oac.hooks.oac import OACHook
    from airflow_provider_oac.hooks.token_manager import forget_process_cache
    from airflow_provider_oac.testing import login

    os.environ[STATE_DIR_ENV] = tempfile.mkdtemp(prefix="oac-window-")
    answered: list[float] = []
    windows: list[float] = []
    real_refresh, real_write = flows.refresh_tokens, token_store.HostJournal.write

    def refresh_tokens(*a, **k):
        tokens = real_refresh(*a, **k)
        answered.append(time.perf_counter())
        return tokens

    def journal_write(self, conn_id, record):
        real_write(self, conn_id, record)
        if answered:
            windows.append(time.perf_counter() - answered.pop())

    flows.refresh_tokens = refresh_tokens
    token_store.HostJournal.write = journal_write
    print(f"code: {os.path.dirname(os.path.dirname(token_store.__file__))}")
    with EmulatorServer(EmulatorConfig()) as emulator:
        masked_so_far = 0
        for masked in sorted(args.masked):
            for i in range(masked_so_far, masked):
                mask_secret(f"unrelated-secret-{i:06d}-{os.urandom(8).hex()}")
            masked_so_far = masked
            conn_id = f"oac_window_{masked}"
            login(emulator, conn_id)
            windows.clear()
            for _ in range(args.refreshes):
                forget_process_cache()
                hook = OACHook(conn_id)
                hook.token_manager.invalidate_current()
                hook.get_access_token()
            ms = sorted(w * 1000 for w in windows)
            print(
                f"{masked:>5} other secrets masked: window median {statistics.median(ms):.2f} ms, "
                f"max {ms[-1]:.2f} ms ({len(ms)} refreshes)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
