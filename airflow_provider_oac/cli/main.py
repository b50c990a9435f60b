"""``airflow-oac``: log in to OAC with the device flow, check and end the login.

Every error is one line on stderr (no traceback unless ``--debug``). Exit codes: 0 success,
1 the operation failed (IAM or OAC said no, network), 2 bad input, 130 cancelled (Ctrl-C).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from airflow_provider_oac import __version__
from airflow_provider_oac.errors import CLIError, OACConfigError, OACError

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_CANCELLED = 0, 1, 2, 130


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # one line, exit 2, like every other input error
        # prog is "airflow-oac" for the top level and "airflow-oac login" etc. for a command.
        self.exit(EXIT_USAGE, f"airflow-oac: error: {_shorten_values(message)} (see {self.prog} --help)\n")


def _shorten_values(message: str) -> str:
    """Error messages name the bad value ("invalid float value: '...'", "No connection '...'"): a
    pasted 5,000-character value would fill the terminal, so long ones are cut, saying how long
    they were."""
    import re

    def cut(match: re.Match[str]) -> str:
        value = match.group(1)
        return f"'{value[:40]}...' ({len(value)} characters)"

    def cut_word(match: re.Match[str]) -> str:
        value = match.group(0)
        return f"{value[:40]}... ({len(value)} characters)"

    message = re.sub(r"'([^'\n]{80,})'", cut, " ".join(message.split()))
    # Values our own messages name unquoted (an environment variable, a URL) are cut too.
    return re.sub(r"[^\s']{120,}", cut_word, message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="airflow-oac",
        description="Log in to Oracle Analytics Cloud for Airflow, and manage that login.",
    )
    parser.add_argument("--version", action="version", version=f"airflow-provider-oac {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True

    login = commands.add_parser(
        "login",
        help="log in with the device flow and write the connection",
        description="Run the OAuth device flow against OCI IAM and create or update the Airflow connection. "
        "Flags left out are taken from an existing connection of that id.",
    )
    _conn_id_flag(login)
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

    status = commands.add_parser(
        "status",
        help="show the connection and whether its login works now",
        description="Show the connection tasks use (secrets backend, then AIRFLOW_CONN_<ID>, then the "
        "metadata database) and prove its login works with one refresh. With --api-url, show what "
        "Airflow's REST API can tell instead (it hides tokens, so no refresh is tried).",
    )
    _conn_id_flag(status)
    through = status.add_argument_group("read the connection through Airflow's REST API instead")
    through.add_argument(
        "--api-url",
        metavar="URL",
        help="Airflow's base URL, e.g. http://localhost:8080 (the local metadata database is not touched)",
    )
    through.add_argument("--api-username", metavar="USER", help="Airflow user (with --api-password-env)")
    through.add_argument(
        "--api-password-env", metavar="VAR", help="name of the environment variable holding its password"
    )
    through.add_argument(
        "--api-token-env", metavar="VAR", help="name of the environment variable holding an API token (JWT)"
    )
    status.set_defaults(handler=cmd_status)

    logout = commands.add_parser("logout", help="revoke the refresh token and remove it from Airflow")
    _conn_id_flag(logout)
    logout.set_defaults(handler=cmd_logout)

    emulator = commands.add_parser("emulator", help="run the local OAC + IAM emulator (for demos and tests)")
    from airflow_provider_oac.emulator.cli import add_arguments

    add_arguments(emulator)
    emulator.set_defaults(handler=cmd_emulator)

    from airflow_provider_oac.cli.snapshots import add_snapshot_commands

    add_snapshot_commands(commands)
    return parser


def _conn_id_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--conn-id", default="oac_default", help="Airflow connection id (default: oac_default)"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or EXIT_OK)
    except KeyboardInterrupt:
        print("\nCancelled; nothing was changed.", file=sys.stderr)
        return EXIT_CANCELLED
    except CLIError as exc:
        return _fail(args, exc, str(exc), exc.exit_code)
    except OACConfigError as exc:
        return _fail(args, exc, str(exc), EXIT_USAGE)
    except OACError as exc:
        return _fail(args, exc, str(exc), EXIT_FAILED)
    except Exception as exc:
        return _fail(
            args, exc, f"unexpected {type(exc).__name__}: {_first_line(exc)} (run again with --debug)", 1
        )


def _fail(args: argparse.Namespace, exc: BaseException, message: str, code: int) -> int:
    if getattr(args, "debug", False):
        import traceback

        traceback.print_exception(exc)
    print(f"airflow-oac: error: {_shorten_values(_first_line(message))}", file=sys.stderr)
    return code


def _first_line(value: object) -> str:
    text = str(value).strip()
    return text.splitlines()[0] if text else "(no message)"


def _say(*parts: object) -> None:
    print(*parts, flush=True)


# --- login -----------------------------------------------------------------------------------------


def cmd_login(args: argparse.Namespace) -> int:
    from airflow_provider_oac.cli.login_destination import (
        Kind,
        existing_from_api,
        existing_from_orm,
        login_destination,
    )
    from airflow_provider_oac.hooks.config import (
        API_KEY_STORAGE_AUTH,
        CONN_TYPE,
        api_key_storage_auth_message,
        connection_config,
    )
    from airflow_provider_oac.validation import require_text, validate_iam_url, validate_oac_url

    conn_id = require_text(
        args.conn_id, "--conn-id", "give a connection id such as oac_default", max_length=250
    )
    # Every flag is checked before the first network call (the API's, then IAM's).
    destination = login_destination(args, conn_id)
    if args.oac_url is not None:
        validate_oac_url(args.oac_url, "--oac-url")
    if args.iam_url is not None:
        validate_iam_url(args.iam_url, "--iam-url")
    if args.storage_auth_type == API_KEY_STORAGE_AUTH:
        raise OACConfigError(api_key_storage_auth_message("--storage-auth-type"))
    if destination.kind is Kind.API:
        assert destination.api is not None
        existing = existing_from_api(destination.api, conn_id)
    elif destination.kind is Kind.DATABASE:
        existing = existing_from_orm(_existing_or_none(conn_id), conn_id)
    else:
        existing = None
    if existing is not None and existing.conn_type not in (None, "", CONN_TYPE):
        raise OACConfigError(
            f"Connection {conn_id!r} is a {existing.conn_type!r} connection, not an OAC one: pick another --conn-id."
        )
    # Through the REST API, text extras with secret-looking names read as "***" (token_url): they are
    # not used as defaults here, and the API keeps their stored values when they are written back.
    previous = existing.known_extra() if existing is not None else {}
    lifetime = args.refresh_token_lifetime or previous.get("refresh_token_lifetime")
    storage_flags = {
        name: value
        for name, value in (
            ("bucket", args.bucket),
            ("storage_auth_type", args.storage_auth_type),
            ("bucket_namespace", args.bucket_namespace),
            ("bucket_region", args.bucket_region),
        )
        if value is not None
    }
    config = connection_config(
        conn_id,
        host=args.oac_url if args.oac_url is not None else getattr(existing, "host", None),
        login=args.client_id if args.client_id is not None else getattr(existing, "login", None),
        password=None,
        extra={
            **{k: v for k, v in previous.items() if k not in ("login_at", "subject")},
            "iam_url": args.iam_url if args.iam_url is not None else previous.get("iam_url"),
            "scope": args.scope if args.scope is not None else previous.get("scope"),
            **({"refresh_token_lifetime": lifetime} if lifetime is not None else {}),
            **storage_flags,
        },
        require_refresh_token=False,
    )
    for warning in config.warnings:  # stderr: --print-* keeps stdout for the connection alone
        print(f"Warning: {warning}", file=sys.stderr, flush=True)
    extra_updates = {
        **storage_flags,
        **({"refresh_token_lifetime": lifetime} if lifetime is not None else {}),
    }
    if destination.kind is Kind.PRINT:
        return _print_login(args, config, destination, extra_updates)

    tokens = _device_login(config, no_browser=args.no_browser, say=_say)
    login_fields: dict[str, Any] = {
        "oac_url": config.oac_url,
        "iam_url": config.iam_url,
        "client_id": config.client_id,
        "scope": config.scope,
        "tokens": tokens,
        "refresh_token_lifetime": config.refresh_token_lifetime,
        "extra_updates": extra_updates,
    }
    if destination.kind is Kind.API:
        from airflow_provider_oac.cli.connections import save_login_via_api

        assert destination.api is not None
        result = save_login_via_api(destination.api, conn_id, **login_fields)
    else:
        from airflow_provider_oac.cli.connections import save_login

        result = save_login(conn_id, **login_fields)
    action = "Created" if result.created else "Updated"
    _say(
        f"Logged in to {config.oac_url} as {result.subject or 'an unknown user'}. {action} connection "
        f"{conn_id!r} {destination.describe()}; the login lasts until {_when(result.login_expires_at)} and every refresh by a task extends it."
    )
    if result.cleanup_error:
        _say(
            f"Warning: the token Variables of the previous login (oac_token__{conn_id}__*) could not be deleted "
            f"({result.cleanup_error}); they are never used again: delete them in Admin > Variables."
        )
    if result.shadowed_by:
        _say(
            f"Warning: {result.shadowed_by} also defines {conn_id!r} and hides the connection written here; "
            "update or remove that definition (see docs/login.md)."
        )
    return EXIT_OK


def _device_login(config: Any, *, no_browser: bool, say: Callable[[str], None]) -> Any:
    """Run the device flow for ``config`` (an OACConnectionConfig) and return the TokenSet."""
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
    args: argparse.Namespace, config: Any, destination: Any, extra_updates: dict[str, Any]
) -> int:
    """--print-env / --print-json: stdout gets only the connection; everything else goes to stderr."""
    from airflow_provider_oac.cli.connections import login_connection
    from airflow_provider_oac.cli.login_destination import render

    def note(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    tokens = _device_login(config, no_browser=args.no_browser, say=note) if destination.runs_login else None
    connection = login_connection(
        config.conn_id,
        oac_url=config.oac_url,
        iam_url=config.iam_url,
        client_id=config.client_id,
        scope=config.scope,
        refresh_token_lifetime=config.refresh_token_lifetime,
        tokens=tokens,
        extra_updates=extra_updates,
        include_refresh_token=destination.include_refresh_token,
    )
    if tokens is None:
        print(render(connection, config.conn_id, destination.print_format), flush=True)
        note(
            "No login was run: without --include-refresh-token the output has no refresh token. Run again "
            "with --include-refresh-token to log in and print the connection with it."
        )
        return EXIT_OK
    note(
        "Warning: the output below contains the login's refresh token, a secret: keep it out of logs and history."
    )
    print(render(connection, config.conn_id, destination.print_format), flush=True)
    note(
        f"Logged in to {config.oac_url} as {tokens.subject or 'an unknown user'}. Store the output as connection "
        f"{config.conn_id!r} in your secrets backend or environment; a later login must replace it there "
        "(see docs/login.md)."
    )
    return EXIT_OK


def _existing_or_none(conn_id: str) -> Any | None:
    from airflow_provider_oac.cli.connections import existing_connection

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
    import webbrowser

    try:
        if webbrowser.open(url):
            _say("Opened it in your browser.")
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


def _when(epoch: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(epoch))


# --- status / logout -------------------------------------------------------------------------------------


def _hook(conn_id: str, *, require_refresh_token: bool = True):
    """An OACHook on the definition of ``conn_id`` that tasks get (Airflow's order: secrets
    backend, ``AIRFLOW_CONN_<ID>``, metadata database); ``hook.live`` says where it was found."""
    from airflow_provider_oac.cli.connections import env_variable_name, live_connection
    from airflow_provider_oac.hooks.config import connection_config, connection_extra
    from airflow_provider_oac.hooks.oac import OACHook

    live, database_error = live_connection(conn_id)
    if live is None:
        if database_error:
            raise CLIError(
                f"Connection {conn_id!r} is in no secrets backend nor {env_variable_name(conn_id)}, and the "
                f"metadata database could not be read ({database_error}): run airflow db migrate or set "
                "AIRFLOW_HOME, or define the connection in the environment or a secrets backend.",
            )
        raise CLIError(
            f"No connection {conn_id!r} in this Airflow: run airflow-oac login --conn-id {conn_id} ...",
            EXIT_USAGE,
        )
    conn = live.conn
    hook = OACHook(conn_id)
    hook.config = connection_config(  # type: ignore[misc]
        conn_id,
        host=conn.host,
        login=conn.login,
        password=conn.password,
        extra=connection_extra(conn, conn_id),
        conn_type=conn.conn_type,
        require_refresh_token=require_refresh_token,
    )
    hook.live = live  # type: ignore[attr-defined]
    # A person's CLI beside workers that run as another user: refuse rather than refresh outside
    # their lock (the workers only warn; see docs/tokens.md).
    hook.refuse_state_split = True
    return hook


def shadow_warning(conn_id: str, live: Any) -> str | None:
    """One line when a metadata-database row of ``conn_id`` is hidden from tasks."""
    if not live.shadows_database_row:
        return None
    return (
        f"Warning: the metadata database also has a connection {conn_id!r}, which tasks do not use: "
        f"{live.source} comes first in Airflow's order; update or delete one of them."
    )


def token_store_problem(hook: Any) -> str | None:
    """Why the rotated tokens of the hook's login cannot be read here (None: they can).

    They are Airflow Variables in the metadata database (docs/tokens.md). Without them the newest
    refresh token is unknown, and the connection's own one may have been spent by a task: using
    it could end the login, so callers stop instead.
    """
    from airflow_provider_oac.hooks.token_store import VariableTokenStore

    try:
        VariableTokenStore(hook.config.refresh_token).read(hook.config.conn_id, hook.config.login_key)
    except Exception as exc:
        return f"{type(exc).__name__} on the metadata database of AIRFLOW_HOME={os.environ.get('AIRFLOW_HOME', '~/airflow')}"
    return None


def _workers_backend() -> str | None:
    """``[workers] secrets_backend``: tasks look there first; this process cannot."""
    try:
        from airflow.configuration import conf

        return conf.get("workers", "secrets_backend", fallback="") or None
    except Exception:
        return None


def cmd_status(args: argparse.Namespace) -> int:
    if args.api_url is not None:
        return _status_via_api(args)
    for flag, value in (
        ("--api-username", args.api_username),
        ("--api-password-env", args.api_password_env),
        ("--api-token-env", args.api_token_env),
    ):
        if value is not None:
            raise OACConfigError(f"{flag} goes only with --api-url (the Airflow REST API to read from).")
    hook = _hook(args.conn_id, require_refresh_token=False)
    config = hook.config
    live = hook.live
    _say(f"Connection:  {config.conn_id}")
    _say(f"Defined in:  {live.source}")
    _say(f"OAC URL:     {config.oac_url}")
    _say(f"IAM URL:     {config.iam_url}")
    _say(f"Client id:   {config.client_id}")
    _say(f"Cross-host refresh lock: {config.lock_conn_id or 'not set (one host only: a file lock)'}")
    for warning in config.warnings:
        _say(f"Warning: {warning}")
    for line in _status_notes(config.conn_id, live):
        _say(line)
    from airflow_provider_oac.hooks.config import API_KEY_STORAGE_AUTH, api_key_storage_auth_message

    if config.storage_auth_type == API_KEY_STORAGE_AUTH:
        _say("Warning: " + api_key_storage_auth_message("Extra 'storage_auth_type'"))
    if not config.refresh_token:
        _say("Logged in:   no (no refresh token)")
        raise CLIError(f"Not logged in: run airflow-oac login --conn-id {config.conn_id}")
    problem = token_store_problem(hook)
    if problem is not None:
        _say("Logged in:   unknown (the token store cannot be read here)")
        raise CLIError(
            f"Cannot check the login: its newest refresh token is in Airflow Variables in the metadata "
            f"database, which this host cannot read ({problem}); refreshing with the connection's own token "
            "could present one a task already spent, so nothing was sent: run status where the metadata "
            "database is reachable."
        )
    manager = hook.token_manager
    manager.invalidate_current()
    access_token = manager.get_access_token()
    record = manager.stored_record()
    from airflow_provider_oac.auth.tokens import decode_jwt_claims

    claims = decode_jwt_claims(access_token)
    subject = claims.get("sub") or config.subject
    _say(
        f"Logged in:   yes, as {subject or 'unknown'}"
        + (f" (since {_when(config.login_at)})" if config.login_at else "")
    )
    _say("Refresh:     works now (IAM issued a new access token and the new refresh token is stored)")
    if record is not None and record.access_token_expires_at:
        _say(
            f"Access token expires: {time.strftime('%H:%M:%S UTC', time.gmtime(record.access_token_expires_at))}"
        )
    expires_at = manager.login_expires_at(record)
    if expires_at:
        _say(f"Login expires: {_when(expires_at)} unless refreshed (each refresh restarts the lifetime)")
    warning = hook.login_expiry_warning()
    if warning:
        _say(f"Warning: {warning}")
    return EXIT_OK


def _status_via_api(args: argparse.Namespace) -> int:
    """``status --api-url``: what Airflow's REST API can tell. It shows the metadata-database row
    only, and the refresh token and the tokens in the Variables as ``***``: no refresh is tried
    (it would need the newest refresh token), and the last one is read from the Variables'
    visible fields when the API shows them."""
    from airflow_provider_oac.cli.login_destination import _api
    from airflow_provider_oac.hooks.config import connection_config, parse_extra
    from airflow_provider_oac.hooks.token_store import VARIABLE_PREFIX
    from airflow_provider_oac.validation import require_text

    conn_id = require_text(
        args.conn_id, "--conn-id", "give a connection id such as oac_default", max_length=250
    )
    api = _api(args, conn_id)
    body = api.get_connection(conn_id)
    if body is None:
        raise CLIError(
            f"No connection {conn_id!r} behind Airflow's REST API at {api.base_url}: run airflow-oac login "
            f"--conn-id {conn_id} --api-url {api.base_url} ...",
            EXIT_USAGE,
        )
    # Secret-looking extras read as "***" (token_url): they cannot be checked from here.
    extra = {k: v for k, v in parse_extra(body.get("extra"), conn_id).items() if v != "***"}
    config = connection_config(
        conn_id,
        host=body.get("host"),
        login=body.get("login"),
        password=None,
        extra=extra,
        conn_type=body.get("conn_type"),
        require_refresh_token=False,
    )
    _say(f"Connection:  {conn_id}")
    _say(
        f"Defined in:  the metadata database, as Airflow's REST API at {api.base_url} shows it (a secrets "
        "backend or AIRFLOW_CONN_* of the workers would come first; the API does not show them)"
    )
    _say(f"OAC URL:     {config.oac_url}")
    _say(f"IAM URL:     {config.iam_url}")
    _say(f"Client id:   {config.client_id}")
    _say(f"Cross-host refresh lock: {config.lock_conn_id or 'not set (one host only: a file lock)'}")
    if not body.get("password"):
        _say("Logged in:   no (no refresh token)")
        raise CLIError(f"Not logged in: run airflow-oac login --conn-id {conn_id} --api-url {api.base_url}")
    who = f" as {config.subject}" if config.subject else ""
    since = f" (since {_when(config.login_at)})" if config.login_at else ""
    _say(f"Logged in:   a refresh token is stored{who}{since}")
    keys = api.variable_keys(f"{VARIABLE_PREFIX}{conn_id}__")
    newest: tuple[float, int] | None = None
    for key in keys:
        fields = _visible_record(api.get_variable(key))
        if fields is not None and (newest is None or fields > newest):
            newest = fields
    if newest is not None:
        _say(f"Last refresh: {_when(newest[0])} (refresh {newest[1]} of this login)")
        expires_at: float | None = newest[0] + config.refresh_token_lifetime
    else:
        _say("Last refresh: " + ("unknown (the API masks the token records)" if keys else "none recorded"))
        expires_at = config.login_at + config.refresh_token_lifetime if config.login_at and not keys else None
    if expires_at:
        _say(f"Login expires: {_when(expires_at)} unless refreshed (an estimate from the last refresh)")
    _say(
        "Refresh:     not checked: Airflow's REST API shows the refresh token and the token Variables as ***, "
        "so status cannot refresh through it; run status where the metadata database is reachable to prove "
        "the login works."
    )
    return EXIT_OK


def _visible_record(value: str | None) -> tuple[float, int] | None:
    """``(updated_at, generation)`` of a token record as the REST API shows it (its token fields
    masked), or None when the API masked the whole value."""
    import json

    try:
        record = json.loads(value or "")
    except ValueError:
        return None
    if not isinstance(record, dict):
        return None
    updated_at, generation = record.get("updated_at"), record.get("generation")
    if not isinstance(updated_at, (int, float)) or not isinstance(generation, int):
        return None
    return float(updated_at), generation


def _status_notes(conn_id: str, live: Any) -> list[str]:
    notes = []
    warning = shadow_warning(conn_id, live)
    if warning:
        notes.append(warning)
    elif live.database_error and not live.in_database:
        notes.append(
            f"Note: the metadata database could not be read ({live.database_error}), so a row there of the "
            "same id, which tasks would not use, cannot be ruled out."
        )
    for failed in live.backend_errors:
        notes.append(f"Warning: the secrets backend {failed} failed; Airflow skips it too.")
    workers = _workers_backend()
    if workers:
        notes.append(
            f"Note: tasks look in [workers] secrets_backend ({workers}) first; this command cannot see it."
        )
    return notes


def cmd_logout(args: argparse.Namespace) -> int:
    from airflow_provider_oac.cli.connections import clear_login, forget_stored_tokens

    hook = _hook(args.conn_id, require_refresh_token=False)
    config = hook.config
    live = hook.live
    problem = token_store_problem(hook) if config.refresh_token else None
    if problem is not None:
        raise CLIError(
            f"Cannot log out {config.conn_id!r} here: its newest refresh token and token records are in the "
            f"metadata database, which this host cannot read ({problem}); nothing was changed: run logout "
            "where the metadata database is reachable."
        )
    warning = shadow_warning(config.conn_id, live)
    if warning:
        _say(warning)
    revoked = False
    if config.refresh_token:
        record = hook.token_manager.stored_record()
        refresh_token = record.refresh_token if record else config.refresh_token
        import requests

        from airflow_provider_oac.auth.flows import revoke_refresh_token

        with requests.Session() as session:
            session.verify = config.verify
            try:
                revoked = revoke_refresh_token(session, config.iam_endpoints, config.client_id, refresh_token)
            except OACError:
                revoked = False
    if not live.in_database:
        forget_stored_tokens(config.conn_id)
        outcome = "IAM revoked the refresh token" if revoked else "IAM did not confirm the revocation"
        _say(
            f"Logged out: {outcome} and the token records of {config.conn_id!r} are deleted. The connection "
            f"itself lives in {live.source}, which airflow-oac cannot edit: remove its refresh token there."
        )
        return EXIT_OK
    clear_login(config.conn_id)
    if revoked:
        _say(
            f"Logged out: IAM revoked the refresh token and connection {config.conn_id!r} no longer holds one."
        )
    else:
        _say(
            f"Logged out locally: connection {config.conn_id!r} and the token store no longer hold a refresh token "
            "(IAM did not confirm the revocation; the token expires on its own)."
        )
    return EXIT_OK


def cmd_emulator(args: argparse.Namespace) -> int:
    from airflow_provider_oac.emulator.cli import run

    return run(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
