"""The copy's fault rows: every step of ``OACCopySnapshotOperator`` (PROD -> TEST) broken once, in
a real DAG run (``dag.test()``, one retry) against two emulated instances.

Invariants, per row: no POST is sent twice (snapshot POSTs on each instance at most the steps
that make one, at most one restore POST), no name has two snapshots, and the outcome is the one
promised, with a clear message (one that names the cause) when the task fails.
"""

from __future__ import annotations

import re
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.faults.matrix import captured_fds

PASSWORD = "Copy-Fault-Pa55word!"
OTHER_PASSWORD = "Other-Fault-Pa55word!"
SNAPSHOTS = "/snapshots"
RESTORE = "/system/actions/restoreSnapshot"


@dataclass(frozen=True)
class Scenario:
    name: str
    #: "success" or "failed"
    expected: str
    #: text the failure (or, for a success, the log) must show
    says: str
    #: arms the fault: (instances) -> extra operator arguments
    arm: Callable[[Any], dict[str, str]] = lambda pair: {}
    two_instances: dict[str, Any] = field(default_factory=dict)
    #: POSTs each instance may receive at most: (source /snapshots, target /snapshots). A register
    #: whose work request FAILED left nothing behind: the task's retry sends a new one (2), as the
    #: create and register operators do; that is not a duplicate.
    max_snapshot_posts: tuple[int, int] = (1, 1)


@dataclass
class CopyRow:
    fault: str
    expected: str
    outcome: str
    tries: int
    source_posts: int
    target_posts: int
    restore_posts: int
    duplicates: int
    message: str
    seconds: float = 0.0
    broken: list[str] = field(default_factory=list)


def _lose(route: str) -> Callable[[Any], dict[str, str]]:
    def arm(pair: Any) -> dict[str, str]:
        pair.target.control.add_fault(f"POST /api/20210901{route}", "accept_then_error", status=502)
        return {}

    return arm


def _expire_login(role: str) -> Callable[[Any], dict[str, str]]:
    def arm(pair: Any) -> dict[str, str]:
        getattr(pair, role).control.advance_clock(8 * 86400)  # past IAM's 7-day refresh-token lifetime
        return {}

    return arm


def _existing_with_other_password(pair: Any) -> dict[str, str]:
    """A source snapshot made with another password than the copy is given."""
    from airflow_provider_oac.hooks.oac import OACHook

    hook = OACHook("oac_prod")
    accepted = hook.create_snapshot("made-elsewhere", OTHER_PASSWORD)
    hook.wait_for_work_request(accepted.work_request_id, poll_interval=0.1)
    return {"snapshot_name": "'made-elsewhere'", "use_existing": "True"}


def _older_target(pair: Any) -> dict[str, str]:
    pair.target.control.configure(oac_version="2026.1")
    return {}


def _older_silent_target(pair: Any) -> dict[str, str]:
    pair.target.control.configure(oac_version="2026.1", system_reports_version=False)
    return {}


SCENARIOS = (
    Scenario("lost answer: register", "success", "Waiting for a snapshot named", _lose(SNAPSHOTS)),
    Scenario("lost answer: restore", "failed", "it was not sent again", _lose(RESTORE)),
    Scenario(
        "dead source login", "failed", "login of connection 'oac_prod' has expired", _expire_login("source")
    ),
    Scenario(
        "dead target login", "failed", "login of connection 'oac_test' has expired", _expire_login("target")
    ),
    Scenario(
        "BAR missing (the source's bucket region unknown, the target in another region)",
        "failed",
        "BarFileNotFound",
        two_instances={
            "target_region": "eu-frankfurt-1",
            "source_names_region": False,
            # A connection of its own: an earlier login's region extra must not linger.
            "source_conn": "oac_prod_no_region",
        },
        max_snapshot_posts=(1, 2),
    ),
    Scenario(
        "wrong password",
        "failed",
        "InvalidPassword",
        _existing_with_other_password,
        max_snapshot_posts=(0, 2),
    ),
    Scenario(
        "version mismatch (GET /system names it)", "failed", "later than the target's 2026.1", _older_target
    ),
    Scenario(
        "version mismatch (GET /system silent: OAC refuses the register)",
        "failed",
        "SnapshotVersionNotSupported",
        _older_silent_target,
        max_snapshot_posts=(1, 2),
    ),
)


def _copy_dag(dag_id: str, extra: dict[str, str], source_conn: str = "oac_prod") -> Any:
    from tests.helpers import write_dag

    arguments = {
        "task_id": "'copy'",
        "source_conn_id": repr(source_conn),
        "target_conn_id": "'oac_test'",
        "password": "PASSWORD",
        "snapshot_name": "'copy-fault'",
        "poll_interval": "0.1",
        "timeout": "8",
        **extra,
    }
    task = f"OACCopySnapshotOperator({', '.join(f'{k}={v}' for k, v in arguments.items())})"
    imports = (
        f"from airflow_provider_oac.operators.copy import OACCopySnapshotOperator\nPASSWORD = {PASSWORD!r}\n"
    )
    return write_dag(dag_id, task, retries=1, imports=imports)


def run_row(
    scenario: Scenario, work_dir: Path, index: int, output: Callable[[], str] | None = None
) -> CopyRow:
    """One row. ``output``: reads what the run printed (pytest's ``capfd``, which takes Python's
    ``sys.stdout`` away from file descriptor 1); by default file descriptors 1 and 2 are read."""
    import pytest

    from tests.instances import two_instances

    started = time.monotonic()
    with (
        pytest.MonkeyPatch.context() as monkeypatch,
        two_instances(
            work_dir / f"copy-{index}", monkeypatch, work_request_seconds=0.3, **scenario.two_instances
        ) as pair,
    ):
        extra = scenario.arm(pair)
        before = pair.posts(pair.source, SNAPSHOTS)  # the arm may have made a snapshot itself
        dag = _copy_dag(
            f"oac_copy_fault_{index}", extra, scenario.two_instances.get("source_conn", "oac_prod")
        )
        if output is None:
            with captured_fds() as printed:
                run = dag.test()
            raw = printed[0]
        else:
            run = dag.test()
            raw = output()
        [instance] = run.get_task_instances()
        text = re.sub(r"\s+", " ", re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", raw))
        source_posts = pair.posts(pair.source, SNAPSHOTS) - before
        target_posts = pair.posts(pair.target, SNAPSHOTS)
        restore_posts = pair.posts(pair.target, RESTORE)
        twice = sum(
            len(names) - len(set(names))
            for names in (
                [s["name"] for s in server.control.snapshots()] for server in (pair.source, pair.target)
            )
        )
        duplicates = (
            twice
            + max(0, source_posts - scenario.max_snapshot_posts[0])
            + max(0, target_posts - scenario.max_snapshot_posts[1])
            + max(0, restore_posts - 1)
        )
    outcome = "success" if instance.state == "success" else str(instance.state)
    message = _message(text, scenario.says)
    row = CopyRow(
        fault=scenario.name,
        expected=scenario.expected,
        outcome=outcome,
        tries=instance.try_number,
        source_posts=source_posts,
        target_posts=target_posts,
        restore_posts=restore_posts,
        duplicates=duplicates,
        message=message,
        seconds=time.monotonic() - started,
    )
    if duplicates:
        row.broken.append(f"{duplicates} duplicate POST(s) or snapshot(s)")
    if outcome != scenario.expected:
        row.broken.append(f"outcome {outcome}, expected {scenario.expected}")
    if scenario.says not in text:
        row.broken.append(f"the output does not say {scenario.says!r}")
    if "Traceback" in message:
        row.broken.append("a traceback in the message")
    return row


def _message(text: str, says: str) -> str:
    """What the task said about the fault: the exception's message that shows ``says`` (else the
    last one; for a success, the log sentence around ``says``), cut before the next log line."""
    cut = r"(?= \d{4}-\d\d-\d\dT\d\d:| \[(?:info|warning|error)| \S+\.py:\d+|$)"
    raised = re.findall(r"(?:Airflow\w*Exception|OAC\w*Error): (.{1,400}?)" + cut, text)
    chosen = [m for m in raised if says in m] or raised
    if chosen:
        return chosen[-1].strip()
    at = text.find(says)
    if at < 0:
        return "-"
    start = max(text.rfind(". ", 0, at) + 2, at - 200)
    return re.split(cut, text[start : at + 300])[0].split(" [")[0].strip()


def run_copy_faults(
    work_dir: Path | None = None, *, short: bool = False, progress: bool = False
) -> list[CopyRow]:
    import sys

    work_dir = work_dir or Path(tempfile.mkdtemp(prefix="oac-copy-faults-"))
    chosen = SCENARIOS[:2] if short else SCENARIOS
    rows = []
    for index, scenario in enumerate(chosen):
        row = run_row(scenario, work_dir, index)
        if progress:
            verdict = "ok" if not row.broken else f"BROKEN: {'; '.join(row.broken)}"
            print(
                f"copy / {row.fault}: {row.outcome} in {row.seconds:.0f} s, {verdict}",
                file=sys.stderr,
                flush=True,
            )
        rows.append(row)
    return rows


def report_lines(rows: list[CopyRow]) -> list[str]:
    from tests.faults.report import table

    return [
        "## The copy across instances (PROD -> TEST)",
        "",
        "`OACCopySnapshotOperator` in a real DAG run with one retry, against two emulated instances (two",
        "identity domains, one object store), each step broken once (tests/faults/copy_faults.py). POSTs are",
        "counted per instance by the emulators; a duplicate is a POST beyond the one each step may send, or",
        "two snapshots of one name on one instance. A register whose work request FAILED left nothing behind, so the task's",
        "retry registers anew (2 target POSTs), as the create and register operators do; not a duplicate.",
        "",
        *table(
            [
                "Fault",
                "Expected",
                "Outcome (tries)",
                "POSTs /snapshots source, target",
                "Restore POSTs",
                "Duplicates",
                "What the task said",
                "Invariants",
            ],
            [
                [
                    row.fault,
                    row.expected,
                    f"{row.outcome} ({row.tries})",
                    f"{row.source_posts}, {row.target_posts}",
                    row.restore_posts,
                    row.duplicates,
                    row.message,
                    "held" if not row.broken else "BROKEN: " + "; ".join(row.broken),
                ]
                for row in rows
            ],
        ),
        "",
    ]
