"""The fault matrix: every fault the emulator can inject, at every step of login, create, restore
and wait, through the code paths users run, with the invariants checked.

Login runs ``airflow-oac login`` in a new process; create, restore and wait run the operators in
real DAG runs (``dag.test()``, one retry, as DAGs usually have); the token-endpoint step during a
task ("refresh") runs a create whose access token OAC has just expired. Each scenario starts from
a reset emulator (reuse detection on: a spent refresh token presented again revokes the login)
and arms its fault once.

Invariants, checked for every scenario (a broken one fails the run):

- never a duplicate: at most one snapshot of the scenario's name exists, and OAC accepted at most
  one create (one restore) beyond those whose work request failed;
- the login survives: no spent refresh token was presented, and once the fault is gone a refresh
  of the connection works (except where IAM spent the token and its answer was lost: nobody can
  hold that login any more; the message must then say to log in again);
- the outcome is the one the design promises for that fault (success where we claim recovery);
- the task ends (success or failed) and a failure shows one line, without a traceback (CLI) and
  without a secret.

``python -m tests.faults`` runs it all and writes docs/reliability.md; the test suite runs
:data:`SHORT` (tests/faults/test_fault_matrix.py).
"""

from __future__ import annotations

import itertools
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.faults import locks

API = "/api/20210901"
PASSWORD = "Fault-Matrix-Pa55word"
#: The client's read timeout in these runs (connection extra ``timeout``) and how long a hanging
#: OAC answer is held: longer, so the client gives up while OAC goes on.
CLIENT_TIMEOUT = 3
HANG_SECONDS = 6.0
#: A hanging IAM answer: IAM calls time out after 60 s, so this one is only slow.
IAM_HANG_SECONDS = 5.0
#: The operators' wait timeout here (a stuck work request, a snapshot that never appears).
OPERATOR_TIMEOUT = 8


@dataclass(frozen=True, slots=True)
class Fault:
    name: str
    action: str
    options: dict[str, Any] = field(default_factory=dict)


FAULTS = {
    fault.name: fault
    for fault in (
        Fault("429 + Retry-After", "status", {"status": 429, "retry_after": 1}),
        Fault("500", "status", {"status": 500}),
        Fault("502", "status", {"status": 502}),
        Fault("503", "status", {"status": 503}),
        Fault("html", "html"),
        Fault("malformed", "malformed"),
        Fault("delay", "delay", {"delay": 2}),
        Fault("accept_then_hang", "accept_then_hang", {"delay": HANG_SECONDS}),
        Fault("accept_then_error", "accept_then_error", {"status": 502}),
        Fault(
            "fail_work_request",
            "fail_work_request",
            {"code": "StorageWriteFailed", "message": "Bucket fault-bucket is not writable by the instance"},
        ),
        Fault("stuck_work_request", "stuck_work_request"),
        Fault("expire_token", "expire_token"),
        # Issue 13, fault kinds beyond the emulator's HTTP answers:
        Fault("TLS broken after the request was sent", "tls_garbage_after_request"),
        Fault("work-record write fails before the POST", "intent_write_fails"),
        Fault("work-record write fails after OAC accepted", "record_write_fails_after_accept"),
        Fault("worker SIGKILLed after OAC accepted", "kill_after_accept"),
        # Cross-host lock faults (tests/faults/locks.py): not emulator faults.
        Fault("lock-server outage", "lock_outage", {"seconds": 4.0, "lease": 6.0, "iam_delay": 7.0}),
        Fault("lock server down", "lock_down", {"lease": 6.0}),
        Fault("host death", "host_death"),
    )
}

#: Faults injected around the task rather than by the emulator (tests/faults/work_record.py).
LOCAL_FAULTS = ("intent_write_fails", "record_write_fails_after_accept", "kill_after_accept")


@dataclass(frozen=True, slots=True)
class Step:
    name: str
    kind: str  # login | create | restore | refresh
    route: str
    deferrable: bool = False

    @property
    def iam(self) -> bool:
        return self.route.split()[1].startswith("/iam/")


STEPS = {
    step.name: step
    for step in (
        Step("login: device", "login", "POST /iam/oauth2/v1/device"),
        Step("login: token", "login", "POST /iam/oauth2/v1/token"),
        Step("create: POST /snapshots", "create", f"POST {API}/snapshots"),
        Step("create: GET /snapshots", "create", f"GET {API}/snapshots"),
        Step("create: GET /workRequests", "create", f"GET {API}/workRequests/*"),
        Step("restore: POST restoreSnapshot", "restore", f"POST {API}/system/actions/restoreSnapshot"),
        Step("restore: GET /workRequests", "restore", f"GET {API}/workRequests/*"),
        Step("wait (deferred): GET /workRequests", "create", f"GET {API}/workRequests/*", deferrable=True),
        Step("task refresh: POST token", "refresh", "POST /iam/oauth2/v1/token"),
        Step("task refresh under a Redis lock", "lock", "POST /iam/oauth2/v1/token"),
        Step("refresh under a PostgreSQL lock", "lock", "POST /iam/oauth2/v1/token"),
    )
}

SUCCESS, FAILED = "success", "failed"


def applies(fault: Fault, step: Step) -> bool:
    if state_faults.is_state_fault(fault):
        return state_faults.STEP[fault.name] == step.name
    if step.kind == "lock" or fault.action in locks.ACTIONS:
        return locks.applies(fault, step)
    if fault.action in (
        "fail_work_request",
        "stuck_work_request",
        "tls_garbage_after_request",
        *LOCAL_FAULTS,
    ):
        return step.route.startswith("POST /api/")  # they act when the work is accepted
    if fault.action == "expire_token":
        return not step.iam  # a bearer token is an OAC thing
    return True


def expected(fault: Fault, step: Step) -> tuple[frozenset[str], str]:
    """The outcomes the design allows for ``fault`` at ``step``, and why."""
    if step.kind == "lock":
        return locks.expected(fault, step)
    if state_faults.is_state_fault(fault):
        return state_faults.expected(fault)
    name = fault.name
    transient = {"429 + Retry-After", "503", "delay"}
    if step.kind == "login":
        if name in transient or name == "accept_then_hang":
            return frozenset({SUCCESS}), "retried or only slow"
        return frozenset({SUCCESS, FAILED}), "a new login is cheap: either recovers or one line, exit 1"
    if step.kind == "refresh":
        if name == "accept_then_error":
            return frozenset({FAILED}), "IAM spent the refresh token and the answer was lost: log in again"
        if name in ("500", "502", "html", "malformed"):
            return frozenset({SUCCESS}), "not resent at once (may be spent); the task retry presents it again"
        return frozenset({SUCCESS}), "retried or only slow"
    if step.route.startswith("GET "):
        return frozenset({SUCCESS}), "reads are retried (client, then task retry re-attaches)"
    if name == "fail_work_request":
        return frozenset(
            {FAILED, SUCCESS}
        ), "OAC's error in the log; the failed work left nothing, so the retry may start anew"
    if name == "stuck_work_request":
        return frozenset({FAILED}), "wait timeout; OAC keeps working, nothing is started again"
    if name in transient or name == "expire_token":
        return frozenset({SUCCESS}), "OAC did not act: sent again"
    if fault.action == "intent_write_fails":
        return frozenset(
            {SUCCESS}
        ), "nothing is sent in that try; the retry records its intent and posts once"
    if fault.action == "record_write_fails_after_accept":
        return frozenset(
            {SUCCESS}
        ), "the try carries on with the id it holds; the recorded intent stops any re-post"
    if fault.action == "kill_after_accept":
        if step.kind == "create":
            return frozenset(
                {SUCCESS}
            ), "the retry finds the intent and waits for the name, never posts again"
        return frozenset({FAILED}), "the retry finds the intent and refuses: a restore is never sent twice"
    if fault.action == "tls_garbage_after_request" and step.kind == "restore":
        return frozenset({FAILED}), "TLS broke after the request went out: outcome unknown, never sent twice"
    if step.kind == "create":
        if name in ("accept_then_hang", "accept_then_error") or fault.action == "tls_garbage_after_request":
            return frozenset({SUCCESS}), "outcome unknown: waits for the snapshot by name, never posts again"
        return frozenset({FAILED}), "outcome unknown, no snapshot appears: never posts again"
    return frozenset({FAILED}), "outcome unknown: a restore is never sent twice; the task says so"


def scenarios() -> list[tuple[Fault, Step]]:
    return [(fault, step) for step in STEPS.values() for fault in FAULTS.values() if applies(fault, step)]


#: The short form run by ``make test``: one of each kind of behaviour.
SHORT = [
    ("429 + Retry-After", "create: POST /snapshots"),
    ("accept_then_error", "create: POST /snapshots"),
    ("500", "create: GET /workRequests"),
    ("malformed", "wait (deferred): GET /workRequests"),
    ("accept_then_hang", "restore: POST restoreSnapshot"),
    ("expire_token", "restore: POST restoreSnapshot"),
    ("502", "task refresh: POST token"),
    ("503", "login: token"),
    ("TLS broken after the request was sent", "restore: POST restoreSnapshot"),
    ("work-record write fails after OAC accepted", "restore: POST restoreSnapshot"),
    ("worker SIGKILLed after OAC accepted", "create: POST /snapshots"),
    ("lock-server outage", "task refresh under a Redis lock"),
    ("journal and Variable writes fail", "task refresh: POST token"),
    ("SIGKILL while masking the new tokens", "task refresh: POST token"),
]


# --- running one scenario ------------------------------------------------------------------------


@dataclass(slots=True)
class Result:
    fault: str
    step: str
    outcome: str
    allowed: frozenset[str]
    why: str
    message: str
    tries: int = 1
    created: int = 0
    restores: int = 0
    refresh_after: str = ""
    seconds: float = 0.0
    broken: list[str] = field(default_factory=list)


@contextmanager
def captured_fds() -> Iterator[list[str]]:
    """Everything written to stdout and stderr (file descriptors 1 and 2) inside the block."""
    import sys

    sink: list[str] = []
    sys.stdout.flush()
    sys.stderr.flush()
    with tempfile.TemporaryFile(mode="w+b") as temp:
        saved = os.dup(1), os.dup(2)
        os.dup2(temp.fileno(), 1)
        os.dup2(temp.fileno(), 2)
        try:
            yield sink
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
            temp.seek(0)
            sink.append(temp.read().decode("utf-8", errors="replace"))


def secrets_now(conn_id: str) -> dict[str, str]:
    """The refresh and access tokens the deployment holds for ``conn_id`` now."""
    from airflow.models import Connection, Variable
    from airflow.utils.session import create_session
    from sqlalchemy import or_

    from airflow_provider_oac.hooks.token_store import RECORD_PREFIXES, login_key_of, record_from_text

    found: dict[str, str] = {"snapshot password": PASSWORD}
    with create_session() as session:
        conn = session.query(Connection).filter_by(conn_id=conn_id).one_or_none()
        login = conn.password if conn is not None else None
        if login:
            found["refresh token (connection)"] = login
        rows = session.query(Variable).filter(or_(*(Variable.key.like(f"{p}%") for p in RECORD_PREFIXES)))
        for row in rows:
            if login_key_of(row.key, conn_id, row.val) is None:
                continue
            record = record_from_text(conn_id, row.val, login)
            if record is not None:
                found[f"refresh token gen {record.generation}"] = record.refresh_token
                found[f"access token gen {record.generation}"] = record.access_token or ""
    return {k: v for k, v in found.items() if v}


def refresh_works(conn_id: str) -> str:
    """ "ok" when the connection's login refreshes now (a fresh worker), else the one-line error."""
    from airflow_provider_oac.errors import OACError
    from airflow_provider_oac.hooks.oac import OACHook
    from airflow_provider_oac.hooks.token_manager import forget_process_cache

    forget_process_cache()
    try:
        hook = OACHook(conn_id)
        hook.token_manager.invalidate_current()
        hook.get_access_token()
    except OACError as exc:
        return str(exc)
    return "ok"


IMPORTS = f"""
from airflow_provider_oac.operators.snapshot import OACCreateSnapshotOperator, OACRestoreSnapshotOperator
from tests.faults.matrix import record_failure
PASSWORD = {PASSWORD!r}
"""

#: The exception each scenario's task last failed with (what its log shows), per DAG id.
FAILURES: dict[str, str] = {}


def record_failure(context: Any) -> None:
    """on_failure_callback of the scenario DAGs (dag.test runs them in this process)."""
    exception = context.get("exception")
    FAILURES[context["ti"].dag_id] = f"{type(exception).__name__}: {exception}" if exception else ""


class Runner:
    """Runs scenarios against ``emulator`` (the session's, or one of its own) in this process."""

    def __init__(self, emulator: Any, work_dir: Path):
        self.emulator = emulator
        self.work_dir = work_dir
        self.index = 0

    #: Scenario numbers are unique in the process: a connection id of an earlier Runner (the short
    #: forms make one per test) must not be reused, or its login's settings (a lock_conn_id) carry over.
    _numbers = itertools.count(1)

    def run(self, fault: Fault, step: Step) -> Result:
        from airflow_provider_oac.hooks.token_manager import forget_process_cache

        self.index = next(Runner._numbers)
        conn_id = f"oac_fault_{self.index}"
        control = self.emulator.control
        control.reset()
        control.configure(work_request_seconds=1, reuse_detection=True, auto_approve=True, device_interval=1)
        os.environ["AIRFLOW_PROVIDER_OAC_STATE_DIR"] = str(self.work_dir / f"state-{self.index}")
        forget_process_cache()
        allowed, why = expected(fault, step)
        started = time.monotonic()
        if fault.action in ("state:kill_masking", "state:kill_after_journal"):
            result = state_faults.run_killed(self, fault, conn_id, allowed, why)
        elif fault.action == "state:login_race":
            result = state_faults.run_login_race(self, fault, conn_id, allowed, why)
        elif step.kind == "login":
            result = self._login(fault, step, conn_id, allowed, why)
        elif step.kind == "lock":
            try:
                result = locks.run(self, fault, step, conn_id, allowed, why)
                result.seconds = time.monotonic() - started
                self._check(result, conn_id)
            finally:
                locks.stop(self)  # after the check: its refresh takes the lock too
            forget_process_cache()
            return result
        else:
            result = self._task(fault, step, conn_id, allowed, why)
        result.seconds = time.monotonic() - started
        self._check(result, conn_id)
        forget_process_cache()
        return result

    def _arm(self, fault: Fault, step: Step) -> None:
        if state_faults.is_state_fault(fault):
            return  # armed around the DAG run (state_faults.armed)
        options = dict(fault.options)
        if fault.action == "accept_then_hang" and step.iam:
            options["delay"] = IAM_HANG_SECONDS
        self.emulator.control.add_fault(step.route, fault.action, **options)

    # --- login: the CLI in a new process ---

    def _login(self, fault: Fault, step: Step, conn_id: str, allowed: frozenset[str], why: str) -> Result:
        from tests.helpers import cli, cli_login_args

        self._arm(fault, step)
        before = self.emulator.control.counters()
        completed = cli(*cli_login_args(self.emulator, conn_id), "--bucket", "fault-bucket", timeout=300)
        self.emulator.control.clear_faults()
        self._after = self.emulator.control.counters()
        self._before = before
        errors = [line for line in completed.stderr.splitlines() if line.startswith("airflow-oac: error:")]
        outcome = SUCCESS if completed.returncode == 0 else FAILED
        message = errors[-1] if errors else _last_line(completed.stdout)
        result = Result(fault.name, step.name, outcome, allowed, why, message)
        if "Traceback" in completed.stderr:
            result.broken.append("a traceback reached the CLI user")
        if outcome == FAILED and (completed.returncode not in (1, 2) or len(errors) != 1):
            result.broken.append(f"exit {completed.returncode} with {len(errors)} error lines")
        self._outputs = completed.stdout + completed.stderr
        return result

    # --- create, restore, wait, refresh: operators in a DAG run ---

    def _task(self, fault: Fault, step: Step, conn_id: str, allowed: frozenset[str], why: str) -> Result:
        if not fault.action.startswith("tls_"):
            return self._task_at(self.emulator, fault, step, conn_id, allowed, why)
        from airflow_provider_oac.emulator.tls import TLSFront

        with TLSFront(self.emulator) as front:  # OAC over TLS; the connection trusts its certificate
            return self._task_at(front, fault, step, conn_id, allowed, why, ca_bundle=front.ca_file)

    def _task_at(
        self,
        oac: Any,
        fault: Fault,
        step: Step,
        conn_id: str,
        allowed: frozenset[str],
        why: str,
        **extra: Any,
    ) -> Result:
        from airflow_provider_oac.testing import login, write_dag

        control = self.emulator.control
        login(oac, conn_id, timeout=CLIENT_TIMEOUT, **extra)
        name = f"fault-{self.index}"
        common = (
            f"oac_conn_id={conn_id!r}, password=PASSWORD, poll_interval=0.5, timeout={OPERATOR_TIMEOUT}, "
            "on_failure_callback=record_failure"
        )
        if step.kind == "restore":
            target = _snapshot(conn_id, f"restore-source-{self.index}")
            task = f'OACRestoreSnapshotOperator(task_id="oac", snapshot_id={target!r}, {common})'
        else:
            task = f'OACCreateSnapshotOperator(task_id="oac", name={name!r}, {common}, deferrable={step.deferrable!r})'
        dag = write_dag(f"oac_fault_{self.index}", task, retries=1, imports=IMPORTS)
        if step.kind == "refresh":
            control.expire_access_tokens()  # the task's first OAC call gets 401 and refreshes
        self._before = control.counters()
        notes: list[str] = []
        state = Path(os.environ["AIRFLOW_PROVIDER_OAC_STATE_DIR"])
        with state_faults.armed(fault, state, notes), captured_fds() as output:
            instance = self._run_dag(dag, fault, step)
        control.clear_faults()
        self._after = control.counters()
        outcome = instance.state if instance.state in (SUCCESS, FAILED) else f"unfinished ({instance.state})"
        message = "(none: succeeded)" if outcome == SUCCESS else FAILURES.get(dag.dag_id, "")
        why = "; ".join([why, *notes])
        result = Result(fault.name, step.name, outcome, allowed, why, message, tries=instance.try_number)
        snapshots = [s for s in control.snapshots() if s["name"] == name]
        if len(snapshots) > 1:
            result.broken.append(f"{len(snapshots)} snapshots named {name!r}")
        failed_work = [w for w in control.work_requests() if w["status"] == "FAILED"]
        created = self._after["snapshots_created"] - self._before["snapshots_created"]
        restores = self._after["restores_started"] - self._before["restores_started"]
        failed_creates = sum(1 for w in failed_work if w["operationType"] == "CREATE_SNAPSHOT")
        failed_restores = sum(1 for w in failed_work if w["operationType"] == "RESTORE_SNAPSHOT")
        if created - failed_creates > 1:
            result.broken.append(f"OAC accepted {created} creates ({failed_creates} failed)")
        if restores - failed_restores > 1:
            result.broken.append(f"OAC accepted {restores} restores ({failed_restores} failed)")
        result.created, result.restores = created, restores
        if outcome == FAILED and (not message or "\n" in message):
            result.broken.append("the failure shows no one-line message")
        self._outputs = output[0]
        warning = state_faults.WARNINGS.get(fault.action)
        if warning and warning not in self._outputs:
            result.broken.append(f"the task log does not warn ({warning!r})")
        return result

    def _run_dag(self, dag: Any, fault: Fault, step: Step) -> Any:
        """Run the scenario's DAG with ``fault`` armed; its task instance at the end."""
        from tests.faults import work_record

        if fault.action == "kill_after_accept":
            counter = "restores_started" if step.kind == "restore" else "snapshots_created"
            work_record.run_until_accepted_then_kill(self.emulator, dag.dag_id, step.route, counter)
            work_record.retry_in_this_process(dag)
            return _task_instance(dag.dag_id)
        if fault.action in LOCAL_FAULTS:
            rule = (
                work_record.intent
                if fault.action == "intent_write_fails"
                else work_record.with_work_request_id
            )
            with work_record.failing_store() as store:
                store.fail(rule)
                run = dag.test()
            if not store.failed:
                raise AssertionError(f"{fault.name}: no work-record write was refused")
            return run.get_task_instances()[0]
        self._arm(fault, step)
        return dag.test().get_task_instances()[0]

    # --- invariants ---

    def _check(self, result: Result, conn_id: str) -> None:
        spent = (
            self._after["spent_refresh_token_presentations"]
            - self._before["spent_refresh_token_presentations"]
        )
        lost_login = (result.fault, result.step) in {
            ("accept_then_error", "task refresh: POST token"),
            *state_faults.LOST_LOGIN,
        }
        if result.outcome not in result.allowed:
            result.broken.append(f"outcome {result.outcome}, expected {'/'.join(sorted(result.allowed))}")
        if lost_login:
            if "airflow-oac login" not in result.message:
                result.broken.append("a lost login must say to run airflow-oac login")
            if spent > 1:
                result.broken.append(f"{spent} spent refresh tokens presented")
        elif spent:
            result.broken.append(f"{spent} spent refresh token(s) presented")
        if lost_login:
            result.refresh_after = refresh_works(conn_id)
            if result.refresh_after == "ok":
                result.broken.append("the lost login still refreshes: the scenario did not test what it says")
        elif _has_connection(conn_id):
            result.refresh_after = refresh_works(conn_id)
            if result.refresh_after != "ok":
                result.broken.append(f"refresh afterwards failed: {result.refresh_after}")
        else:
            result.refresh_after = "no connection (the login failed)"
        secrets = secrets_now(conn_id) if _has_connection(conn_id) else {"snapshot password": PASSWORD}
        for what, value in secrets.items():
            if value in result.message or value in self._outputs:
                result.broken.append(f"the {what} appears in the output")


def _task_instance(dag_id: str) -> Any:
    """The task instance of the DAG's newest run."""
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        run = session.query(DagRun).filter_by(dag_id=dag_id).order_by(DagRun.id.desc()).first()
        instance = session.query(TaskInstance).filter_by(dag_id=dag_id, run_id=run.run_id).one()
        session.expunge(instance)
        return instance


def _has_connection(conn_id: str) -> bool:
    from airflow_provider_oac.login.connections import existing_connection

    return existing_connection(conn_id) is not None


def _snapshot(conn_id: str, name: str) -> str:
    from airflow_provider_oac.hooks.oac import OACHook

    hook = OACHook(conn_id)
    accepted = hook.create_snapshot(name, PASSWORD)
    work_request = hook.wait_for_work_request(accepted.work_request_id, poll_interval=0.3)
    return hook.client.find_created_snapshot(name, work_request).id


def _last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def run_scenarios(
    emulator: Any, chosen: list[tuple[Fault, Step]], work_dir: Path, progress: bool = False
) -> list[Result]:
    runner = Runner(emulator, work_dir)
    results = []
    for fault, step in chosen:
        result = runner.run(fault, step)
        results.append(result)
        if progress:
            import sys

            flag = "BROKEN " + "; ".join(result.broken) if result.broken else "ok"
            print(
                f"[{len(results)}/{len(chosen)}] {step.name} / {fault.name}: {result.outcome} ({result.seconds:.0f} s) {flag}",
                file=sys.stderr,
                flush=True,
            )
    return results


def short_scenarios() -> list[tuple[Fault, Step]]:
    return [(FAULTS[fault], STEPS[step]) for fault, step in SHORT]


# The token-state faults (issue 13): their own module, registered here after the names it uses.
from tests.faults import state_faults  # noqa: E402

FAULTS.update({fault.name: fault for fault in state_faults.FAULTS})
