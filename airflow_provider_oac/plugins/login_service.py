"""The device login behind the Airflow UI page: start, one poll at a time, and connection status.

What the page's routes call, without the web: the routes add authentication, CSRF checks and
JSON. Runs inside the Airflow API server, which has the metadata database; a successful login is
written by :func:`~airflow_provider_oac.login.writers.save_login`, the same code path as
``airflow-oac login`` (:mod:`airflow_provider_oac.login`).

Each :func:`poll_login` makes at most one IAM call and keeps no state on the server: the next
poll's state travels in the sealed handle (:mod:`.login_handle`), so any API server worker or
replica can answer it.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from airflow.models.connection import Connection
from airflow.models.log import Log
from airflow.utils.session import create_session

from airflow_provider_oac.auth.flows import device_poll_backoff, poll_once, start_device_login
from airflow_provider_oac.auth.protocol import Granted, IAMEndpoints, SlowDown
from airflow_provider_oac.errors import (
    OACAccessDenied,
    OACAuthError,
    OACConfigError,
    OACDeviceCodeExpired,
    OACDeviceFlowError,
    OACTokenEndpointUnavailable,
    OACTransportError,
)
from airflow_provider_oac.hooks.config import CONN_TYPE, OACConnectionConfig, connection_config, parse_extra
from airflow_provider_oac.hooks.token_manager import TokenManager
from airflow_provider_oac.hooks.token_store import VariableTokenStore
from airflow_provider_oac.login.connections import existing_connection, shadowing_source
from airflow_provider_oac.login.new_login import LoginResult, NewLogin, utc_minute
from airflow_provider_oac.login.settings import ExistingConnection, complete_settings, not_oac_problem
from airflow_provider_oac.login.writers import save_login
from airflow_provider_oac.plugins.login_handle import Fernet, LoginHandle, require_encryption, seal, unseal

#: The audit lines (start, outcome, who) go to this logger, in the API server's log.
log = logging.getLogger("airflow_provider_oac.ui_login")

#: IAM calls made for the page: short enough that a browser request does not hang for a minute.
IAM_TIMEOUT = (10.0, 20.0)

_CONN_ID = re.compile(r"^[A-Za-z0-9_.-]{1,250}$")
_NO_EGRESS = (
    "check the IAM URL; if the Airflow API server cannot reach IAM (no outbound HTTPS), run "
    "airflow-oac login on a host that can and that has this Airflow's metadata database"
)


class LoginState(Enum):
    """Where a UI device login stands after a poll."""

    PENDING = "pending"
    DONE = "done"
    DENIED = "denied"
    EXPIRED = "expired"
    FAILED = "failed"

    @property
    def is_terminal(self) -> bool:
        return self is not LoginState.PENDING


@dataclass(frozen=True, slots=True)
class LoginSettings:
    """What the page's form sends; a field left empty is taken from the existing connection."""

    oac_url: str | None = None
    iam_url: str | None = None
    client_id: str | None = None
    scope: str | None = None


@dataclass(frozen=True, slots=True)
class StartedLogin:
    """What the page shows after "Log in": the code, where to enter it, and the sealed handle."""

    user_code: str
    verification_uri: str
    verification_uri_complete: str | None
    expires_at: float
    interval: float
    handle: str = field(repr=False)
    #: What looks off in the settings that were accepted (e.g. the scope), for the page to show.
    warning: str | None = None


@dataclass(frozen=True, slots=True)
class PollOutcome:
    """One poll's answer for the page. ``handle`` and ``retry_in`` are set while pending."""

    state: LoginState
    message: str
    handle: str | None = field(default=None, repr=False)
    retry_in: float | None = None
    slowed_down: bool = False
    #: Set when IAM could not be asked this time (the page keeps polling, later).
    warning: str | None = None
    result: LoginResult | None = None


@dataclass(frozen=True, slots=True)
class ConnectionStatus:
    """An existing connection as the page shows it: never a token."""

    conn_id: str
    conn_type: str | None
    oac_url: str | None
    iam_url: str | None
    client_id: str | None
    scope: str | None
    logged_in: bool
    subject: str | None
    login_at: float | None
    #: When the login ends unless a task refreshes it (each refresh restarts the lifetime).
    login_expires_at: float | None
    refresh_token_lifetime: float | None
    #: Where else this connection id is defined (it hides the metadata database's row).
    shadowed_by: str | None
    #: Why the connection cannot be used as it is, if it cannot.
    problem: str | None = None


def check_conn_id(conn_id: object) -> str:
    """Airflow's own rule for connection ids: letters, digits, ``_``, ``.`` and ``-``."""
    if not isinstance(conn_id, str) or not _CONN_ID.match(conn_id):
        raise OACConfigError(
            "The connection id must be 1 to 250 letters, digits, '_', '.' or '-', e.g. oac_default."
        )
    return conn_id


# --- start ---------------------------------------------------------------------------------------


def resolve_settings(conn_id: str, settings: LoginSettings) -> OACConnectionConfig:
    """The form's settings completed from the existing connection and checked, before any network
    call; :class:`OACConfigError` names the field to fix. A connection of another type is refused
    rather than overwritten."""
    conn_id = check_conn_id(conn_id)
    existing = ExistingConnection.from_orm(existing_connection(conn_id), conn_id)

    def given(value: str | None) -> str | None:  # an empty field is one left out
        return value.strip() if isinstance(value, str) and value.strip() else None

    return complete_settings(
        conn_id,
        existing,
        oac_url=given(settings.oac_url),
        iam_url=given(settings.iam_url),
        client_id=given(settings.client_id),
        scope=given(settings.scope),
    )


def start_login(
    conn_id: str,
    settings: LoginSettings,
    *,
    user: str,
    fernet: Fernet,
    now: Callable[[], float] = time.time,
) -> StartedLogin:
    """Ask IAM for a device login for ``conn_id`` on behalf of the Airflow ``user``.

    Raises :class:`OACConfigError` (bad settings, no Fernet key), :class:`OACAuthError` (IAM
    refused the client or scope, or could not be reached: the message says what to do).
    """
    # lazy: requests loads when a login starts, not with the API server
    import requests

    require_encryption(fernet)
    config = resolve_settings(conn_id, settings)
    endpoints = config.iam_endpoints
    with requests.Session() as session:
        session.verify = config.verify
        try:
            authorization = start_device_login(
                session, endpoints, config.client_id, config.scope, now=now, timeout=IAM_TIMEOUT
            )
        except OACTransportError as exc:
            raise OACAuthError(f"{exc}: {_NO_EGRESS}.") from None
        except OACTokenEndpointUnavailable as exc:
            raise OACAuthError(f"IAM is unavailable right now ({exc}): try again in a few minutes.") from None
    started_at = now()
    handle = LoginHandle(
        conn_id=config.conn_id,
        user=user,
        oac_url=config.oac_url,
        iam_url=config.iam_url,
        client_id=config.client_id,
        scope=config.scope,
        token_url=endpoints.token_url,
        ca_bundle=config.ca_bundle,
        refresh_token_lifetime=config.refresh_token_lifetime,
        device_code=authorization.device_code,
        interval=authorization.interval,
        deadline=authorization.expires_at,
        next_poll_at=started_at + authorization.interval,
    )
    log.info(
        "OAC UI login started: Airflow user %r, connection %r, OAC %s, IAM %s",
        user,
        config.conn_id,
        config.oac_url,
        config.iam_url,
    )
    return StartedLogin(
        user_code=authorization.user_code,
        verification_uri=authorization.verification_uri,
        verification_uri_complete=authorization.verification_uri_complete,
        expires_at=authorization.expires_at,
        interval=authorization.interval,
        handle=seal(handle, fernet),
        warning=" ".join(config.warnings) or None,
    )


# --- poll ----------------------------------------------------------------------------------------


def poll_login(
    conn_id: str,
    sealed_handle: object,
    *,
    user: str,
    fernet: Fernet,
    now: Callable[[], float] = time.time,
) -> PollOutcome:
    """At most one IAM poll for the login in ``sealed_handle``; on approval, write the connection.

    A poll that comes before the handle's next poll time, or after the code's deadline, asks IAM
    nothing. Raises :class:`OACConfigError` for a handle that is not this user's, this
    connection's, or this deployment's.
    """
    # lazy: requests loads when a login starts, not with the API server
    import requests

    handle = unseal(sealed_handle, fernet, conn_id=check_conn_id(conn_id), user=user)
    current = now()
    if current >= handle.deadline:
        return _finished(handle, LoginState.EXPIRED, _EXPIRED)
    if current < handle.next_poll_at:
        # Early (a second tab, a fast client): IAM would answer slow_down, so do not ask it.
        return PollOutcome(
            LoginState.PENDING,
            "Waiting for approval.",
            handle=seal(handle, fernet),
            retry_in=handle.next_poll_at - current,
        )

    endpoints = IAMEndpoints.for_domain(handle.iam_url, token_url=handle.token_url)
    with requests.Session() as session:
        session.verify = handle.ca_bundle or True
        try:
            result = poll_once(
                session,
                endpoints,
                handle.client_id,
                handle.device_code,
                handle.poll_state(),
                now=now,
                refresh_token_lifetime=handle.refresh_token_lifetime,
                timeout=IAM_TIMEOUT,
            )
        except OACAccessDenied:
            return _finished(handle, LoginState.DENIED, _DENIED)
        except OACDeviceCodeExpired:
            return _finished(handle, LoginState.EXPIRED, _EXPIRED)
        except (OACTokenEndpointUnavailable, OACTransportError) as exc:
            # RFC 8628 §3.5: back off and keep polling; the code may still be approved.
            failures = handle.failures + 1
            delay = device_poll_backoff(handle.interval, failures, exc)
            polled_at = now()
            return PollOutcome(
                LoginState.PENDING,
                "Waiting for approval.",
                handle=seal(
                    handle.next_poll(handle.poll_state(), polled_at, delay=delay, failures=failures), fernet
                ),
                retry_in=delay,
                warning=f"IAM did not answer this time ({exc}); retrying in {delay:.0f} s. If this goes on, "
                f"{_NO_EGRESS}.",
            )
        except OACDeviceFlowError as exc:
            return _finished(handle, LoginState.FAILED, f"{exc}")
        except OACAuthError as exc:
            return _finished(handle, LoginState.FAILED, f"IAM refused the login ({exc}): start a new login.")

    if isinstance(result, Granted):
        return _save(handle, result)
    polled_at = now()
    following = handle.next_poll(result.state, polled_at)
    return PollOutcome(
        LoginState.PENDING,
        "Waiting for approval.",
        handle=seal(following, fernet),
        retry_in=result.state.interval,
        slowed_down=isinstance(result, SlowDown),
    )


_DENIED = (
    "The login was declined in the browser (access_denied): press Log in to get a new code, and approve "
    "it when asked."
)
_EXPIRED = "The code expired before it was approved: press Log in to get a new code and enter it within its lifetime."


def _save(handle: LoginHandle, granted: Granted) -> PollOutcome:
    result = save_login(
        NewLogin(
            handle.conn_id,
            oac_url=handle.oac_url,
            iam_url=handle.iam_url,
            client_id=handle.client_id,
            scope=handle.scope,
            tokens=granted.tokens,
            refresh_token_lifetime=handle.refresh_token_lifetime,
        )
    )
    who = result.subject or "an unknown user"
    log.info(
        "OAC UI login succeeded: Airflow user %r %s connection %r, logged in to %s as %s%s",
        handle.user,
        "created" if result.created else "updated",
        handle.conn_id,
        handle.oac_url,
        who,
        f"; WARNING: hidden by {result.shadowed_by}" if result.shadowed_by else "",
    )
    _audit(handle, "success", f"logged in to {handle.oac_url} as {who}")
    message = f"Logged in as {who} until {utc_minute(result.login_expires_at)}."
    return PollOutcome(LoginState.DONE, message, result=result)


def _finished(handle: LoginHandle, state: LoginState, message: str) -> PollOutcome:
    log.info(
        "OAC UI login %s: Airflow user %r, connection %r: %s",
        state.value,
        handle.user,
        handle.conn_id,
        message,
    )
    _audit(handle, state.value, message)
    return PollOutcome(state, message)


def _audit(handle: LoginHandle, outcome: str, detail: str) -> None:
    """A row in Airflow's audit log (Browse > Audit Log), next to the connection edits it records."""
    try:
        extra = json.dumps({"conn_id": handle.conn_id, "outcome": outcome, "detail": detail})
        with create_session() as session:
            session.add(Log(event="oac_ui_login", owner=handle.user, extra=extra))
    except Exception as exc:  # the audit row is a courtesy; the log line above is the record
        log.warning("Could not write the audit log row for the OAC UI login: %s", type(exc).__name__)


# --- status --------------------------------------------------------------------------------------


def list_oac_connections() -> list[str]:
    """Ids of the metadata database's OAC connections, for the page's picker."""
    with create_session() as session:
        rows = session.query(Connection.conn_id).filter(Connection.conn_type == CONN_TYPE).all()
        return sorted(row[0] for row in rows)


def connection_status(conn_id: str) -> ConnectionStatus | None:
    """What the page shows about an existing connection (no IAM call), or None if there is none."""
    conn_id = check_conn_id(conn_id)
    conn = existing_connection(conn_id)
    if conn is None:
        return None
    shadowed_by = shadowing_source(conn_id)
    try:
        extra: dict[str, Any] = parse_extra(conn.extra, conn_id)
    except OACConfigError:
        extra = {}
    raw = {
        "conn_id": conn_id,
        "conn_type": conn.conn_type,
        "oac_url": conn.host or None,
        "iam_url": extra.get("iam_url"),
        "client_id": conn.login or None,
        "scope": extra.get("scope"),
        "subject": extra.get("subject"),
        "refresh_token_lifetime": None,
        "shadowed_by": shadowed_by,
    }
    foreign = not_oac_problem(conn_id, conn.conn_type)
    if foreign is not None:
        return ConnectionStatus(
            **raw, logged_in=False, login_at=None, login_expires_at=None, problem=f"{foreign}."
        )
    try:
        config = connection_config(
            conn_id,
            host=conn.host,
            login=conn.login,
            password=conn.password,
            extra=conn.extra,
            conn_type=conn.conn_type,
            require_refresh_token=False,
        )
    except OACConfigError as exc:
        return ConnectionStatus(
            **raw, logged_in=False, login_at=None, login_expires_at=None, problem=str(exc)
        )
    return ConnectionStatus(
        **{**raw, "refresh_token_lifetime": config.refresh_token_lifetime, "subject": config.subject},
        logged_in=bool(config.refresh_token),
        login_at=config.login_at,
        login_expires_at=_login_expires_at(config) if config.refresh_token else None,
    )


def _login_expires_at(config: OACConnectionConfig) -> float | None:
    try:
        return TokenManager(config, VariableTokenStore(config.refresh_token)).login_expires_at()
    except Exception:  # the store is a refinement; the connection's own login time still answers
        if config.login_at is not None:
            return config.login_at + config.refresh_token_lifetime
        return None
