"""Running lock workers and checking what they saw."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from tests.servers import LockConn
from tests.workers import REPO, Workers


def count_under_lock(conn: LockConn, name: str, tmp_path: Path, processes: int, iterations: int):
    """``processes`` workers each add 1 to a file counter ``iterations`` times under the lock;
    returns the final count and every (start, end) interval a worker held the lock."""
    counter = tmp_path / "counter"
    counter.write_text("0")
    workers = Workers(
        "tests.locks.lock_worker",
        ["count", conn.to_json(), name, str(iterations), str(counter)],
        processes,
        tmp_path / "logs",
    )
    workers.wait_ready()
    workers.go()
    intervals = sorted(tuple(i) for r in workers.results(timeout=120) for i in r["held"])
    return int(counter.read_text()), intervals


def overlaps(intervals: list[tuple[float, float]]) -> int:
    """How many held intervals start before the previous one ended."""
    return sum(1 for before, after in zip(intervals, intervals[1:]) if after[0] < before[1])


class Holder:
    """A separate process holding the lock until killed."""

    def __init__(self, conn: LockConn, name: str, lease: float | None = None):
        args = ["hold", conn.to_json(), name] + ([str(lease)] if lease is not None else [])
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.locks.lock_worker", *args],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if line.strip() != "held":
            self.proc.kill()
            raise AssertionError(
                f"the holder did not take the lock: {line!r} {self.proc.stderr.read()[-2000:]}"
            )

    def kill(self) -> float:
        """SIGKILL (no cleanup code runs); returns when it died (time.monotonic())."""
        self.proc.kill()
        self.proc.wait()
        return time.monotonic()

    def __enter__(self) -> Holder:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.kill()


def take(lock) -> None:
    """Take the lock ``lock`` (a context manager) and release it at once."""
    with lock:
        pass
