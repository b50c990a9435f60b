"""Airflow imports that moved between 3.0 and 3.3, in one place (through common-compat)."""

from __future__ import annotations

from typing import Any


def mask_secret(value: str | None) -> None:
    """Register ``value`` with Airflow's secrets masker (task logs, UI, triggerer logs)."""
    if not value:
        return
    try:
        from airflow.providers.common.compat.sdk import mask_secret as _mask
    except ImportError:  # pragma: no cover - very old common-compat
        from airflow.sdk.log import mask_secret as _mask
    _mask(value)


def fail_exception() -> type[Exception]:
    """AirflowFailException: fails the task without retries."""
    from airflow.providers.common.compat.sdk import AirflowFailException

    return AirflowFailException


def airflow_exception() -> type[Exception]:
    from airflow.providers.common.compat.sdk import AirflowException

    return AirflowException


def conf_getboolean(section: str, key: str, fallback: bool) -> Any:
    from airflow.providers.common.compat.sdk import conf

    return conf.getboolean(section, key, fallback=fallback)
