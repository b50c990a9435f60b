"""OCI IAM login for OAC: RFC 8628 device login, refresh, revocation, the token model.

No Airflow imports. The protocol (``protocol``) and the token model (``tokens``) are plain data
and import nothing heavy; the HTTP drivers (``flows``) load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_oac.auth.protocol import (
    DEFAULT_POLL_INTERVAL,
    DeviceAuthorization,
    Granted,
    IAMEndpoints,
    Pending,
    PollResult,
    PollState,
    SlowDown,
    device_authorization_request,
    device_poll_delay,
    device_token_request,
    read_device_authorization,
    read_device_poll,
    read_revoke_response,
    read_token_response,
    refresh_failure,
    refresh_flow,
    refresh_request,
    revoke_request,
    token_endpoint_backoff,
)
from airflow_provider_oac.auth.tokens import DEFAULT_REFRESH_TOKEN_LIFETIME, TokenSet, decode_jwt_claims

if TYPE_CHECKING:
    from airflow_provider_oac.auth.flows import (
        poll_device_login,
        poll_once,
        refresh_tokens,
        revoke_refresh_token,
        start_device_login,
    )

_FLOWS = frozenset(
    {
        "poll_device_login",
        "poll_once",
        "refresh_tokens",
        "revoke_refresh_token",
        "start_device_login",
    }
)


def __getattr__(name: str) -> Any:
    if name in _FLOWS:
        # lazy: the HTTP drivers load on first use (module docstring)
        from airflow_provider_oac.auth import flows

        return getattr(flows, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DEFAULT_POLL_INTERVAL",
    "DEFAULT_REFRESH_TOKEN_LIFETIME",
    "DeviceAuthorization",
    "Granted",
    "IAMEndpoints",
    "Pending",
    "PollResult",
    "PollState",
    "SlowDown",
    "TokenSet",
    "decode_jwt_claims",
    "device_authorization_request",
    "device_poll_delay",
    "device_token_request",
    "poll_device_login",
    "poll_once",
    "read_device_authorization",
    "read_device_poll",
    "read_revoke_response",
    "read_token_response",
    "refresh_failure",
    "refresh_flow",
    "refresh_request",
    "refresh_tokens",
    "revoke_refresh_token",
    "revoke_request",
    "start_device_login",
    "token_endpoint_backoff",
]
