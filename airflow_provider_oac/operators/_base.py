"""What every OAC operator shares: the hook, error mapping and login-expiry warning (also the
sensor's: :class:`OACTaskMixin`), waiting (in the worker or deferred), and the record of accepted
work that lets a retry re-attach instead of starting the work again.

Only ``airflow.sdk``-level imports at module top: the DAG processor imports operator modules for
every DAG file that uses them. The hook, HTTP clients and the rest load in ``execute``.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from functools import cached_property
from typing import TYPE_CHECKING, Any, NoReturn

from airflow.providers.common.compat.sdk import BaseOperator, Variable, conf

from airflow_provider_oac.links import OACInstanceLink

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context
    from airflow.triggers.base import BaseTrigger

    from airflow_provider_oac.client.models import WorkRequest
    from airflow_provider_oac.hooks.oac import OACHook
    from airflow_provider_oac.triggers.events import WaitEvent
    from airflow_provider_oac.triggers.work_request import _PollingTrigger

WORK_RECORD_KEY = "oac_work"

#: OAC answers that a retry cannot change: the task fails without retries.
FINAL_STATUSES = frozenset({400, 403})


class OACTaskMixin:
    """What every OAC task shares, the operators and the sensor alike: the hook, OAC errors as
    Airflow exceptions, the login-expiry warning, and the exception for a wait that failed.
    Needs ``oac_conn_id`` and Airflow's ``log``."""

    oac_conn_id: str
    if TYPE_CHECKING:
        log: Any  # Airflow's task logger

        def defer(
            self,
            *,
            trigger: BaseTrigger,
            method_name: str,
            kwargs: dict[str, Any] | None = None,
            timeout: timedelta | int | float | None = None,
        ) -> NoReturn: ...

        def execute(self, context: Context) -> Any: ...

    @cached_property
    def hook(self) -> OACHook:
        # lazy: DAG-parse cost, see bench/parse_cost.py
        from airflow_provider_oac.hooks.oac import OACHook

        return OACHook(self.oac_conn_id)

    @contextlib.contextmanager
    def oac_errors(self) -> Iterator[None]:
        """OAC errors as Airflow exceptions: bad input and dead logins fail without retries."""
        # lazy: DAG-parse cost, see bench/parse_cost.py
        from airflow_provider_oac.errors import OACAPIError, OACConfigError, OACError, OACLoginRequired
        from airflow_provider_oac.hooks._airflow import airflow_exception, fail_exception

        try:
            yield
        except (OACConfigError, OACLoginRequired) as exc:
            raise fail_exception()(str(exc)) from None
        except OACAPIError as exc:
            # OAC refused the request itself (bad request, missing role): a retry gets the same answer.
            final = exc.status in FINAL_STATUSES
            raise (fail_exception() if final else airflow_exception())(str(exc)) from None
        except OACError as exc:
            raise airflow_exception()(str(exc)) from None

    def warn_if_login_expiring(self) -> None:
        with contextlib.suppress(Exception):  # a warning must never fail the task
            warning = self.hook.login_expiry_warning()
            if warning:
                self.log.warning(warning)

    def defer_to_trigger(
        self, context: Context, trigger: _PollingTrigger, timeout: timedelta | None
    ) -> NoReturn:
        """Defer to ``trigger``, which names this try in its event; ``execute_complete`` follows
        (in this try: :meth:`resume_execution`).

        The wait ends no later than the task's ``execution_timeout``: Airflow 3.0 to 3.3 do not
        bound a deferral by it (the execution API leaves ``trigger_timeout`` as given, "TODO: HANDLE
        execution timeout later"), so the trigger's own timeout is cut to what is left of it and
        the trigger ends the wait with a clear event; Airflow's deferral timeout stays a backstop
        (``2 * poll_interval`` later) should the triggerer not run it."""
        trigger.deferred_in_try = _try_number(context)
        left = execution_time_left(self, context)
        if left is not None:
            # lazy: DAG-parse cost, see bench/parse_cost.py
            from airflow_provider_oac.triggers.events import LIMITED_BY_EXECUTION_TIMEOUT

            if left <= 0:
                raise self.time_limit_exceeded(trigger.stopped_message("the task's execution_timeout passed"))
            if trigger.timeout is None or left < trigger.timeout:
                trigger.timeout = left
                trigger.limited_by = LIMITED_BY_EXECUTION_TIMEOUT
                backstop = timedelta(seconds=left + 2 * trigger.poll_interval)
                timeout = backstop if timeout is None else min(timeout, backstop)
        self.defer(trigger=trigger, method_name="execute_complete", timeout=timeout)

    @staticmethod
    def time_limit_exceeded(message: str) -> BaseException:
        """Airflow's own exception for a task that ran out of ``execution_timeout``."""
        # lazy: DAG-parse cost, see bench/parse_cost.py
        from airflow.providers.common.compat.sdk import AirflowTaskTimeout

        return AirflowTaskTimeout(message)

    @contextlib.contextmanager
    def waiting_in_worker(
        self, *, work_request_id: str | None = None, snapshot_name: str | None = None
    ) -> Iterator[None]:
        """Around a wait in the worker: what :meth:`on_kill` names, and one clear line (and the
        task's failure message) when ``execution_timeout`` ends the wait. The record stays."""
        # lazy: DAG-parse cost, see bench/parse_cost.py
        from airflow.providers.common.compat.sdk import AirflowTaskTimeout

        self.__dict__["_oac_waiting"] = {
            "work_request_id": work_request_id,
            "snapshot_name": snapshot_name,
            "oac_url": _oac_url(self),
        }
        try:
            yield
        except AirflowTaskTimeout:
            line = self.stopped_waiting("the task's execution_timeout passed")
            raise self.time_limit_exceeded(line or "execution_timeout") from None
        finally:
            self.__dict__.pop("_oac_waiting", None)

    def stopped_waiting(self, why: str) -> str | None:
        """Log, once, that the wait in the worker ended before OAC's work; the line (None if not waiting)."""
        # lazy: DAG-parse cost, see bench/parse_cost.py
        from airflow_provider_oac.triggers.events import stopped_waiting_message

        waiting = self.__dict__.get("_oac_waiting")
        if not waiting:
            return None
        line: str | None = waiting.get("logged")
        if line is None:
            line = stopped_waiting_message(
                why,
                oac_conn_id=self.oac_conn_id,
                oac_url=waiting["oac_url"],
                work_request_id=waiting["work_request_id"],
                snapshot_name=waiting["snapshot_name"],
            )
            waiting["logged"] = line
            self.log.warning("%s", line)
        return line

    def on_kill(self) -> None:
        """A kill while waiting in the worker (a user marked the task failed or cleared it: SIGTERM;
        ``execution_timeout``): OAC has no cancel call, so the work carries on. One line says so,
        with the work request and how to check on it; the task's record stays, so a rerun
        re-attaches instead of posting again. No I/O here: it runs in a signal handler."""
        self.stopped_waiting("the task was killed")

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context: Context) -> Any:
        """Resume after the trigger, unless its event belongs to an earlier try: then run the task
        from the start (``execute``), as a retry does.

        Airflow 3.0 keeps ``next_method`` and ``next_kwargs`` on a task instance that goes up for
        retry (3.1+ clear them), so its retry resumes with the trigger event of the try before
        instead of running ``execute``. Replayed, a restore's safety-snapshot event would finish the
        task without the restore, and a failed or timed-out wait would fail every retry the same way.
        The event names the try that deferred (:meth:`defer_to_trigger`): in the event, not in the
        deferral's kwargs, which 3.0's ``dag.test()`` drops. An event without it (deferred by an
        earlier version of this provider), or a trigger that crashed or timed out in Airflow's
        triggerer (``__fail__``, no event), resumes as Airflow says."""
        # lazy: DAG-parse cost, see bench/parse_cost.py
        from airflow_provider_oac.triggers.events import DEFERRED_IN_TRY

        if next_method == "__fail__":  # Airflow's TRIGGER_FAIL_REPR: its deferral timeout, a crashed trigger
            self._log_failed_deferral(context, next_kwargs)
        event = (next_kwargs or {}).get("event")
        deferred_in_try = event.get(DEFERRED_IN_TRY) if isinstance(event, dict) else None
        current_try = _try_number(context)
        if deferred_in_try is not None and current_try is not None and deferred_in_try != current_try:
            self.log.info(
                "The trigger event is from try %s, this is try %s (Airflow 3.0 keeps it for retries): "
                "not resuming with it; running the task from the start.",
                deferred_in_try,
                current_try,
            )
            return self.execute(context)
        return super().resume_execution(next_method, next_kwargs, context)  # type: ignore[misc]

    def _log_failed_deferral(self, context: Context, next_kwargs: dict[str, Any] | None) -> None:
        """Airflow ended the deferral itself (its timeout, or the trigger failed) without an event
        from OAC's side: name the work this task waited for, from its record, and how to check."""
        with contextlib.suppress(Exception):  # the failure Airflow raises next matters more
            # lazy: DAG-parse cost, see bench/parse_cost.py
            from airflow_provider_oac.triggers.events import stopped_waiting_message

            if hasattr(self, "work_record"):  # an operator: its record of the work it started
                record = self.work_record(context).get() or {}
                work, name = record.get("work_request_id"), record.get("name")
            else:  # the sensor: the work request it was given
                work, name = getattr(self, "work_request_id", None), None
            if work or name:
                self.log.warning(
                    "%s",
                    stopped_waiting_message(
                        f"Airflow ended the deferral: {(next_kwargs or {}).get('error', 'trigger failure')}",
                        oac_conn_id=self.oac_conn_id,
                        work_request_id=work,
                        snapshot_name=None if work else name,
                    ),
                )

    @staticmethod
    def wait_failure(event: WaitEvent, prefix: str = "") -> Exception:
        """The exception for a wait in the triggerer that did not succeed: a dead login fails the
        task without retries; anything else leaves the retries to Airflow."""
        # lazy: DAG-parse cost, see bench/parse_cost.py
        from airflow_provider_oac.hooks._airflow import airflow_exception, fail_exception
        from airflow_provider_oac.triggers.events import OUTCOME_LOGIN_REQUIRED

        if event.status == OUTCOME_LOGIN_REQUIRED:
            return fail_exception()(event.reason)
        return airflow_exception()(f"{prefix}{event.reason}")


class OACBaseOperator(OACTaskMixin, BaseOperator):
    """Base of the OAC operators (not for direct use).

    :param oac_conn_id: the ``oac`` connection (``airflow-oac login`` writes it).
    :param wait_for_completion: wait until OAC's work request ends (default True).
    :param poll_interval: seconds between work-request polls.
    :param timeout: seconds to wait at most (None: no limit beyond the task's own timeouts).
        OAC cannot cancel work, so a timeout fails the task while OAC carries on. The task's
        ``execution_timeout`` bounds the wait too, deferred as well as in the worker.
    :param deferrable: wait in the triggerer instead of a worker slot
        (default: ``[operators] default_deferrable``).
    """

    ui_color = "#c74634"
    operator_extra_links = (OACInstanceLink(),)

    def __init__(
        self,
        *,
        oac_conn_id: str = "oac_default",
        wait_for_completion: bool = True,
        poll_interval: float = 10.0,
        timeout: float | None = None,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        # lazy: DAG-parse cost, see bench/parse_cost.py
        from airflow_provider_oac.validation import require_text, validate_positive_number

        fix = "give the id of an oac connection, e.g. oac_default (airflow-oac login writes it)"
        self.oac_conn_id = require_text(oac_conn_id, "oac_conn_id", fix, max_length=250)
        self.wait_for_completion = wait_for_completion
        self.poll_interval = validate_positive_number(poll_interval, "poll_interval")
        self.timeout = None if timeout is None else validate_positive_number(timeout, "timeout")
        self.deferrable = deferrable

    # --- secrets in templated fields ----------------------------------------------------------------

    #: Templated fields that hold a secret (a BAR file's password).
    secret_template_fields: tuple[str, ...] = ()

    def _do_render_template_fields(
        self, parent: Any, template_fields: Any, context: Any, jinja_env: Any, seen_oids: set[int]
    ) -> None:
        # The one method both a task's and a mapped task's rendering go through (Airflow's own
        # MappedOperator calls it on the unmapped task so that operators can override it).
        super()._do_render_template_fields(parent, template_fields, context, jinja_env, seen_oids)
        if parent is self and self.secret_template_fields:
            # lazy: DAG-parse cost, see bench/parse_cost.py
            from airflow_provider_oac.version_compat import AIRFLOW_V_3_1_PLUS

            if not AIRFLOW_V_3_1_PLUS:
                self._set_rendered_secrets_aside()

    def _set_rendered_secrets_aside(self) -> None:
        """Airflow 3.0 only: keep each rendered secret aside and leave ``***`` in its field.

        3.0's task runner sends the rendered fields to its supervisor unredacted (3.1+ redact
        fields named like ``password`` in the task process), and 3.0's supervisor logs every
        message it receives, body included, into the executor's output (the scheduler's, with
        LocalExecutor), at debug level but whatever ``[logging] logging_level`` says. Measured on
        3.0.6 in a deployment (scripts/compat_row.py). ``mask_secret`` cannot help there: the
        supervisor's log does not mask values inside a message.
        """
        # lazy: DAG-parse cost, see bench/parse_cost.py
        from airflow_provider_oac.hooks._airflow import mask_secret

        kept: dict[str, str] = self.__dict__.setdefault("_oac_rendered_secrets", {})
        for name in self.secret_template_fields:
            value = getattr(self, name, None)
            if isinstance(value, str) and value and value != "***":
                mask_secret(value)
                kept[name] = value
                setattr(self, name, "***")

    def rendered_secret(self, name: str) -> Any:
        """The rendered value of secret field ``name`` (what ``_set_rendered_secrets_aside`` kept on
        Airflow 3.0, else the field itself)."""
        kept: dict[str, str] = self.__dict__.get("_oac_rendered_secrets", {})
        return kept.get(name, getattr(self, name))

    # --- the record of accepted work ------------------------------------------------------------------

    def work_record(self, context: Context) -> WorkRecord:
        return WorkRecord(context)

    # --- waiting ------------------------------------------------------------------------------------------

    def wait(self, context: Context, work_request_id: str) -> WorkRequest | None:
        """Wait for the work request in this worker, or defer (then ``execute_complete`` follows).

        Returns the finished work request (sync) — or never returns (deferred)."""
        if self.deferrable:
            # lazy: DAG-parse cost, see bench/parse_cost.py
            from airflow_provider_oac.triggers.work_request import OACWorkRequestTrigger

            self.log.info("Deferring: the triggerer waits for work request %s.", work_request_id)
            self.defer_to_trigger(
                context,
                OACWorkRequestTrigger(
                    work_request_id=work_request_id,
                    oac_conn_id=self.oac_conn_id,
                    poll_interval=self.poll_interval,
                    timeout=self.timeout,
                ),
                timeout=timedelta(seconds=self.timeout) if self.timeout else None,
            )
        # lazy: DAG-parse cost, see bench/parse_cost.py
        from airflow_provider_oac.errors import OACWorkRequestFailed

        with self.oac_errors(), self.waiting_in_worker(work_request_id=work_request_id):
            try:
                finished = self.hook.wait_for_work_request(
                    work_request_id,
                    poll_interval=self.poll_interval,
                    timeout=self.timeout,
                    on_poll=lambda wr: self.log.info(
                        "Work request %s: %s (%s%%)", wr.id, wr.status.value, _percent(wr.percent_complete)
                    ),
                )
            except OACWorkRequestFailed:
                # Nothing left to re-attach to: a retry starts the work afresh (as the deferred path does).
                self.work_record(context).clear()
                raise
        self._remember_snapshot(finished.id, finished.snapshot_id)
        return finished

    def _remember_snapshot(self, work_request_id: str | None, snapshot_id: str | None) -> None:
        # What the last poll saw, so finish() need not ask OAC for the work request again.
        if work_request_id and snapshot_id:
            self.__dict__.setdefault("_reported_snapshots", {})[work_request_id] = snapshot_id

    def reported_snapshot_id(self, work_request_id: str) -> str | None:
        """The snapshot the finished work request named, as the wait saw it (None: ask OAC)."""
        return self.__dict__.get("_reported_snapshots", {}).get(work_request_id)

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        """Resume after the trigger: fail with OAC's message, or finish the operator's work."""
        # lazy: DAG-parse cost, see bench/parse_cost.py
        from airflow_provider_oac.triggers.events import WaitEvent

        done = WaitEvent.from_dict(event)
        self.raise_unless_succeeded(context, done)
        self.log.info("Work request %s succeeded.", done.work_request_id)
        self._remember_snapshot(done.work_request_id, done.snapshot_id)
        return self.finish(context, str(done.work_request_id))

    def raise_unless_succeeded(self, context: Context, event: WaitEvent, prefix: str = "") -> None:
        """After a wait in the triggerer: raise unless it succeeded, keeping or clearing the work
        record as the outcome says (``prefix`` goes before the message)."""
        # lazy: DAG-parse cost, see bench/parse_cost.py
        from airflow_provider_oac.triggers.events import OUTCOME_FAILED

        if event.succeeded:
            return
        # A dead login is final, and the record stays: OAC carries on, and after a new login,
        # clearing the task waits for the same work instead of starting it again.
        if event.status == OUTCOME_FAILED:
            # The work request itself failed and left nothing behind: a retry may start anew.
            self.work_record(context).clear()
        # Else (OAC's answer unreadable, a timeout) OAC may still be working: the record stays,
        # so the retry waits for this work instead of starting it a second time.
        raise self.wait_failure(event, prefix)

    def finish(self, context: Context, work_request_id: str) -> Any:
        """After the work request succeeded: the operator's return value."""
        raise NotImplementedError

    def push_instance_url(self, context: Context) -> None:
        with contextlib.suppress(Exception):
            context["ti"].xcom_push(key=OACInstanceLink.xcom_key, value=self.hook.config.oac_url)


def execution_time_left(task: Any, context: Context) -> float | None:
    """Seconds left of the task's ``execution_timeout`` in this try (None: no limit), counted from
    the try's start (``ti.start_date``; Airflow 3.2+ keep it across deferrals, 3.0 and 3.1 give a
    resumed task the time it resumed)."""
    limit = getattr(task, "execution_timeout", None)
    if not isinstance(limit, timedelta):
        return None
    started = getattr(context.get("ti"), "start_date", None)
    if not isinstance(started, datetime):
        return limit.total_seconds()
    if started.tzinfo is None:
        started = started.replace(tzinfo=timezone.utc)
    return (started + limit - datetime.now(timezone.utc)).total_seconds()


def _oac_url(task: Any) -> str | None:
    """The OAC URL, read before a wait (a kill names it, and must not read a connection)."""
    with contextlib.suppress(Exception):
        return str(task.hook.config.oac_url)
    return None


def _try_number(context: Context) -> int | None:
    number = getattr(context.get("ti"), "try_number", None)
    return number if isinstance(number, int) else None


def _percent(value: float | None) -> str:
    return "?" if value is None else f"{value:.0f}"


def _why(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200]}" if text else type(exc).__name__


#: The waiting arguments of :class:`OACBaseOperator`.
WAITING_ARGUMENTS = ("wait_for_completion", "poll_interval", "timeout", "deferrable")


class OACSingleCallOperator(OACBaseOperator):
    """Base of the operators that make their calls and return, with nothing to wait for (list,
    delete, prune, keep-alive): the waiting arguments would be silently ignored, so they are
    refused when the DAG is parsed.

    Only arguments given to the task itself are refused: ``default_args`` of the DAG (say a
    ``timeout`` meant for the create tasks) do not reach them. Airflow's own ``execution_timeout``
    limits the task as usual.
    """

    def __init__(self, **kwargs: Any):
        given = [name for name in WAITING_ARGUMENTS if name in kwargs]
        if given:
            # lazy: DAG-parse cost, see bench/parse_cost.py
            from airflow_provider_oac.errors import OACConfigError

            raise OACConfigError(
                f"{type(self).__name__} (task {kwargs.get('task_id')!r}) does not take "
                f"{', '.join(given)}: it waits for nothing, so remove {'it' if len(given) == 1 else 'them'} "
                "(execution_timeout still limits the task)."
            )
        super().__init__(**kwargs)


class WorkRecord:
    """The work a task instance started at OAC, kept across its tries (not in XCom, which Airflow
    clears at every try): Airflow 3.3's task state store when present, else a Variable named for
    the task instance (:func:`work_record_variable`).

    A Variable that cannot be read raises: taken for "no record", it would start the work again.
    """

    def __init__(self, context: Context):
        self._store = context.get("task_state_store")
        ti = context["ti"]
        self._variable = work_record_variable(ti.dag_id, ti.run_id, ti.task_id, getattr(ti, "map_index", -1))

    def intend(self, action: str, *, undo: Any = None, **work: Any) -> None:
        """Persist before acting: record ``work`` without a work request id BEFORE the POST, so a
        retry after a lost answer, a failed record write or a killed worker finds it and never
        posts again. If this write fails, nothing is sent: the try fails and the retry starts
        cleanly. ``action`` names the request for the message, e.g. ``"create snapshot 'x'"``;
        ``undo`` puts back the record from before (default: delete it) should the failed write
        have been stored all the same."""
        try:
            self.set(**work, work_request_id=None)
        except Exception as exc:
            # lazy: DAG-parse cost, see bench/parse_cost.py
            from airflow_provider_oac.hooks._airflow import airflow_exception

            # The write may have been stored all the same (the API server committed, then failed or
            # its answer was lost): a retry would take that intent for a POST sent. Nothing was sent.
            with contextlib.suppress(Exception):
                (undo or self.clear)()
            raise airflow_exception()(
                f"Could not record the intent to {action} in {self.where()} ({_why(exc)}); nothing was "
                "sent to OAC, so a retry starts cleanly."
            ) from None

    def accepted(self, log: Any, **work: Any) -> None:
        """Record the work request OAC accepted. If the write fails the task carries on (it knows
        the id); the intent stays, so a retry waits by name or refuses instead of posting again."""
        try:
            self.set(**work)
        except Exception as exc:
            log.warning(
                "Could not record work request %s in %s (%s); carrying on. The recorded intent stays, "
                "so a retry of this task will not send the request again.",
                work.get("work_request_id"),
                self.where(),
                _why(exc),
            )

    def where(self) -> str:
        """Where the record lives, for messages."""
        if self._store is not None:
            return f"the task state store (key {WORK_RECORD_KEY!r})"
        return f"the Variable {self._variable!r}"

    def how_to_clear(self, ti: Any) -> str:
        """How a person deletes the record of task instance ``ti``, to run its work again deliberately."""
        if self._store is not None:
            return (
                f"delete the task state store key {WORK_RECORD_KEY!r} of this task instance (REST API: DELETE "
                f"/api/v2/dags/{ti.dag_id}/dagRuns/{ti.run_id}/taskInstances/{ti.task_id}/state-store/"
                f"{WORK_RECORD_KEY}?map_index={getattr(ti, 'map_index', -1)})"
            )
        return f"delete the Variable (airflow variables delete {self._variable})"

    def get(self) -> dict[str, Any] | None:
        """The record, None if there is none. A failed read raises (never "none": a retry that
        took it for none would post again)."""
        try:
            if self._store is not None:
                value = self._store.get(WORK_RECORD_KEY)
            else:
                value = _read_json_variable(self._variable)
        except Exception as exc:
            # lazy: DAG-parse cost, see bench/parse_cost.py
            from airflow_provider_oac.hooks._airflow import airflow_exception

            raise airflow_exception()(
                f"Could not read this task's work record in {self.where()} ({_why(exc)}); nothing was sent "
                "to OAC, and a retry reads it again."
            ) from None
        return value if isinstance(value, dict) else None

    def set(self, **work: Any) -> None:
        if self._store is not None:
            self._store.set(WORK_RECORD_KEY, work)
            return
        # lazy: DAG-parse cost, see bench/parse_cost.py
        from airflow_provider_oac.hooks._airflow import in_supervised_process, set_variable

        if in_supervised_process():
            set_variable(self._variable, json.dumps(work), description=None)
        else:
            Variable.set(self._variable, work, serialize_json=True)

    def clear(self) -> None:
        with contextlib.suppress(Exception):
            if self._store is not None:
                self._store.delete(WORK_RECORD_KEY)
                return
            # lazy: DAG-parse cost, see bench/parse_cost.py
            from airflow_provider_oac.hooks._airflow import delete_variable, in_supervised_process

            if in_supervised_process():
                delete_variable(self._variable)
            else:
                Variable.delete(self._variable)


def work_record_variable(dag_id: str, run_id: str, task_id: str, map_index: int) -> str:
    """``oac_work__<dag_id>__<run_id>__<task_id>__<map_index>``; when that is longer than a
    Variable key may be (250: dag_id and run_id may be 250 each), a readable prefix and a digest
    of the whole name (stable: every try of the task instance finds the same Variable)."""
    # lazy: DAG-parse cost, see bench/parse_cost.py
    from airflow_provider_oac.hooks.token_store import fit_variable_key

    return fit_variable_key(f"oac_work__{dag_id}__{run_id}__{task_id}__{map_index}")


def _read_json_variable(key: str) -> Any:
    # lazy: DAG-parse cost, see bench/parse_cost.py
    from airflow_provider_oac.hooks._airflow import get_variable, in_supervised_process

    if in_supervised_process():
        text = get_variable(key)
        return None if text is None else json.loads(text)

    return Variable.get(key, default=None, deserialize_json=True)
