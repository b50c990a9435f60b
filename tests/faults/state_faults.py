"""Fault-matrix rows for the token state (issue 13): failed journal or store writes, a full or
read-only state directory, host death (SIGKILL) in the refresh window, and a task that refreshes
while ``airflow-oac login`` cleans up.

How each fault is made, honestly:

- **full / read-only state directory**: a real 64 KiB tmpfs mounted on the scenario's state
  directory, filled up, or remounted read-only. Without mount rights (most CI runners) an
  ``OSError`` (ENOSPC / EROFS) is injected at the os-level call (``os.write`` of journal files,
  ``os.open`` for writing in the state directory) instead; the row says which was used.
- **store write fails**: ``VariableTokenStore.write`` raises (what an API-server or database error
  does to the Task SDK's ``Variable.set``); injected in the process that runs the DAG.
- **host death**: the refresh runs in a child process (a worker's task) that SIGKILLs itself at
  the named moment; the next process on the host (a fresh worker) then needs a token.
- **login race**: ``save_login`` (the CLI's and the UI page's path) with a task of the new login
  refreshing between the connection write and the clean-up.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from tests.faults.matrix import FAILED, SUCCESS, Fault, Result

KILLED = "killed"
PREFIX = "state:"

FAULTS = (
    Fault("state dir full", "state:disk_full"),
    Fault("state dir read-only", "state:read_only"),
    Fault("Variable write fails", "state:store_fails"),
    Fault("journal and Variable writes fail", "state:both_fail"),
    Fault("SIGKILL while masking the new tokens", "state:kill_masking"),
    Fault("SIGKILL after the journal write", "state:kill_after_journal"),
    Fault("a task refreshes during the login", "state:login_race"),
)

#: The step each state fault applies to.
STEP = {
    fault.name: "login: token" if fault.action == "state:login_race" else "task refresh: POST token"
    for fault in FAULTS
}

#: Where a lost refresh token is the promised outcome (nobody holds it any more).
LOST_LOGIN = {("journal and Variable writes fail", "task refresh: POST token")}


def is_state_fault(fault: Fault) -> bool:
    return fault.action.startswith(PREFIX)


ALLOWED = {
    "state:disk_full": frozenset({SUCCESS}),
    "state:read_only": frozenset({FAILED}),
    "state:store_fails": frozenset({SUCCESS}),
    "state:both_fail": frozenset({FAILED}),
    "state:kill_masking": frozenset({KILLED}),
    "state:kill_after_journal": frozenset({KILLED}),
    "state:login_race": frozenset({SUCCESS}),
}


def expected(fault: Fault) -> tuple[frozenset[str], str]:
    return ALLOWED[fault.action], WHY[fault.action]


WHY = {
    "state:disk_full": "the Variable has the new token; a warning names the fix",
    "state:read_only": "refused before IAM (the lock file cannot be opened): nothing spent",
    "state:store_fails": "the journal has the new token; the next process on the host recovers it",
    "state:both_fail": "nowhere to keep the new refresh token: fails loudly, says to log in again",
    "state:kill_masking": "stored before masking: the next process uses it",
    "state:kill_after_journal": "the next process on the host recovers it from the journal",
    "state:login_race": "the login forgets only the other logins' records",
}


#: What the task log must say when only one of the two writes failed.
WARNINGS = {
    "state:disk_full": "journal could not be written",
    "state:store_fails": "kept in this host's journal",
}


# --- the state directory: a real tmpfs, else an injected OSError ------------------------------------


def _mount(state: Path, options: str) -> bool:
    state.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(state)], capture_output=True, check=False
    )
    return done.returncode == 0


def _umount(state: Path) -> None:
    subprocess.run(["umount", str(state)], capture_output=True, check=False)


@contextmanager
def _injected(error: int, state: Path) -> Iterator[None]:
    """ENOSPC at ``os.write`` of journal files, or EROFS at ``os.open`` for writing, in ``state``."""
    real_write, real_open = os.write, os.open
    writing = os.O_WRONLY | os.O_RDWR | os.O_CREAT

    def target(fd: int) -> str:
        try:
            return os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            return ""

    def write(fd: int, data: Any) -> int:
        if error == errno.ENOSPC and target(fd).startswith(str(state)):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(fd, data)

    def open_(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if error == errno.EROFS and flags & writing and str(path).startswith(str(state)):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        return real_open(path, flags, *args, **kwargs)

    os.write, os.open = write, open_  # type: ignore[assignment]
    try:
        yield
    finally:
        os.write, os.open = real_write, real_open  # type: ignore[assignment]


@contextmanager
def _store_fails() -> Iterator[None]:
    from airflow_provider_oac.hooks.token_store import VariableTokenStore

    real = VariableTokenStore.write

    def write(self: Any, conn_id: str, record: Any) -> None:
        raise ConnectionError("injected: the API server could not write the Variable")

    VariableTokenStore.write = write  # type: ignore[method-assign]
    try:
        yield
    finally:
        VariableTokenStore.write = real  # type: ignore[method-assign]


@contextmanager
def armed(fault: Fault, state: Path, notes: list[str]) -> Iterator[None]:
    """The fault in place around a DAG run in this process (nothing for other faults)."""
    action = fault.action
    if action == "state:disk_full":
        if _mount(state, "size=64k,mode=0700"):
            notes.append("a real 64 KiB tmpfs, filled")
            try:
                _fill(state)
                yield
            finally:
                _umount(state)
        else:
            notes.append("ENOSPC injected at os.write (no mount rights)")
            with _injected(errno.ENOSPC, state):
                yield
    elif action == "state:read_only":
        if _mount(state, "size=64k,mode=0700,ro"):
            notes.append("a real read-only tmpfs")
            try:
                yield
            finally:
                _umount(state)
        else:
            notes.append("EROFS injected at os.open (no mount rights)")
            with _injected(errno.EROFS, state):
                yield
    elif action == "state:store_fails":
        with _store_fails():
            yield
    elif action == "state:both_fail":
        notes.append("ENOSPC injected at os.write, Variable write raises")
        with _store_fails(), _injected(errno.ENOSPC, state):
            yield
    else:
        with nullcontext():
            yield


def _fill(state: Path) -> None:
    fd = os.open(state / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError as exc:
        if exc.errno != errno.ENOSPC:
            raise
    finally:
        os.close(fd)


# --- host death: a worker killed in the refresh window --------------------------------------------

KILLED_TASK = textwrap.dedent(
    """
    import os, signal, sys
    from airflow_provider_oac.hooks.oac import OACHook
    from airflow_provider_oac.hooks.token_manager import TokenManager
    from airflow_provider_oac.hooks.token_store import HostJournal

    def die(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGKILL)

    if sys.argv[2] == "kill_masking":
        TokenManager._mask = die  # SIGKILL (or SIGTERM, execution_timeout) while masking
    else:
        write = HostJournal.write
        def write_then_die(self, conn_id, record):
            write(self, conn_id, record)
            die()
        HostJournal.write = write_then_die
    OACHook(sys.argv[1]).get_access_token()
    """
)


def run_killed(runner: Any, fault: Fault, conn_id: str, allowed: frozenset[str], why: str) -> Result:
    from airflow_provider_oac.testing import login

    control = runner.emulator.control
    login(runner.emulator, conn_id)
    runner._before = control.counters()
    point = fault.action.removeprefix(PREFIX)
    done = subprocess.run(
        [sys.executable, "-c", KILLED_TASK, conn_id, point], capture_output=True, text=True, timeout=300
    )
    runner._after = control.counters()
    runner._outputs = done.stdout + done.stderr
    outcome = KILLED if done.returncode == -9 else (SUCCESS if done.returncode == 0 else FAILED)
    refreshes = runner._after["refreshes"] - runner._before["refreshes"]
    result = Result(
        fault.name,
        STEP[fault.name],
        outcome,
        allowed,
        why,
        f"worker SIGKILLed after {refreshes} refresh(es) at IAM",
    )
    if refreshes != 1:
        result.broken.append(f"IAM answered {refreshes} refreshes before the kill, expected 1")
    return result


# --- a login's clean-up racing a task of the new login ---------------------------------------------


def run_login_race(runner: Any, fault: Fault, conn_id: str, allowed: frozenset[str], why: str) -> Result:
    from airflow_provider_oac.hooks.oac import OACHook
    from airflow_provider_oac.hooks.token_manager import forget_process_cache
    from airflow_provider_oac.hooks.token_store import VariableTokenStore
    from airflow_provider_oac.testing import login

    control = runner.emulator.control
    login(runner.emulator, conn_id)
    OACHook(conn_id).get_access_token()  # the old login's records
    runner._before = control.counters()
    forget = VariableTokenStore.forget_login

    def a_task_refreshes_first(self: Any, conn: str, *args: Any, **kwargs: Any) -> int:
        forget_process_cache()
        OACHook(conn).get_access_token()  # a task of the new login, between write and clean-up
        return forget(self, conn, *args, **kwargs)

    VariableTokenStore.forget_login = a_task_refreshes_first  # type: ignore[method-assign]
    try:
        saved = login(runner.emulator, conn_id)
    finally:
        VariableTokenStore.forget_login = forget  # type: ignore[method-assign]
    # The next task whose access token is stale: it must present the rotated token.
    forget_process_cache()
    hook = OACHook(conn_id)
    hook.token_manager.invalidate_current()
    message = "(none: succeeded)"
    outcome = SUCCESS
    try:
        hook.get_access_token()
    except Exception as exc:
        outcome, message = FAILED, f"{type(exc).__name__}: {exc}"
    runner._after = control.counters()
    runner._outputs = ""
    result = Result(fault.name, STEP[fault.name], outcome, allowed, why, message)
    result.message = f"{message}; forgot {saved.forgotten_records} record(s) of the old login"
    return result
