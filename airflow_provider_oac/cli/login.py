"""``airflow-oac login``: the device flow against OCI IAM, then the connection written to the
metadata database, through Airflow's REST API, or printed (:mod:`airflow_provider_oac.login`)."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from airflow_provider_oac.cli.common import EXIT_OK, CLIError, conn_id_flag, conn_id_of, progress, say, when
from airflow_provider_oac.errors import OACConfigError
from airflow_provider_oac.hooks.config import API_KEY_STORAGE_AUTH, api_key_storage_auth_message
from airflow_provider_oac.login import (
    NewLogin,
    complete_settings,
    connection_without_login,
    printed_connection,
    save_login,
    save_login_via_api,
)
from airflow_provider_oac.login.connections import existing_connection
from airflow_provider_oac.login.settings import ExistingConnection
from airflow_provider_oac.validation import validate_iam_url, validate_oac_url

if TYPE_CHECKING:
    from airflow_provider_oac.auth.tokens import TokenSet
    from airflow_provider_oac.cli.login_destination import LoginDestination
    from airflow_provider_oac.hooks.config import OACConnectionConfig


def add_parser(commands: Any) -> None:
    login = commands.add_parser(
        "login",
        help="log in with the device flow and write the connection",
        description="Run the OAuth device flow against OCI IAM and create or update the Airflow connection. "
        "Flags left out are taken from an existing connection of that id.",
    )
    conn_id_flag(login)
    login.add_argument(
        "--oac-url", help="OAC instance URL, e.g. https://myoac-abcd-ia.analytics.ocp.oraclecloud.com"
    )
    login.add_argument(
        "--iam-url", help="identity domain URL, e.g. https://idcs-0123abcd.identity.oraclecloud.com"
    )
    login.add_argument(
        "--client-id", help="client id of the public IAM app (Device Code + Refresh Token grants)"
    )
    login.add_argument(
        "--scope", help="<OAC primary audience>urn:opc:resource:consumer::all offline_access (see the README)"
    )
    login.add_argument("--no-browser", action="store_true", help="do not open a browser; just show the URL")
    storage = login.add_argument_group("snapshot storage defaults (saved in the connection's extras)")
    storage.add_argument("--bucket", help="OCI Object Storage bucket for BAR files")
    storage.add_argument(
        "--storage-auth-type",
        help="OCI_RESOURCE_PRINCIPAL (the default and the only type offered: API-key auth, "
        "OSS_AUTH_OCI_USER_ID, needs key fields this provider cannot pass)",
    )
    storage.add_argument("--bucket-namespace", help="only when the bucket is in another tenancy")
    storage.add_argument("--bucket-region", help="only when the bucket is in another region")
    login.add_argument(
        "--refresh-token-lifetime",
        type=float,
        help="refresh-token lifetime configured in IAM, seconds (default 604800 = 7 days)",
    )
    where = login.add_argument_group(
        "where the connection goes (default: this Airflow's metadata database; see docs/login.md)"
    )
    where.add_argument(
        "--api-url",
        metavar="URL",
        help="write it through Airflow's REST API at this base URL, e.g. http://localhost:8080 "
        "(the local metadata database is not touched)",
    )
    where.add_argument(
        "--api-username", metavar="USER", help="Airflow user for --api-url (with --api-password-env)"
    )
    where.add_argument(
        "--api-password-env",
        metavar="VAR",
        help="name of the environment variable holding that user's password",
    )
    where.add_argument(
        "--api-token-env",
        metavar="VAR",
        help="name of the environment variable holding an Airflow API token (JWT)",
    )
    where.add_argument(
        "--print-env",
        action="store_true",
        help="print AIRFLOW_CONN_<ID>='<json>' instead of writing the connection",
    )
    where.add_argument(
        "--print-json", action="store_true", help="print the connection as JSON instead of writing it"
    )
    where.add_argument(
        "--include-refresh-token",
        action="store_true",
        help="with --print-*: log in and print the refresh token too (a secret); without it no login is run "
        "and the output shows the connection's other fields",
    )
    login.set_defaults(handler=cmd_login)


def cmd_login(args: argparse.Namespace) -> int:
    # lazy: CLI start-up time (airflow-oac --help)
    from airflow_provider_oac.cli.login_destination import Kind, login_destination

    conn_id = conn_id_of(args)
    # Every flag is checked before the first network call (the API's, then IAM's).
    destination = login_destination(args, conn_id)
    if args.oac_url is not None:
        validate_oac_url(args.oac_url, "--oac-url")
    if args.iam_url is not None:
        validate_iam_url(args.iam_url, "--iam-url")
    if args.storage_auth_type == API_KEY_STORAGE_AUTH:
        raise OACConfigError(api_key_storage_auth_message("--storage-auth-type"))
    existing: ExistingConnection | None = None
    if destination.kind is Kind.API:
        assert destination.api is not None
        existing = ExistingConnection.from_api(destination.api, conn_id)
    elif destination.kind is Kind.DATABASE:
        existing = ExistingConnection.from_orm(_existing_or_none(conn_id), conn_id)
    # Through the REST API, text extras with secret-looking names read as "***" (token_url): they are
    # not used as defaults here, and the API keeps their stored values when they are written back.
    previous = existing.known_extra() if existing is not None else {}
    lifetime = args.refresh_token_lifetime or previous.get("refresh_token_lifetime")
    extra_updates = {
        **{
            name: value
            for name, value in (
                ("bucket", args.bucket),
                ("storage_auth_type", args.storage_auth_type),
                ("bucket_namespace", args.bucket_namespace),
                ("bucket_region", args.bucket_region),
            )
            if value is not None
        },
        **({"refresh_token_lifetime": lifetime} if lifetime is not None else {}),
    }
    config = complete_settings(
        conn_id,
        existing,
        oac_url=args.oac_url,
        iam_url=args.iam_url,
        client_id=args.client_id,
        scope=args.scope,
        extra_updates=extra_updates,
        fix="pick another --conn-id",
    )
    for warning in config.warnings:  # stderr: --print-* keeps stdout for the connection alone
        progress(f"Warning: {warning}")
    if destination.kind is Kind.PRINT:
        return _print_login(args, config, destination, extra_updates)

    login = NewLogin.of(config, _device_login(config, no_browser=args.no_browser, say=say), extra_updates)
    if destination.kind is Kind.API:
        assert destination.api is not None
        result = save_login_via_api(destination.api, login)
    else:
        result = save_login(login)
    action = "Created" if result.created else "Updated"
    say(
        f"Logged in to {config.oac_url} as {result.subject or 'an unknown user'}. {action} connection "
        f"{conn_id!r} {destination.describe()}; the login lasts until {when(result.login_expires_at)} and every refresh by a task extends it."
    )
    if result.cleanup_error:
        say(
            f"Warning: the token Variables of the previous login (oac_login__{conn_id}__*, oac_token__{conn_id}__*) could not be deleted "
            f"({result.cleanup_error}); they are never used again: delete them in Admin > Variables."
        )
    if result.shadowed_by:
        say(
            f"Warning: {result.shadowed_by} also defines {conn_id!r} and hides the connection written here; "
            "update or remove that definition (see docs/login.md)."
        )
    return EXIT_OK


def _device_login(config: OACConnectionConfig, *, no_browser: bool, say: Callable[[str], None]) -> TokenSet:
    """Run the device flow for ``config`` and return the tokens."""
    # lazy: CLI start-up time (airflow-oac --help)
    import requests

    from airflow_provider_oac.auth.flows import poll_device_login, start_device_login

    endpoints = config.iam_endpoints
    with requests.Session() as session:
        session.verify = config.verify
        authorization = start_device_login(session, endpoints, config.client_id, config.scope)
        say(f"First copy your one-time code: {authorization.user_code}")
        say(f"Then open {authorization.verification_uri} in a browser and enter it.")
        if authorization.verification_uri_complete:
            say(f"(or open {authorization.verification_uri_complete}, which has the code in it)")
        if not no_browser:
            _open_browser(authorization.verification_uri_complete or authorization.verification_uri)
        countdown = _Countdown()
        try:
            return poll_device_login(
                session,
                endpoints,
                config.client_id,
                authorization,
                on_tick=countdown.tick,
                refresh_token_lifetime=config.refresh_token_lifetime,
            )
        finally:
            countdown.done()


def _print_login(
    args: argparse.Namespace,
    config: OACConnectionConfig,
    destination: LoginDestination,
    extra_updates: dict[str, Any],
) -> int:
    """--print-env / --print-json: stdout gets only the connection; everything else goes to stderr."""
    # lazy: CLI start-up time (airflow-oac --help)
    from airflow_provider_oac.cli.login_destination import render

    if not destination.runs_login:
        connection = connection_without_login(config, extra_updates)
        print(render(connection, config.conn_id, destination.print_format), flush=True)
        progress(
            "No login was run: without --include-refresh-token the output has no refresh token. Run again "
            "with --include-refresh-token to log in and print the connection with it."
        )
        return EXIT_OK
    login = NewLogin.of(
        config, _device_login(config, no_browser=args.no_browser, say=progress), extra_updates
    )
    connection = printed_connection(login, include_refresh_token=destination.include_refresh_token)
    progress(
        "Warning: the output below contains the login's refresh token, a secret: keep it out of logs and history."
    )
    print(render(connection, config.conn_id, destination.print_format), flush=True)
    progress(
        f"Logged in to {config.oac_url} as {login.tokens.subject or 'an unknown user'}. Store the output as "
        f"connection {config.conn_id!r} in your secrets backend or environment; a later login must replace it "
        "there (see docs/login.md)."
    )
    return EXIT_OK


def _existing_or_none(conn_id: str) -> Any | None:
    try:
        return existing_connection(conn_id)
    except Exception as exc:
        raise CLIError(
            f"Could not read the Airflow metadata database of AIRFLOW_HOME={os.environ.get('AIRFLOW_HOME', '~/airflow')} "
            f"({type(exc).__name__}): run airflow db migrate, or set AIRFLOW_HOME.",
        ) from None


def _open_browser(url: str) -> None:
    has_display = sys.platform in ("darwin", "win32") or bool(
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    )
    if not has_display:
        return
    # lazy: CLI start-up time (airflow-oac --help)
    import webbrowser

    try:
        if webbrowser.open(url):
            print("Opened it in your browser.", flush=True)
    except webbrowser.Error:
        pass


class _Countdown:
    """A one-line countdown on a terminal; a line every 30 s otherwise (logs stay short)."""

    def __init__(self, stream: Any = None, clock: Callable[[], float] = time.monotonic):
        self._stream = stream or sys.stderr
        self._tty = bool(getattr(self._stream, "isatty", lambda: False)())
        self._clock = clock
        self._last_line = -1e9

    def tick(self, seconds_left: float) -> None:
        left = max(int(seconds_left), 0)
        text = f"Waiting for approval... {left // 60}:{left % 60:02d} left (Ctrl-C cancels)"
        if self._tty:
            self._stream.write("\r" + text)
            self._stream.flush()
        elif self._clock() - self._last_line >= 30:
            self._last_line = self._clock()
            print(text, file=self._stream, flush=True)

    def done(self) -> None:
        if self._tty:
            self._stream.write("\r" + " " * 60 + "\r")
            self._stream.flush()
