"""Faults around the operators' work record, injected where they happen in Airflow:

- :class:`FailingStore`: the execution API's task-state-store PUT (Airflow 3.3 keeps the work
  record there) and its Variable PUT for ``oac_work__*`` keys (3.0 to 3.2) answer 503 for the
  writes a rule picks; its Variable GET answers 503 for the reads a rule picks, each on every
  attempt of the client (:func:`client_attempts`: Task SDK 1.0 retries a 5xx). dag.test() runs the
  real task runner against the in-process execution API, so the task sees the API server's error as
  a worker would;
- :func:`run_until_accepted_then_kill` and :func:`retry_in_this_process`: the DAG runs in another
  process, which is SIGKILLed once OAC accepted its POST (OAC holds its answer); the next try of
  the same task instance then runs here, under the runner dag.test() uses.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

Rule = Callable[[dict[str, Any]], bool]


def with_work_request_id(record: dict[str, Any]) -> bool:
    """The write that records the work request OAC accepted."""
    return bool(record.get("work_request_id"))


def client_attempts() -> int:
    """How often the task's execution-API client sends one request that answers 5xx under
    ``dag.test()``: Task SDK 1.0 (Airflow 3.0) retries it (``[workers] execution_api_retries``
    attempts); 1.1+'s in-process test client bypasses the retries. Each injected refusal refuses
    every attempt of its request, so the task sees the failure on every version."""
    from airflow_provider_oac.version_compat import AIRFLOW_V_3_1_PLUS

    if AIRFLOW_V_3_1_PLUS:
        return 1
    from airflow.configuration import conf

    return max(1, conf.getint("workers", "execution_api_retries", fallback=5))


def intent(record: dict[str, Any]) -> bool:
    """The write before the POST (no work request id yet)."""
    return record.get("work_request_id") is None and "operation" in record


class FailingStore:
    def __init__(self) -> None:
        self.rules: list[list[Any]] = []
        #: The records whose write was refused.
        self.failed: list[dict[str, Any]] = []
        #: The last work record written (None: none yet).
        self.last: dict[str, Any] | None = None
        self.read_rules: list[list[Any]] = []
        #: The Variable keys whose read was refused.
        self.failed_reads: list[str] = []
        #: The client's further attempts of the request refused last: [request, attempts left,
        #: write again first] (see :func:`client_attempts`).
        self._resend: list[Any] | None = None

    def _refuse_resend(self, request: Any, write: Callable[[], Any] | None = None) -> bool:
        """Whether ``request`` is the client's retry of the request refused last (then refused too)."""
        resend, self._resend = self._resend, None
        if resend is None or resend[0] != request or resend[1] <= 0:
            return False
        if resend[2] and write is not None:
            write()
        self._resend = [request, resend[1] - 1, resend[2]]
        return True

    def fail_reads(self, prefix: str, while_recorded: Rule, times: int = 1) -> None:
        """Refuse reads of the Variables whose key starts with ``prefix`` while the last work record
        written matches ``while_recorded``: the metadata database going down at that step."""
        self.read_rules.append([prefix, while_recorded, times])

    def _refuse_read(self, key: str) -> bool:
        if self._refuse_resend(("read", key)):
            return True
        if self.last is None:
            return False
        for rule in self.read_rules:
            if rule[2] > 0 and key.startswith(rule[0]) and rule[1](self.last):
                rule[2] -= 1
                self.failed_reads.append(key)
                self._resend = [("read", key), client_attempts() - 1, False]
                return True
        return False

    def fail(self, when: Rule, times: int = 1, *, after_write: bool = False) -> None:
        """Refuse the writes ``when`` picks; with ``after_write`` the write is done first and only
        the answer is an error (the API server committed, then failed or timed out)."""
        self.rules.append([when, times, after_write])

    def _refuse(self, value: str, write: Callable[[], Any]) -> bool:
        """Whether to answer 503 to this write; ``write`` does it (called unless refused before)."""
        if self._refuse_resend(("write", value), write):
            return True
        record = json.loads(value)
        for rule in self.rules:
            if rule[1] > 0 and isinstance(record, dict) and rule[0](record):
                rule[1] -= 1
                self.failed.append(record)
                if rule[2]:
                    write()
                    self.last = record
                self._resend = [("write", value), client_attempts() - 1, rule[2]]
                return True
        write()
        if isinstance(record, dict):
            self.last = record  # written
        return False


@contextmanager
def failing_store() -> Iterator[FailingStore]:
    from airflow.api_fastapi.execution_api.routes import variables as variables_route
    from fastapi import HTTPException

    from airflow_provider_oac.version_compat import AIRFLOW_V_3_3_PLUS

    store = FailingStore()
    real_variable = variables_route.Variable

    class Variable:
        def __getattr__(self, name: str) -> Any:
            return getattr(real_variable, name)

        @staticmethod
        def get(key: str, *args: Any, **kwargs: Any) -> Any:
            if store._refuse_read(key):
                raise HTTPException(503, "injected: the metadata database is unavailable")
            return real_variable.get(key, *args, **kwargs)

        @staticmethod
        def set(key: str, value: Any, **kwargs: Any) -> Any:
            if not (key.startswith("oac_work__") and isinstance(value, str)):
                return real_variable.set(key=key, value=value, **kwargs)
            if store._refuse(value, lambda: real_variable.set(key=key, value=value, **kwargs)):
                raise HTTPException(503, "injected: the metadata database is unavailable")
            return None

    class Backend:
        def __init__(self, backend: Any):
            self._backend = backend

        def __getattr__(self, name: str) -> Any:
            return getattr(self._backend, name)

        def set(self, scope: Any, key: str, value: str, **kwargs: Any) -> Any:
            def write() -> None:
                # In its own committed session: the route's own is rolled back by the 503.
                from airflow.utils.session import create_session

                with create_session() as session:
                    self._backend.set(scope, key, value, **{**kwargs, "session": session})

            if store._refuse(value, write):
                raise HTTPException(503, "injected: the metadata database is unavailable")
            return None

    # The task state store (and its route) exists from Airflow 3.3; before, the record is a Variable.
    route: Any = None
    if AIRFLOW_V_3_3_PLUS:
        from airflow.api_fastapi.execution_api.routes import task_state_store as route

        real = route.get_state_backend
        route.get_state_backend = lambda: Backend(real())
    variables_route.Variable = Variable()  # type: ignore[assignment, misc]
    try:
        yield store
    finally:
        if route is not None:
            route.get_state_backend = real
        variables_route.Variable = real_variable  # type: ignore[misc]


def run_until_accepted_then_kill(emulator: Any, dag_id: str, route: str, counter: str) -> None:
    """Run DAG ``dag_id`` (a file in the dags folder) in another process with OAC holding its
    answer to ``route``; SIGKILL that process once OAC's ``counter`` shows it accepted."""
    from airflow_provider_oac.hooks.token_manager import forget_process_cache
    from airflow_provider_oac.version_compat import AIRFLOW_V_3_2_PLUS

    dagbag_module = "airflow.dag_processing.dagbag" if AIRFLOW_V_3_2_PLUS else "airflow.models.dagbag"
    code = textwrap.dedent(
        f"""
        import os
        from {dagbag_module} import DagBag
        path = os.path.join(os.environ["AIRFLOW__CORE__DAGS_FOLDER"], {dag_id + ".py"!r})
        DagBag(dag_folder=path).get_dag({dag_id!r}).test()
        """
    )
    emulator.control.add_fault(route, "accept_then_hang", delay=120)
    before = emulator.control.counters()[counter]
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 180
        while emulator.control.counters()[counter] == before:
            if proc.poll() is not None:
                raise AssertionError("the task process ended before OAC accepted its POST")
            if time.monotonic() > deadline:
                raise AssertionError("OAC never accepted the POST")
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    emulator.control.clear_faults()
    forget_process_cache()  # the killed process may have refreshed: read the store again


def retry_in_this_process(dag: Any, task_id: str = "oac") -> tuple[str, int]:
    """The next try of the killed task instance; its (state, try_number) afterwards."""
    from airflow import settings
    from airflow.models.dagrun import DagRun
    from airflow.sdk.definitions.dag import _run_task

    from airflow_provider_oac.version_compat import AIRFLOW_V_3_1_PLUS

    session = settings.Session()
    try:
        # The newest run of the DAG: the one the killed process started.
        run = session.query(DagRun).filter_by(dag_id=dag.dag_id).order_by(DagRun.id.desc()).first()
        ti = run.get_task_instance(task_id, session=session)
        ti.try_number += 1
        session.commit()
        if AIRFLOW_V_3_1_PLUS:
            _run_task(ti=ti, task=dag.task_dict[task_id])
        else:  # 3.0's _run_task takes the task instance only (ti.task is set from the DagBag)
            ti.task = dag.task_dict[task_id]
            _run_task(ti=ti)
        session.expire_all()
        ti = run.get_task_instance(task_id, session=session)
        return ti.state, ti.try_number
    finally:
        session.close()
