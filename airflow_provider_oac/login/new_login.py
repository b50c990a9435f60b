"""A device login that succeeded, and what it puts in the connection.

:class:`NewLogin` is the same for every writer (:mod:`.writers`): the metadata database, Airflow's
REST API, or printed for a secrets backend. A new login supersedes every refresh token stored for
an earlier one: the connection gets the new token (so its ``login_key`` changes), and the writers
delete the old logins' records but keep the new login's own (a task may have refreshed with it
between the connection write and the clean-up; its record then holds the only valid token).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from airflow_provider_oac.auth.tokens import TokenSet
from airflow_provider_oac.errors import OACAuthError
from airflow_provider_oac.hooks.config import KNOWN_EXTRAS, login_key

if TYPE_CHECKING:
    from airflow_provider_oac.hooks.config import OACConnectionConfig

#: The description a login gives a connection that has none.
DEFAULT_DESCRIPTION = "Oracle Analytics Cloud (written by airflow-oac login)"


def utc_minute(epoch: float) -> str:
    """How the CLI and the UI page show a login's times: ``2026-12-02 20:10 UTC``."""
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(epoch))


@dataclass(frozen=True, slots=True)
class LoginResult:
    """What a writer did with a :class:`NewLogin`."""

    conn_id: str
    oac_url: str
    subject: str | None
    login_at: float
    login_expires_at: float
    created: bool
    #: Where else a connection of that id is defined (it would hide the one written here).
    shadowed_by: str | None = None
    forgotten_records: int = 0
    extra: dict[str, Any] = field(default_factory=dict, repr=False)
    #: Why old token-store records could not be deleted (REST API writer only), else None.
    cleanup_error: str | None = None


@dataclass(frozen=True, slots=True)
class NewLogin:
    """A device login that succeeded, and what it puts in the connection: the same for every
    writer (the metadata database, Airflow's REST API, printed for a secrets backend)."""

    conn_id: str
    oac_url: str
    iam_url: str
    client_id: str
    scope: str
    tokens: TokenSet = field(repr=False)
    refresh_token_lifetime: float
    extra_updates: dict[str, Any] = field(default_factory=dict)
    at: float = field(default_factory=time.time)

    def __post_init__(self) -> None:
        if not self.tokens.refresh_token:
            raise OACAuthError(
                "IAM returned no refresh token: add offline_access to the scope and allow the Refresh Token "
                "grant on the IAM app (and 'Allow token refresh' on the OAC resource app)."
            )

    @classmethod
    def of(
        cls, config: OACConnectionConfig, tokens: TokenSet, extra_updates: dict[str, Any] | None = None
    ) -> NewLogin:
        """The login of ``config`` (the settings it was run with) that IAM granted ``tokens``."""
        return cls(
            config.conn_id,
            config.oac_url,
            config.iam_url,
            config.client_id,
            config.scope,
            tokens,
            config.refresh_token_lifetime,
            dict(extra_updates or {}),
        )

    @property
    def refresh_token(self) -> str:
        assert self.tokens.refresh_token  # checked in __post_init__
        return self.tokens.refresh_token

    @property
    def login_key(self) -> str:
        """The key this login's records are stored under: the one a login must not forget."""
        return login_key(self.conn_id, self.refresh_token)

    def connection_extra(self, previous: dict[str, Any] | None = None) -> dict[str, Any]:
        """The connection's Extra: the known fields of ``previous`` kept, the flags given applied,
        then ``iam_url``, ``scope``, ``login_at`` and ``subject`` of this login."""
        extra = {k: v for k, v in (previous or {}).items() if k in KNOWN_EXTRAS}
        extra.update({k: v for k, v in self.extra_updates.items() if v is not None})
        extra.update(
            {
                "iam_url": self.iam_url,
                "scope": self.scope,
                "login_at": datetime.fromtimestamp(self.at, timezone.utc).isoformat(timespec="seconds"),
                "subject": self.tokens.subject,
            }
        )
        return {k: v for k, v in extra.items() if v is not None}

    def result(self, *, created: bool, extra: dict[str, Any], **details: Any) -> LoginResult:
        return LoginResult(
            conn_id=self.conn_id,
            oac_url=self.oac_url,
            subject=self.tokens.subject,
            login_at=self.at,
            login_expires_at=self.at + self.refresh_token_lifetime,
            created=created,
            extra=extra,
            **details,
        )
