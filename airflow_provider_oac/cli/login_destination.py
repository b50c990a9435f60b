"""Where ``airflow-oac login`` puts the connection: the metadata database (default), Airflow's
REST API (``--api-url``), or printed (``--print-env`` / ``--print-json``) for a secrets backend or
an ``AIRFLOW_CONN_<ID>`` variable.

:func:`login_destination` checks every flag of that choice before any network call; each mistake
is one :class:`OACConfigError` line (exit 2). Nothing here prints a token or a password.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any

from airflow_provider_oac.errors import OACConfigError
from airflow_provider_oac.validation import require_text

if TYPE_CHECKING:
    import argparse

    from airflow_provider_oac.login.airflow_api import AirflowAPI

_ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: The flags a printed connection needs: nothing is read from an existing connection.
PRINT_REQUIRES = (
    ("oac_url", "--oac-url"),
    ("iam_url", "--iam-url"),
    ("client_id", "--client-id"),
    ("scope", "--scope"),
)


class Kind(Enum):
    DATABASE = "database"
    API = "api"
    PRINT = "print"


@dataclass(frozen=True, slots=True)
class LoginDestination:
    kind: Kind
    api: AirflowAPI | None = None
    #: "env" or "json" for Kind.PRINT.
    print_format: str | None = None
    include_refresh_token: bool = False

    @property
    def runs_login(self) -> bool:
        """False for a printed connection without the refresh token: logging in would throw the
        new login away, so only the connection's other fields are printed."""
        return self.kind is not Kind.PRINT or self.include_refresh_token

    def describe(self) -> str:
        if self.kind is Kind.API:
            assert self.api is not None
            return f"through Airflow's REST API at {self.api.base_url}"
        if self.kind is Kind.PRINT:
            return "printed"
        return "in this Airflow's metadata database"


def login_destination(args: argparse.Namespace, conn_id: str) -> LoginDestination:
    """The destination the flags ask for, checked; no network call."""
    api_flags = [
        flag
        for flag, value in (
            ("--api-username", args.api_username),
            ("--api-password-env", args.api_password_env),
            ("--api-token-env", args.api_token_env),
        )
        if value is not None
    ]
    printing = args.print_env or args.print_json
    if args.print_env and args.print_json:
        raise OACConfigError("--print-env and --print-json: give one of them.")
    if args.include_refresh_token and not printing:
        raise OACConfigError("--include-refresh-token goes only with --print-env or --print-json.")
    if args.api_url is not None and printing:
        raise OACConfigError(
            "--api-url writes the connection, --print-env/--print-json print it instead: give one of them."
        )
    if args.api_url is None and api_flags:
        raise OACConfigError(f"{api_flags[0]} goes only with --api-url (the Airflow REST API to write to).")
    if printing:
        missing = [flag for name, flag in PRINT_REQUIRES if getattr(args, name) is None]
        if missing:
            raise OACConfigError(
                f"{', '.join(missing)} missing: a printed connection is built from the flags alone "
                "(no existing connection is read)."
            )
        if args.print_env:
            env_name(conn_id)
        return LoginDestination(
            Kind.PRINT,
            print_format="env" if args.print_env else "json",
            include_refresh_token=args.include_refresh_token,
        )
    if args.api_url is not None:
        return LoginDestination(Kind.API, api=api_from_flags(args, conn_id))
    return LoginDestination(Kind.DATABASE)


def api_from_flags(args: argparse.Namespace, conn_id: str) -> AirflowAPI:
    """Airflow's REST API that ``--api-url`` and its credential flags name, checked; no network call."""
    # lazy: CLI start-up time (airflow-oac --help)
    from airflow_provider_oac.login.airflow_api import (
        AirflowAPI,
        AirflowAPICredentials,
        validate_api_conn_id,
        validate_api_url,
    )

    url = validate_api_url(args.api_url)
    validate_api_conn_id(conn_id)
    if args.api_token_env is not None and (
        args.api_username is not None or args.api_password_env is not None
    ):
        raise OACConfigError(
            "--api-token-env or --api-username with --api-password-env: give one way to sign in."
        )
    if args.api_token_env is not None:
        token = _from_env(args.api_token_env, "--api-token-env", "a token from POST /auth/token")
        return AirflowAPI(url, AirflowAPICredentials(token=token))
    if args.api_username is None and args.api_password_env is None:
        raise OACConfigError(
            "--api-url needs credentials: --api-username USER with --api-password-env VAR, or --api-token-env VAR."
        )
    if args.api_username is None:
        raise OACConfigError(
            "--api-password-env needs --api-username (the Airflow user whose password it holds)."
        )
    if args.api_password_env is None:
        raise OACConfigError(
            "--api-username needs --api-password-env VAR, the environment variable holding its password."
        )
    username = require_text(args.api_username, "--api-username", "give the Airflow user name", max_length=256)
    password = _from_env(args.api_password_env, "--api-password-env", "that user's password")
    return AirflowAPI(url, AirflowAPICredentials(username=username, password=password))


def _from_env(name: str, flag: str, what: str) -> str:
    if not _ENV_NAME_RE.fullmatch(name):
        # Never echo it: someone may have passed the secret itself instead of a variable name.
        raise OACConfigError(
            f"{flag} takes the name of an environment variable (letters, digits, _), not the secret itself: "
            f"export it, e.g. AIRFLOW_API_SECRET, and pass {flag} AIRFLOW_API_SECRET."
        )
    value = os.environ.get(name, "")
    if not value.strip():
        raise OACConfigError(
            f"{flag}: the environment variable {name} is not set or empty; export {what} in it."
        )
    return value.strip()


def env_name(conn_id: str) -> str:
    """``AIRFLOW_CONN_<ID>``, the variable Airflow reads this connection from."""
    name = f"AIRFLOW_CONN_{conn_id.upper()}"
    if not _ENV_NAME_RE.fullmatch(name):
        raise OACConfigError(
            f"--print-env: connection id {conn_id!r} gives {name}, which a shell cannot set: use a connection "
            "id of letters, digits and _, or --print-json."
        )
    return name


def render(connection: dict[str, Any], conn_id: str, print_format: str | None) -> str:
    """The printed connection: ``AIRFLOW_CONN_<ID>='<json>'`` (quoted for a POSIX shell) or JSON."""
    if print_format == "env":
        return f"{env_name(conn_id)}={shlex.quote(json.dumps(connection))}"
    return json.dumps(connection, indent=2)
