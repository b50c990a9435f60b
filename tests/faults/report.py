"""docs/reliability.md, written from one run of the fault matrix, the secret scan and the
bad-input matrix (``make faults``)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from tests.faults.bad_input import Row
from tests.faults.matrix import CLIENT_TIMEOUT, HANG_SECONDS, IAM_HANG_SECONDS, OPERATOR_TIMEOUT, Result
from tests.faults.secret_scan import Scan


def cell(value: object, limit: int = 220) -> str:
    """Table-safe text: one line, no Markdown or HTML that would render."""
    text = " ".join(str(value).split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    for char, escaped in (
        ("\\", "\\\\"),
        ("|", "\\|"),
        ("`", "\\`"),
        ("*", "\\*"),
        ("<", "&lt;"),
        (">", "&gt;"),
    ):
        text = text.replace(char, escaped)
    return text or "-"


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(value) for value in row) + " |" for row in rows]
    return lines


def render(
    faults: list[Result] | None,
    scan: Scan | None,
    bad_input: list[Row] | None,
    *,
    seconds: float,
    note: str = "",
    copy: list[Any] | None = None,
) -> str:
    out = [
        "# Reliability",
        "",
        "What happens when IAM or OAC misbehaves, whether secrets leak, and what bad input gets: measured",
        "against the bundled emulator through the code paths users run, by `make faults`, which wrote this",
        f"page ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {seconds / 60:.0f} minutes). A scenario",
        "that breaks an invariant fails `make faults`; `make test` runs a short form of each matrix",
        "(tests/faults/). The code is in tests/faults/: `matrix.py`, `secret_scan.py`, `bad_input.py`.",
        "",
    ]
    if note:
        out += [note, ""]
    if faults is not None:
        out += _faults(faults)
    if copy is not None:
        from tests.faults.copy_faults import report_lines

        out += report_lines(copy)
    if scan is not None:
        out += _scan(scan)
    if bad_input is not None:
        out += _bad_input(bad_input)
    return "\n".join(out) + "\n"


def _faults(results: list[Result]) -> list[str]:
    broken = [r for r in results if r.broken]
    out = [
        "## Fault matrix",
        "",
        f"{len(results)} scenarios: every fault the emulator injects, once, at every step it applies to;",
        f"{len(results) - len(broken)} keep every invariant, {len(broken)} break one.",
        "",
        "- **Login** runs `airflow-oac login` in a new process (IAM approves at once, polls every second).",
        "- **Create**, **restore** and **wait** run `OACCreateSnapshotOperator` / `OACRestoreSnapshotOperator` in",
        "  a DAG run (`dag.test()`, one retry); *wait (deferred)* is a deferrable create, polled by",
        "  `OACWorkRequestTrigger`. **Task refresh** is a create whose access token OAC has just refused, so the",
        "  task refreshes at IAM first.",
        f"- The client's read timeout is {CLIENT_TIMEOUT} s (connection extra `timeout`); `accept_then_hang` holds",
        f"  OAC's answer {HANG_SECONDS:g} s after acting, IAM's {IAM_HANG_SECONDS:g} s (IAM calls time out after",
        f"  60 s, so there it is only slow). Operators wait at most {OPERATOR_TIMEOUT} s (`timeout`).",
        "- The emulator detects refresh-token reuse: a spent refresh token presented again revokes the login.",
        "- *TLS broken after the request was sent*: OAC is reached through the emulator's TLS front",
        "  (`airflow_provider_oac/emulator/tls.py`, a certificate made at start, trusted via `ca_bundle`); OAC",
        "  acts, then the answer's bytes are no TLS record.",
        "- *work-record write fails*: Airflow's execution API answers 503 to the task-state-store write of the",
        "  intent (before the POST) or of the accepted work request (after it); *worker SIGKILLed*: the DAG runs",
        "  in another process, killed once OAC accepted (its answer held), and the next try runs here.",
        "- **Lock** rows (tests/faults/locks.py) fault the cross-host refresh lock instead of the emulator: a Redis",
        "  of the run's own killed during a task's refresh (lease 6 s, IAM answering in 7 s) or down for the whole",
        "  task, and a PostgreSQL lock holder whose host is cut off (network namespaces, a throw-away PostgreSQL).",
        "- **Token state** faults (`state_faults.py`) hit the task's refresh instead of IAM or OAC: the state",
        "  directory full (a real 64 KiB tmpfs, filled) or read-only (a tmpfs mounted read-only; without mount",
        "  rights an ENOSPC / EROFS injected at the os-level call, as the row says), the Variable write failing",
        "  (injected at the store), both. *SIGKILL* rows run the refresh in a worker process that kills itself",
        "  at that moment; *refresh afterwards* is then the next worker. *A task refreshes during the login*",
        "  runs the login's save with a task of the new login refreshing between the connection write and the",
        "  clean-up.",
        "",
        "Invariants checked in every scenario: *never a duplicate* (at most one snapshot of the name; OAC",
        "accepted at most one create or restore beyond failed work requests), *the login survives* (no spent",
        "refresh token presented; a refresh works afterwards), *the promised outcome*, *one line* (no",
        "traceback to a CLI user, no secret in any output).",
        "",
    ]
    return [*out, *fault_rows(results), ""]


def fault_rows(results: list[Result]) -> list[str]:
    """The fault table (header and one row per scenario)."""
    rows = [
        [
            r.step,
            r.fault,
            r.outcome + (f" (try {r.tries})" if r.tries > 1 else ""),
            "/".join(sorted(r.allowed)) + f": {r.why}",
            f"{r.created} / {r.restores}",
            r.refresh_after,
            r.message,
            "; ".join(r.broken) or "kept",
        ]
        for r in results
    ]
    return table(
        [
            "step",
            "fault",
            "outcome",
            "promised",
            "snapshots / restores accepted",
            "refresh afterwards",
            "message shown",
            "invariants",
        ],
        rows,
    )


def _scan(scan: Scan) -> list[str]:
    hits = scan.hits()
    kinds = scan.kinds()
    out = [
        "## Secret scan",
        "",
        "The example DAGs ran under a real Airflow (API server, scheduler with LocalExecutor, DAG processor,",
        "triggerer; SQLite) twice: waiting in the worker, then deferred to the triggerer. Each time: a backup",
        "run, a refresh run, a refresh of a snapshot that does not exist and one whose restore OAC fails; then",
        "`airflow-oac status`, `snapshots list` (text and JSON), `snapshots create` (password from the",
        "environment), `snapshots restore` (password on stdin, then a wrong one), `login --print-json` and",
        "`logout`. Then every place below was searched for every secret the deployment held: the snapshot",
        "password and each generation of refresh and access token.",
        "",
        f"**{len(scan.places)} places searched for {len(scan.secrets)} secret values: {len(hits)} hits.**",
        "",
    ]
    out += table(["place", "searched"], sorted(kinds.items()))
    if hits:
        out += ["", "Hits:", ""] + [f"- {cell(what)} in {cell(place)}" for what, place in hits]
    for note in scan.notes:
        out += ["", f"Note: {cell(note)}"]
    return [*out, ""]


def _bad_input(rows: list[Row]) -> list[str]:
    broken = [r for r in rows if r.broken]
    local = [r for r in rows if r.local]
    out = [
        "## Bad input",
        "",
        f"{len(rows)} bad values: every CLI flag and positional (read from the parser), every connection field",
        "and the operators' arguments, each given an empty value, text where a number goes, a negative",
        "number, a wrong scheme, plain http to a non-loopback host, trailing spaces, unicode, 5,000",
        "characters, an id of another kind (an OCID), HTML and truncated JSON; operators also a number and a",
        f"list where text goes. {len(local)} were refused locally, {len(broken)} break a rule.",
        "",
        "Rules: no traceback reaches a CLI user; an error is one line; input refused as bad (exit 2, or a",
        "task failed without retries) made no network call (the emulator's counters did not move); values",
        "that can be checked locally are refused locally. *Accepted* rows are values that are legal (OAC or",
        "IAM decides about them: a snapshot may well be called `ten`).",
        "",
        "CLI commands run through `airflow_provider_oac.cli.main.main` (what `airflow-oac` runs); connection",
        "fields through `airflow-oac status` (the hook reads them with the same function); operator arguments",
        "in one DAG run (`dag.test()`), or at DAG parse when the constructor refuses them.",
        "",
    ]
    surfaces: dict[str, list[Row]] = {}
    for row in rows:
        surfaces.setdefault(row.surface, []).append(row)
    for surface, members in surfaces.items():
        out += [f"### {surface}", ""]
        out += table(
            ["field", "bad value", "message", "network calls", "rule"],
            [[r.field, r.value, r.message, r.network_calls, "; ".join(r.broken) or "kept"] for r in members],
        )
        out.append("")
    return out


def summary(
    faults: list[Result] | None, scan: Scan | None, bad_input: list[Row] | None, copy: list[Any] | None = None
) -> list[str]:
    lines = []
    if copy is not None:
        broken_copies = [r for r in copy if r.broken]
        lines.append(f"copy across instances: {len(copy)} faults, {len(broken_copies)} broken")
        lines += [f"  BROKEN copy / {r.fault}: {'; '.join(r.broken)}" for r in broken_copies]
    if faults is not None:
        broken = [r for r in faults if r.broken]
        lines.append(f"fault matrix: {len(faults)} scenarios, {len(broken)} broken")
        lines += [f"  BROKEN {r.step} / {r.fault}: {'; '.join(r.broken)}" for r in broken]
    if scan is not None:
        lines.append(
            f"secret scan: {len(scan.places)} places, {len(scan.secrets)} secrets, {len(scan.hits())} hits"
        )
        lines += [f"  HIT {what} in {place}" for what, place in scan.hits()]
        lines += [f"  note: {note}" for note in scan.notes]
    if bad_input is not None:
        broken_rows = [r for r in bad_input if r.broken]
        lines.append(f"bad input: {len(bad_input)} values, {len(broken_rows)} broken")
        lines += [
            f"  BROKEN {r.surface} {r.field} [{r.value}]: {'; '.join(r.broken)} ({r.message})"
            for r in broken_rows
        ]
    return lines


def failed(faults: Any, scan: Scan | None, bad_input: Any, copy: Any = None) -> bool:
    return bool(
        any(r.broken for r in faults or [])
        or any(r.broken for r in copy or [])
        or (scan is not None and (scan.hits() or scan.notes))
        or any(r.broken for r in bad_input or [])
    )
