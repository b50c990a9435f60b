"""What a login is for: the connection it replaces, and the settings completed from it.

``airflow-oac login`` (flags) and the UI page (a form) both take what the person gave, fill what
was left out from the existing connection of that id, and check the whole before any network
call (:func:`complete_settings`). A connection of another type is refused rather than overwritten
(:func:`require_oac_connection`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airflow_provider_oac.errors import OACConfigError
from airflow_provider_oac.hooks.config import CONN_TYPE, OACConnectionConfig, connection_config, parse_extra

if TYPE_CHECKING:
    from airflow_provider_oac.login.airflow_api import AirflowAPI

#: What Airflow's API shows instead of a secret-looking value.
MASKED = "***"
#: Extras of the previous login, never carried over to the next one.
_LOGIN_EXTRAS = ("login_at", "subject")


@dataclass(frozen=True, slots=True)
class ExistingConnection:
    """What a login reads from the connection it replaces (never its password)."""

    conn_type: str | None
    host: str | None
    login: str | None
    extra: dict[str, Any] = field(default_factory=dict)

    def known_extra(self) -> dict[str, Any]:
        """Extras usable as defaults: those the API masked (``***``) are not known here."""
        return {k: v for k, v in self.extra.items() if v != MASKED}

    @classmethod
    def from_orm(cls, conn: Any, conn_id: str) -> ExistingConnection | None:
        """From an ``airflow.models.Connection`` (or None)."""
        if conn is None:
            return None
        return cls._of(conn_id, conn.conn_type, conn.host, conn.login, conn.extra)

    @classmethod
    def from_api(cls, api: AirflowAPI, conn_id: str) -> ExistingConnection | None:
        """As Airflow's REST API shows it (secret-looking extras as ``***``), or None."""
        found = api.get_connection(conn_id)
        if found is None:
            return None
        return cls._of(
            conn_id, found.get("conn_type"), found.get("host"), found.get("login"), found.get("extra")
        )

    @classmethod
    def _of(
        cls, conn_id: str, conn_type: str | None, host: str | None, login: str | None, extra: Any
    ) -> ExistingConnection:
        # Another type's extras are never read: the login refuses that connection, saying why.
        parsed = parse_extra(extra, conn_id) if not_oac_problem(conn_id, conn_type) is None else {}
        return cls(conn_type=conn_type, host=host, login=login, extra=parsed)


def not_oac_problem(conn_id: str, conn_type: str | None) -> str | None:
    """Why a connection of type ``conn_type`` is not one a login may use (None: it may)."""
    if conn_type in (None, "", CONN_TYPE):
        return None
    return f"Connection {conn_id!r} is a {conn_type!r} connection, not an OAC one"


def require_oac_connection(
    conn_id: str, existing: ExistingConnection | None, *, fix: str = "pick another connection id"
) -> None:
    """Refuse to overwrite a connection of another type: :class:`OACConfigError` naming ``fix``."""
    problem = not_oac_problem(conn_id, existing.conn_type if existing is not None else None)
    if problem is not None:
        raise OACConfigError(f"{problem}: {fix}.")


def complete_settings(
    conn_id: str,
    existing: ExistingConnection | None,
    *,
    oac_url: str | None = None,
    iam_url: str | None = None,
    client_id: str | None = None,
    scope: str | None = None,
    extra_updates: dict[str, Any] | None = None,
    fix: str = "pick another connection id",
) -> OACConnectionConfig:
    """The settings of a login: what was given (None: not given) completed from ``existing`` and
    checked, before any network call; :class:`OACConfigError` names the field to fix.

    ``extra_updates`` are extras given for this login (e.g. ``bucket``); they win over the existing
    ones. The previous login's ``login_at`` and ``subject`` are dropped. A connection of another
    type is refused (``fix`` says what to do).
    """
    require_oac_connection(conn_id, existing, fix=fix)
    previous = existing.known_extra() if existing is not None else {}
    return connection_config(
        conn_id,
        host=oac_url if oac_url is not None else getattr(existing, "host", None),
        login=client_id if client_id is not None else getattr(existing, "login", None),
        password=None,
        extra={
            **{k: v for k, v in previous.items() if k not in _LOGIN_EXTRAS},
            "iam_url": iam_url if iam_url is not None else previous.get("iam_url"),
            "scope": scope if scope is not None else previous.get("scope"),
            **(extra_updates or {}),
        },
        require_refresh_token=False,
    )
