"""``airflow-oac logout``: revoke the refresh token at IAM and remove it, and every stored token of
the login, from Airflow."""

from __future__ import annotations

import argparse
from typing import Any

from airflow_provider_oac.cli.common import EXIT_OK, CLIError, conn_id_flag, say
from airflow_provider_oac.cli.connection import connection_hook, shadow_warning, token_store_problem
from airflow_provider_oac.errors import OACError
from airflow_provider_oac.login import clear_login, forget_stored_tokens


def add_parser(commands: Any) -> None:
    logout = commands.add_parser("logout", help="revoke the refresh token and remove it from Airflow")
    conn_id_flag(logout)
    logout.set_defaults(handler=cmd_logout)


def cmd_logout(args: argparse.Namespace) -> int:
    hook, live = connection_hook(args.conn_id, require_refresh_token=False)
    config = hook.config
    problem = token_store_problem(hook) if config.refresh_token else None
    if problem is not None:
        raise CLIError(
            f"Cannot log out {config.conn_id!r} here: its newest refresh token and token records are in the "
            f"metadata database, which this host cannot read ({problem}); nothing was changed: run logout "
            "where the metadata database is reachable."
        )
    warning = shadow_warning(config.conn_id, live)
    if warning:
        say(warning)
    revoked = False
    if config.refresh_token:
        record = hook.token_manager.stored_record()
        refresh_token = record.refresh_token if record else config.refresh_token
        # lazy: CLI start-up time (airflow-oac --help)
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
        say(
            f"Logged out: {outcome} and the token records of {config.conn_id!r} are deleted. The connection "
            f"itself lives in {live.source}, which airflow-oac cannot edit: remove its refresh token there."
        )
        return EXIT_OK
    clear_login(config.conn_id)
    if revoked:
        say(
            f"Logged out: IAM revoked the refresh token and connection {config.conn_id!r} no longer holds one."
        )
    else:
        say(
            f"Logged out locally: connection {config.conn_id!r} and the token store no longer hold a refresh token "
            "(IAM did not confirm the revocation; the token expires on its own)."
        )
    return EXIT_OK
