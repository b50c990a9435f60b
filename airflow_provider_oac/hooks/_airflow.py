"""Airflow imports that moved between 3.0 and 3.3, and the Task SDK calls whose behaviour differs
by version, in one place. Version decisions come from :mod:`airflow_provider_oac.version_compat`.

Every Airflow import here is function-local on purpose: this module is loaded outside Airflow's
processes too (the CLI and the login writers reach it through ``token_store``), and which module
holds a name depends on the installed Airflow."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from typing import Any, TypeVar

from airflow_provider_oac.errors import OACVariableError

T = TypeVar("T")


def mask_secret(value: str | None) -> None:
    """Register ``value`` with Airflow's secrets masker (task logs, UI, triggerer logs)."""
    if not value:
        return
    # airflow.sdk.log on every supported Airflow; common-compat 1.17's sdk module lacks it.
    # lazy: Airflow, see the module docstring
    from airflow.sdk.log import mask_secret as _mask

    _mask(value)


def fail_exception() -> type[Exception]:
    """AirflowFailException: fails the task without retries."""
    # lazy: Airflow, see the module docstring
    from airflow.providers.common.compat.sdk import AirflowFailException

    return AirflowFailException


def airflow_exception() -> type[Exception]:
    # lazy: Airflow, see the module docstring
    from airflow.providers.common.compat.sdk import AirflowException

    return AirflowException


def conf_getboolean(section: str, key: str, fallback: bool) -> Any:
    # lazy: Airflow, see the module docstring
    from airflow.providers.common.compat.sdk import conf

    return conf.getboolean(section, key, fallback=fallback)


# --- the Task SDK's comms ---------------------------------------------------------------------------


def in_trigger_runner() -> bool:
    """True in the triggerer's trigger runner process (the Task SDK's comms are the triggerer's).

    Its supervisor lives for weeks and keeps every value the runner masks: see
    :func:`airflow_provider_oac.hooks.masking.mask_generation`."""
    runner = sys.modules.get("airflow.sdk.execution_time.task_runner")
    comms = getattr(runner, "SUPERVISOR_COMMS", None) if runner is not None else None
    triggerer = sys.modules.get("airflow.jobs.triggerer_job_runner")
    decoder = getattr(triggerer, "TriggerCommsDecoder", None) if triggerer is not None else None
    return comms is not None and isinstance(decoder, type) and isinstance(comms, decoder)


def in_supervised_process() -> bool:
    """True inside a task or the triggerer, where Airflow's Task SDK talks to the API server."""
    runner = sys.modules.get("airflow.sdk.execution_time.task_runner")
    return runner is not None and getattr(runner, "SUPERVISOR_COMMS", None) is not None


async def run_sync_sdk(func: Callable[[], T]) -> T:
    """Run ``func`` (blocking, and calling sync Task SDK methods: Variables, connections) from a
    coroutine without blocking the event loop, the way the installed Airflow's triggerer needs.

    Before 3.3 the triggerer's comms answer a sync call only from a thread that asgiref's
    ``sync_to_async`` started from the event loop (its ``async_to_sync`` then runs the request
    on that loop); from a plain ``asyncio.to_thread`` thread the request runs on a second event
    loop against the first loop's socket, and fails or gets another request's answer. 3.3's
    comms take sync calls from any thread.
    """
    # lazy: Airflow, see the module docstring
    from airflow_provider_oac.version_compat import AIRFLOW_V_3_3_PLUS

    if AIRFLOW_V_3_3_PLUS:
        return await asyncio.to_thread(func)
    # lazy: asgiref, only before Airflow 3.3
    from asgiref.sync import sync_to_async

    # Not thread-sensitive: a slow refresh (IAM backoff, a lock wait) must not hold the one
    # thread every other trigger's SDK calls would queue behind.
    return await sync_to_async(func, thread_sensitive=False)()


def _comms() -> Any:
    # lazy: Airflow, see the module docstring
    from airflow.sdk.execution_time import task_runner

    return task_runner.SUPERVISOR_COMMS


def _error_text(response: Any) -> str:
    error = getattr(response, "error", None)
    name = getattr(error, "value", error)
    return f"{name or type(response).__name__}"


def get_variable(key: str) -> str | None:
    """The metadata-database value of Variable ``key`` through the supervisor, None when it does not
    exist. Any other failure raises :class:`OACVariableError`.

    Not ``Variable.get``: up to Task SDK 1.3 it logs and swallows every backend error and then
    reports "not found", and ``default=None`` turns that into "absent" (a token store would then
    fall back to a spent refresh token). Secrets backends and ``AIRFLOW_VAR_*`` are skipped on
    purpose: what this provider writes lives in the metadata database only.
    """
    # lazy: Airflow, see the module docstring
    from airflow.sdk.exceptions import ErrorType
    from airflow.sdk.execution_time.comms import ErrorResponse, GetVariable, VariableResult

    try:
        response = _comms().send(GetVariable(key=key))
    except Exception as exc:
        raise OACVariableError(
            f"Reading Airflow Variable {key!r} failed ({type(exc).__name__}: {exc})."
        ) from None
    if isinstance(response, VariableResult):
        return response.value
    if isinstance(response, ErrorResponse) and response.error == ErrorType.VARIABLE_NOT_FOUND:
        return None
    raise OACVariableError(f"Reading Airflow Variable {key!r} failed ({_error_text(response)}).")


def set_variable(key: str, value: str, description: str | None = None) -> None:
    """Write Variable ``key`` through the supervisor; raises :class:`OACVariableError` on failure
    (``Variable.set`` before 3.3 logs a failed write and returns as if it had worked)."""
    # lazy: Airflow, see the module docstring
    from airflow.sdk.execution_time.comms import ErrorResponse, PutVariable

    try:
        response = _comms().send(PutVariable(key=key, value=value, description=description))
    except Exception as exc:
        raise OACVariableError(
            f"Writing Airflow Variable {key!r} failed ({type(exc).__name__}: {exc})."
        ) from None
    if isinstance(response, ErrorResponse):
        raise OACVariableError(f"Writing Airflow Variable {key!r} failed ({_error_text(response)}).")
    _forget_cached_variable(key)


def delete_variable(key: str) -> None:
    """Delete Variable ``key`` through the supervisor (absent is fine)."""
    # lazy: Airflow, see the module docstring
    from airflow.sdk.execution_time.comms import DeleteVariable, ErrorResponse

    response = _comms().send(DeleteVariable(key=key))
    if isinstance(response, ErrorResponse):
        raise OACVariableError(f"Deleting Airflow Variable {key!r} failed ({_error_text(response)}).")
    _forget_cached_variable(key)


def _forget_cached_variable(key: str) -> None:
    # lazy: Airflow, see the module docstring
    from airflow_provider_oac.version_compat import AIRFLOW_V_3_1_PLUS

    if AIRFLOW_V_3_1_PLUS:  # Task SDK 1.1 added a process-wide secrets cache
        # lazy: Airflow, see the module docstring
        from airflow.sdk.execution_time.cache import SecretCache

        SecretCache.invalidate_variable(key)
