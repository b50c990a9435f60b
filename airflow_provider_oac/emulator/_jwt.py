"""The little of JWT the emulator needs: HS256 sign and verify with its own random key.

IAM signs with RS256; clients never verify the signature (OAC does), so HS256 with a per-emulator
secret is enough to make forged or foreign tokens fail while keeping the token readable.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

_HEADER = {"alg": "HS256", "typ": "JWT", "kid": "SIGNING_KEY"}


class InvalidToken(Exception):
    """The text is not a JWT signed by this emulator. The message never contains the token."""


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _json_part(obj: dict[str, Any]) -> str:
    return _b64encode(json.dumps(obj, separators=(",", ":"), sort_keys=True).encode("utf-8"))


def encode(claims: dict[str, Any], key: bytes) -> str:
    signing_input = f"{_json_part(_HEADER)}.{_json_part(claims)}"
    signature = hmac.new(key, signing_input.encode("ascii"), hashlib.sha256).digest()
    return f"{signing_input}.{_b64encode(signature)}"


def verify(token: str, key: bytes) -> dict[str, Any]:
    """The claims of ``token`` if this emulator signed it; :class:`InvalidToken` otherwise.

    Only the signature and the shape are checked here; expiry and audience are the caller's.
    """
    parts = token.split(".")
    if len(parts) != 3:
        raise InvalidToken("not a JWT")
    header_part, claims_part, signature_part = parts
    try:
        header = json.loads(_b64decode(header_part))
        claims = json.loads(_b64decode(claims_part))
        signature = _b64decode(signature_part)
    except (ValueError, UnicodeError):
        raise InvalidToken("not a readable JWT") from None
    if not isinstance(header, dict) or header.get("alg") != "HS256":
        raise InvalidToken("unexpected signing algorithm")
    expected = hmac.new(key, f"{header_part}.{claims_part}".encode("ascii"), hashlib.sha256).digest()
    if not hmac.compare_digest(expected, signature):
        raise InvalidToken("bad signature")
    if not isinstance(claims, dict):
        raise InvalidToken("claims are not an object")
    return claims
