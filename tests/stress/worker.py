"""A process of "tasks" using one OAC connection: ``python -m tests.stress.worker MODE ...``.

- ``run CONN_ID THREADS SECONDS``: THREADS threads run tasks back to back for SECONDS seconds.
  A task is what an operator does: a new ``OACHook``, then a few OAC calls
  (``get_access_token()`` + ``list_snapshots()``), a short pause between calls.
- ``once CONN_ID``: one task of one call, started the moment the parent says go.
- ``login CONN_ID OAC_URL CLIENT_ID SCOPE EXTRA_JSON``: a device login against the emulator
  (auto-approved), saved as the connection in *this* process's metadata database.

``run`` and ``once`` print ``ready`` once the connection is loaded, wait for ``go``, and end with
one JSON line (counts only: never a token).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import threading
import time
from collections import Counter
from typing import Any

from tests.workers import report, wait_for_go

#: OAC calls per task, and the pause between them (seconds).
CALLS_PER_TASK = 5
PAUSE = 0.1


class Tally:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.tasks = 0
        self.calls = 0
        self.refreshes = 0
        self.login_required = 0
        self.errors: list[str] = []
        self.tokens: set[str] = set()

    def result(self, **extra: Any) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "tasks": self.tasks,
            "calls": self.calls,
            "refreshes": self.refreshes,
            "login_required": self.login_required,
            "error_count": len(self.errors),
            "error_types": dict(Counter(error.split(":", 1)[0] for error in self.errors)),
            "errors": sorted(set(self.errors))[:10],
            "access_tokens_seen": len(self.tokens),
            **extra,
        }


def one_task(conn_id: str, tally: Tally, calls: int, pause: float) -> bool:
    """Run one task; False once the login is dead (nothing more can work)."""
    from airflow_provider_oac.errors import OACError, OACLoginRequired
    from airflow_provider_oac.hooks.oac import OACHook

    hook = OACHook(conn_id)
    alive = True
    done = 0
    try:
        for call in range(calls):
            if call:
                time.sleep(pause)
            token = hook.get_access_token()
            hook.list_snapshots()
            done += 1
            with tally.lock:
                tally.tokens.add(hashlib.sha256(token.encode()).hexdigest()[:16])
    except OACLoginRequired as exc:
        alive = False
        with tally.lock:
            tally.login_required += 1
            tally.errors.append(f"{type(exc).__name__}: {exc}")
    except OACError as exc:
        with tally.lock:
            tally.errors.append(f"{type(exc).__name__}: {exc}")
    finally:
        manager = hook.__dict__.get("token_manager")
        with tally.lock:
            tally.tasks += 1
            tally.calls += done
            tally.refreshes += manager.refresh_count if manager is not None else 0
    return alive


def run(conn_id: str, threads: int, seconds: float) -> None:
    from airflow_provider_oac.hooks.oac import OACHook

    OACHook(conn_id).config  # noqa: B018 - load the connection (and Airflow) before the start
    wait_for_go()
    tally = Tally()
    deadline = time.monotonic() + seconds

    def tasks() -> None:
        while time.monotonic() < deadline and one_task(conn_id, tally, CALLS_PER_TASK, PAUSE):
            pass

    started = time.monotonic()
    workers = [threading.Thread(target=tasks) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    report(tally.result(threads=threads, seconds=round(time.monotonic() - started, 2)))


def once(conn_id: str) -> None:
    from airflow_provider_oac.hooks.oac import OACHook

    OACHook(conn_id).config  # noqa: B018
    wait_for_go()
    tally = Tally()
    one_task(conn_id, tally, calls=1, pause=0)
    report(tally.result())


def forked_task(conn_id: str, state_dir: str, barrier: Any, results: Any) -> None:
    """One task in a process forked by a multiprocessing forkserver that preloaded Airflow (the
    benchmark starts 50 of these; 50 fresh interpreters would take minutes to import Airflow).
    Waits at ``barrier`` with the others, then puts its tally on the ``results`` queue."""
    os.environ["AIRFLOW_PROVIDER_OAC_STATE_DIR"] = state_dir
    tally = Tally()
    try:
        from airflow_provider_oac.hooks.oac import OACHook

        OACHook(conn_id).config  # noqa: B018
        barrier.wait()
        one_task(conn_id, tally, calls=1, pause=0)
    except BaseException as exc:  # the parent waits for every result: report, never vanish
        tally.errors.append(f"{type(exc).__name__}: {exc}")
        barrier.abort()
    results.put(tally.result())


def login(conn_id: str, oac_url: str, client_id: str, scope: str, extra_json: str) -> None:
    from types import SimpleNamespace

    from airflow_provider_oac.emulator.control import EmulatorControl
    from tests.helpers import login as device_login

    emulator = SimpleNamespace(
        url=oac_url,
        iam_url=f"{oac_url}/iam",
        control=EmulatorControl(oac_url),
        config=SimpleNamespace(client_id=client_id, scope=scope),
    )
    result = device_login(emulator, conn_id, **json.loads(extra_json))
    report({"conn_id": result.conn_id, "created": result.created})


def main(argv: list[str]) -> None:
    mode, *args = argv
    if mode == "run":
        run(args[0], int(args[1]), float(args[2]))
    elif mode == "once":
        once(args[0])
    elif mode == "login":
        login(*args)
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
