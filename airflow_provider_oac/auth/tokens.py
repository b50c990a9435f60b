"""The token model: what IAM returned, when it goes stale, who it belongs to.

Plain data, no I/O, no Airflow imports. Token values never appear in ``repr``.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

#: Refresh this many seconds before an access token expires. OAC's access tokens live 100 s, so
#: the margin must be small enough to leave most of that life usable, and large enough to cover a
#: request in flight plus clock skew between us and IAM.
ACCESS_TOKEN_REFRESH_MARGIN = 15.0

#: Access tokens shorter-lived than this use a quarter of their life as the margin instead.
_SHORT_LIFETIME = 4 * ACCESS_TOKEN_REFRESH_MARGIN

#: IAM's default refresh-token lifetime (``refreshTokenExpiry``, 7 days); it restarts at each refresh.
DEFAULT_REFRESH_TOKEN_LIFETIME = 7 * 24 * 3600.0


def decode_jwt_claims(token: str) -> dict[str, Any]:
    """The claims of a JWT, without verifying its signature (OAC verifies it; we only read ``exp``
    and ``sub``). Returns ``{}`` for anything that is not a readable JWT."""
    parts = token.split(".")
    if len(parts) != 3:
        return {}
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload.encode("ascii")))
    except (ValueError, UnicodeError):
        return {}
    return claims if isinstance(claims, dict) else {}


@dataclass(frozen=True, slots=True)
class TokenSet:
    """An access token, when it expires, and the refresh token that came with it."""

    access_token: str = field(repr=False)
    #: Epoch seconds.
    access_token_expires_at: float
    #: Epoch seconds when IAM issued the tokens (our clock).
    issued_at: float
    refresh_token: str | None = field(default=None, repr=False)
    #: Epoch seconds; estimated from the configured refresh-token lifetime (IAM does not say).
    refresh_token_expires_at: float | None = None
    #: The user behind the token (JWT ``sub``), when readable.
    subject: str | None = None

    def access_token_is_fresh(self, now: float, margin: float | None = None) -> bool:
        """True while the access token is usable for a request starting at ``now``."""
        return now < self.access_token_expires_at - self.refresh_margin(margin)

    def refresh_margin(self, margin: float | None = None) -> float:
        if margin is not None:
            return margin
        lifetime = self.access_token_expires_at - self.issued_at
        if lifetime < _SHORT_LIFETIME:
            return max(lifetime / 4, 0.0)
        return ACCESS_TOKEN_REFRESH_MARGIN


def access_token_expiry(access_token: str, expires_in: object, issued_at: float) -> float:
    """When an access token expires: ``expires_in`` when IAM sent a number, else the JWT ``exp``,
    else a conservative 60 seconds."""
    if isinstance(expires_in, (int, float)) and not isinstance(expires_in, bool) and expires_in > 0:
        return issued_at + float(expires_in)
    if isinstance(expires_in, str) and expires_in.strip().isdigit():
        return issued_at + float(expires_in.strip())
    exp = decode_jwt_claims(access_token).get("exp")
    if isinstance(exp, (int, float)) and not isinstance(exp, bool):
        return float(exp)
    return issued_at + 60.0
