"""Worker processes that start together: each prints ``ready``, waits for ``go`` on stdin, works,
and prints one JSON line with what it saw. Used by the lock and stress tests and the benchmark.

The worker side is :func:`wait_for_go` and :func:`report`; the parent side is :class:`Workers`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


# --- worker side ---------------------------------------------------------------------------------


def wait_for_go() -> None:
    print("ready", flush=True)
    line = sys.stdin.readline()
    if line.strip() != "go":
        raise SystemExit("the parent went away before saying go")


def report(result: dict[str, Any]) -> None:
    print(json.dumps(result), flush=True)


# --- parent side ---------------------------------------------------------------------------------


class WorkerFailed(AssertionError):
    pass


class Workers:
    """``count`` processes running ``python -m <module> <args>``, each with ``env(i)`` added to
    this process's environment. stderr goes to files under ``log_dir`` (read on failure)."""

    def __init__(
        self,
        module: str,
        args: list[str],
        count: int,
        log_dir: Path,
        *,
        env: Any = None,
    ):
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir = log_dir
        self.procs: list[subprocess.Popen[str]] = []
        for index in range(count):
            extra = env(index) if callable(env) else (env or {})
            stderr = open(log_dir / f"worker-{index}.stderr", "w")  # noqa: SIM115 - closed by the child's exit
            self.procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", module, *args],
                    cwd=REPO,
                    env={**os.environ, **extra},
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=stderr,
                    text=True,
                    start_new_session=True,
                )
            )
            stderr.close()

    def stderr(self, index: int) -> str:
        return (self.log_dir / f"worker-{index}.stderr").read_text(errors="replace")

    def _tail(self, index: int) -> str:
        return self.stderr(index)[-3000:]

    def wait_ready(self) -> float:
        """Block until every worker said ``ready``; returns the seconds it took."""
        started = time.monotonic()
        for index, proc in enumerate(self.procs):
            assert proc.stdout is not None
            # Airflow may log to stdout while the worker imports it (3.2 prints alembic's plugin
            # set-up there): skip such lines until "ready", fail at the end of the output.
            skipped: list[str] = []
            while (line := proc.stdout.readline()) and line.strip() != "ready":
                skipped.append(line)
            if not line:
                self.kill()
                seen = "".join(skipped)[-1000:]
                raise WorkerFailed(f"worker {index} did not get ready: {seen!r}\n{self._tail(index)}")
        return time.monotonic() - started

    def go(self) -> None:
        for proc in self.procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()

    def results(self, timeout: float = 180) -> list[dict[str, Any]]:
        """Each worker's JSON line, in order; raises if any worker failed."""
        deadline = time.monotonic() + timeout
        results = []
        for index, proc in enumerate(self.procs):
            try:
                out, _ = proc.communicate(timeout=max(deadline - time.monotonic(), 1))
            except subprocess.TimeoutExpired:
                self.kill()
                raise WorkerFailed(f"worker {index} did not finish in time\n{self._tail(index)}") from None
            lines = [line for line in out.splitlines() if line.startswith("{")]
            if proc.returncode != 0 or not lines:
                self.kill()
                raise WorkerFailed(
                    f"worker {index} exited with {proc.returncode}: {out[-1000:]!r}\n{self._tail(index)}"
                )
            results.append(json.loads(lines[-1]))
        return results

    def kill(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
