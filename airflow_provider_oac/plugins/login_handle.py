"""The sealed handle that carries a UI device login from one poll to the next.

The Airflow UI page polls through the API server, and any worker or replica may answer a poll, so
the server keeps no state: everything a poll needs (the device code, where to send it, the poll
interval, whose login it is) travels in a handle that the server encrypts and authenticates with
Airflow's Fernet key (``[core] fernet_key``, shared by every API server). The browser cannot read
the device code or change a field; a handle is bound to one connection and one Airflow user.

Plain data and cryptography only: no Airflow or web imports.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from typing import Protocol

from airflow_provider_oac.auth.protocol import PollState
from airflow_provider_oac.errors import OACConfigError

#: Names this kind of sealed value, so no other Fernet-encrypted Airflow value passes as a handle.
HANDLE_PURPOSE = "airflow-provider-oac/ui-login/1"
#: A handle older than this is refused whatever it says (device codes live minutes, not hours).
MAX_HANDLE_AGE = 3600

_RESTART = "start a new login on the page"


class Fernet(Protocol):
    """What Airflow's ``airflow.models.crypto.get_fernet()`` returns."""

    is_encrypted: bool

    def encrypt(self, msg: bytes) -> bytes: ...

    def decrypt(self, msg: bytes | str, ttl: int | None = None) -> bytes: ...


@dataclass(frozen=True, slots=True)
class LoginHandle:
    """One device login in progress, as the server needs it at the next poll."""

    conn_id: str
    #: The Airflow user who started the login; only that user may poll it.
    user: str
    oac_url: str
    iam_url: str
    client_id: str
    scope: str
    token_url: str
    ca_bundle: str | None
    refresh_token_lifetime: float
    device_code: str = field(repr=False)
    #: Seconds between polls; grows by 5 s on ``slow_down`` and never shrinks.
    interval: float
    #: Epoch seconds when the device code dies.
    deadline: float
    #: Epoch seconds before which the server will not ask IAM again.
    next_poll_at: float
    #: Consecutive polls IAM did not answer (for backoff).
    failures: int = 0

    def poll_state(self) -> PollState:
        return PollState(interval=self.interval, deadline=self.deadline)

    def next_poll(
        self, state: PollState, now: float, *, delay: float | None = None, failures: int = 0
    ) -> LoginHandle:
        """The handle for the poll after this one: ``delay`` seconds from ``now`` (default: the
        interval of ``state``)."""
        wait = state.interval if delay is None else delay
        return replace(self, interval=state.interval, next_poll_at=now + wait, failures=failures)


def require_encryption(fernet: Fernet) -> None:
    """Refuse to work without a Fernet key: the device code would travel readable."""
    if not getattr(fernet, "is_encrypted", False):
        raise OACConfigError(
            "The Airflow API server has no [core] fernet_key, so the login page cannot protect the device "
            "code (and connections are stored unencrypted): set AIRFLOW__CORE__FERNET_KEY on every Airflow "
            "component, or log in with airflow-oac login."
        )


def seal(handle: LoginHandle, fernet: Fernet) -> str:
    """The handle, encrypted and authenticated, as URL-safe text for the browser."""
    require_encryption(fernet)
    payload = {"purpose": HANDLE_PURPOSE, **asdict(handle)}
    return fernet.encrypt(json.dumps(payload, separators=(",", ":")).encode()).decode("ascii")


def unseal(sealed: object, fernet: Fernet, *, conn_id: str, user: str) -> LoginHandle:
    """The handle in ``sealed``, checked: made by this deployment's key, for ``conn_id`` and
    ``user``, not older than :data:`MAX_HANDLE_AGE`. Raises :class:`OACConfigError` otherwise."""
    require_encryption(fernet)
    if not isinstance(sealed, str) or not sealed or len(sealed) > 16384:
        raise OACConfigError(f"The login handle is missing or malformed: {_RESTART}.")
    try:
        payload = json.loads(fernet.decrypt(sealed.encode("ascii"), ttl=MAX_HANDLE_AGE))
    except Exception:
        # InvalidToken covers tampering, another key and old age alike; say all three.
        raise OACConfigError(
            f"The login handle is invalid, too old, or was made with another Fernet key: {_RESTART}."
        ) from None
    if not isinstance(payload, dict) or payload.pop("purpose", None) != HANDLE_PURPOSE:
        raise OACConfigError(f"The login handle is not an OAC login handle: {_RESTART}.")
    try:
        handle = LoginHandle(**payload)
    except TypeError:
        raise OACConfigError(
            f"The login handle is from another version of the provider: {_RESTART}."
        ) from None
    if handle.conn_id != conn_id:
        raise OACConfigError(
            f"The login handle belongs to connection {handle.conn_id!r}, not {conn_id!r}: {_RESTART}."
        )
    if handle.user != user:
        raise OACConfigError(f"The login was started by another Airflow user: {_RESTART}.")
    return handle
