"""``airflow-oac status``: the connection tasks use, and proof that its login works (one refresh);
with ``--api-url``, what Airflow's REST API can tell."""

from __future__ import annotations

import argparse
import json
from typing import Any

from airflow_provider_oac.auth.tokens import decode_jwt_claims
from airflow_provider_oac.cli.common import (
    EXIT_OK,
    EXIT_USAGE,
    CLIError,
    clock,
    conn_id_flag,
    conn_id_of,
    say,
    when,
)
from airflow_provider_oac.cli.connection import connection_hook, shadow_warning, token_store_problem
from airflow_provider_oac.errors import OACConfigError
from airflow_provider_oac.hooks.config import (
    API_KEY_STORAGE_AUTH,
    api_key_storage_auth_message,
    connection_config,
    parse_extra,
)
from airflow_provider_oac.login import MASKED


def add_parser(commands: Any) -> None:
    status = commands.add_parser(
        "status",
        help="show the connection and whether its login works now",
        description="Show the connection tasks use (secrets backend, then AIRFLOW_CONN_<ID>, then the "
        "metadata database) and prove its login works with one refresh. With --api-url, show what "
        "Airflow's REST API can tell instead (it hides tokens, so no refresh is tried).",
    )
    conn_id_flag(status)
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
    hook, live = connection_hook(args.conn_id, require_refresh_token=False)
    config = hook.config
    say(f"Connection:  {config.conn_id}")
    say(f"Defined in:  {live.source}")
    say(f"OAC URL:     {config.oac_url}")
    say(f"IAM URL:     {config.iam_url}")
    say(f"Client id:   {config.client_id}")
    say(f"Cross-host refresh lock: {config.lock_conn_id or 'not set (one host only: a file lock)'}")
    for warning in config.warnings:
        say(f"Warning: {warning}")
    for line in _status_notes(config.conn_id, live):
        say(line)

    if config.storage_auth_type == API_KEY_STORAGE_AUTH:
        say("Warning: " + api_key_storage_auth_message("Extra 'storage_auth_type'"))
    if not config.refresh_token:
        say("Logged in:   no (no refresh token)")
        raise CLIError(f"Not logged in: run airflow-oac login --conn-id {config.conn_id}")
    problem = token_store_problem(hook)
    if problem is not None:
        say("Logged in:   unknown (the token store cannot be read here)")
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

    claims = decode_jwt_claims(access_token)
    subject = claims.get("sub") or config.subject
    say(
        f"Logged in:   yes, as {subject or 'unknown'}"
        + (f" (since {when(config.login_at)})" if config.login_at else "")
    )
    say("Refresh:     works now (IAM issued a new access token and the new refresh token is stored)")
    if record is not None and record.access_token_expires_at:
        say(f"Access token expires: {clock(record.access_token_expires_at)}")
    expires_at = manager.login_expires_at(record)
    if expires_at:
        say(f"Login expires: {when(expires_at)} unless refreshed (each refresh restarts the lifetime)")
    expiry_warning = hook.login_expiry_warning()
    if expiry_warning:
        say(f"Warning: {expiry_warning}")
    return EXIT_OK


def _status_via_api(args: argparse.Namespace) -> int:
    """``status --api-url``: what Airflow's REST API can tell. It shows the metadata-database row
    only, and the refresh token and the tokens in the Variables as ``***``: no refresh is tried
    (it would need the newest refresh token), and the last one is read from the Variables'
    visible fields when the API shows them."""
    # lazy: CLI start-up time (airflow-oac --help)
    from airflow_provider_oac.cli.login_destination import api_from_flags
    from airflow_provider_oac.hooks.token_store import RECORD_PREFIXES, login_key_of

    conn_id = conn_id_of(args)
    api = api_from_flags(args, conn_id)
    body = api.get_connection(conn_id)
    if body is None:
        raise CLIError(
            f"No connection {conn_id!r} behind Airflow's REST API at {api.base_url}: run airflow-oac login "
            f"--conn-id {conn_id} --api-url {api.base_url} ...",
            EXIT_USAGE,
        )
    # Secret-looking extras read as "***" (token_url): they cannot be checked from here.
    extra = {k: v for k, v in parse_extra(body.get("extra"), conn_id).items() if v != MASKED}
    config = connection_config(
        conn_id,
        host=body.get("host"),
        login=body.get("login"),
        password=None,
        extra=extra,
        conn_type=body.get("conn_type"),
        require_refresh_token=False,
    )
    say(f"Connection:  {conn_id}")
    say(
        f"Defined in:  the metadata database, as Airflow's REST API at {api.base_url} shows it (a secrets "
        "backend or AIRFLOW_CONN_* of the workers would come first; the API does not show them)"
    )
    say(f"OAC URL:     {config.oac_url}")
    say(f"IAM URL:     {config.iam_url}")
    say(f"Client id:   {config.client_id}")
    say(f"Cross-host refresh lock: {config.lock_conn_id or 'not set (one host only: a file lock)'}")
    if not body.get("password"):
        say("Logged in:   no (no refresh token)")
        raise CLIError(f"Not logged in: run airflow-oac login --conn-id {conn_id} --api-url {api.base_url}")
    who = f" as {config.subject}" if config.subject else ""
    since = f" (since {when(config.login_at)})" if config.login_at else ""
    say(f"Logged in:   a refresh token is stored{who}{since}")
    listed = [key for prefix in RECORD_PREFIXES for key in api.variable_keys(f"{prefix}{conn_id}__")]
    keys = [key for key in listed if login_key_of(key, conn_id) is not None]  # not conn_id__x's
    newest: tuple[float, int] | None = None
    for key in keys:
        fields = _visible_record(api.get_variable(key))
        if fields is not None and (newest is None or fields > newest):
            newest = fields
    if newest is not None:
        say(f"Last refresh: {when(newest[0])} (refresh {newest[1]} of this login)")
        expires_at: float | None = newest[0] + config.refresh_token_lifetime
    else:
        say("Last refresh: " + ("unknown (the API masks the token records)" if keys else "none recorded"))
        expires_at = config.login_at + config.refresh_token_lifetime if config.login_at and not keys else None
    if expires_at:
        say(f"Login expires: {when(expires_at)} unless refreshed (an estimate from the last refresh)")
    say(
        "Refresh:     not checked: Airflow's REST API shows the refresh token as *** and the tokens are sealed, "
        "so status cannot refresh through it; run status where the metadata database is reachable to prove "
        "the login works."
    )
    return EXIT_OK


def _visible_record(value: str | None) -> tuple[float, int] | None:
    """``(updated_at, generation)`` of a token record as the REST API shows it (a sealed record's
    readable fields; a plain one of an older release with its token fields masked), or None when
    the API masked the whole value."""
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


def _workers_backend() -> str | None:
    """``[workers] secrets_backend``: tasks look there first; this process cannot."""
    try:
        # lazy: Airflow; keeps the CLI start-up free of it
        from airflow.configuration import conf

        return conf.get("workers", "secrets_backend", fallback="") or None
    except Exception:
        return None
