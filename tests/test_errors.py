"""One exception tree: every exception class of the provider is defined in ``errors.py`` under
``OACError``, and the modules that used to define one still export it."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import airflow_provider_oac
from airflow_provider_oac import errors

#: The emulator stands in for Oracle's servers: its exceptions are answers it sends, not errors
#: the provider raises. The Airflow plugin modules need a running Airflow to import.
_NOT_PROVIDER_CODE = ("airflow_provider_oac.emulator", "airflow_provider_oac.plugins")


def provider_modules():
    for info in pkgutil.walk_packages(airflow_provider_oac.__path__, "airflow_provider_oac."):
        if not info.name.startswith(_NOT_PROVIDER_CODE) and not info.name.endswith("__main__"):
            yield importlib.import_module(info.name)


def test_every_exception_class_is_defined_in_errors_under_oac_error():
    outside = []
    for module in provider_modules():
        for name, value in vars(module).items():
            ours = inspect.isclass(value) and value.__module__.startswith("airflow_provider_oac")
            if ours and issubclass(value, BaseException) and value.__module__ != errors.__name__:
                outside.append(f"{value.__module__}.{name}")
    assert outside == []
    for name, value in vars(errors).items():
        if (
            inspect.isclass(value)
            and issubclass(value, BaseException)
            and value.__module__ == errors.__name__
        ):
            assert issubclass(value, errors.OACError), name


@pytest.mark.parametrize(
    ("old_module", "name", "bases"),
    [
        ("airflow_provider_oac.hooks.locks", "OACLockTimeout", (errors.OACError,)),
        ("airflow_provider_oac.hooks.locks", "OACLockLost", (errors.OACError,)),
        ("airflow_provider_oac.hooks.token_manager", "OACTokenStoreError", (errors.OACError,)),
        ("airflow_provider_oac.hooks.token_manager", "OACStateDirError", (errors.OACError,)),
        ("airflow_provider_oac.hooks.token_manager", "OACStateSplitError", (errors.OACError,)),
        ("airflow_provider_oac.hooks._airflow", "OACVariableError", (errors.OACError,)),
        ("airflow_provider_oac.cli.main", "CLIError", (errors.OACError, Exception)),
    ],
)
def test_old_import_paths_still_give_the_same_class(old_module, name, bases):
    cls = getattr(importlib.import_module(old_module), name)
    assert cls is getattr(errors, name)
    assert all(issubclass(cls, base) for base in bases)


def test_a_lost_lock_says_what_was_not_done():
    lost = errors.OACLockLost("the Redis refresh lock", "present the refresh token", "its lease ran out")
    assert "was not sent" in str(lost)
    assert (lost.where, lost.action, lost.reason) == (
        "the Redis refresh lock",
        "present the refresh token",
        "its lease ran out",
    )


def test_a_cli_error_keeps_its_exit_code():
    assert errors.CLIError("no").exit_code == 1
    assert errors.CLIError("bad input", 2).exit_code == 2
