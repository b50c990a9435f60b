"""A process that takes a refresh lock: ``python -m tests.locks.lock_worker MODE CONN_JSON NAME ...``.

- ``count ITERATIONS COUNTER_FILE``: ITERATIONS times, under the lock, read the number in
  COUNTER_FILE, pause, write it back plus one (lost updates show any overlap), and report the
  intervals it held the lock.
- ``hold [LEASE]``: take the lock, print ``held``, and keep it until killed.

Imports only the provider's lock module (no Airflow), so many of these start quickly.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from airflow_provider_oac.hooks.locks import postgres_advisory_lock, redis_lock
from tests.servers import LockConn
from tests.workers import report, wait_for_go


def take(conn: LockConn, name: str, timeout: float = 60.0, lease: float | None = None):
    if conn.conn_type == "redis":
        return redis_lock(conn, name, timeout, **({} if lease is None else {"lease": lease}))
    return postgres_advisory_lock(conn, name, timeout)


def count(conn: LockConn, name: str, iterations: int, counter: Path) -> None:
    wait_for_go()
    held: list[tuple[float, float]] = []
    for _ in range(iterations):
        with take(conn, name):
            start = time.time()
            value = int(counter.read_text() or 0)
            time.sleep(0.002)
            counter.write_text(str(value + 1))
            held.append((start, time.time()))
    report({"held": held})


def hold(conn: LockConn, name: str, lease: float | None) -> None:
    with take(conn, name, lease=lease):
        print("held", flush=True)
        time.sleep(3600)


def main(argv: list[str]) -> None:
    mode, conn_json, name, *rest = argv
    conn = LockConn.from_json(conn_json)
    if mode == "count":
        count(conn, name, int(rest[0]), Path(rest[1]))
    elif mode == "hold":
        hold(conn, name, float(rest[0]) if rest else None)
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
