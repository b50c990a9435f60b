"""Local checks of user input, run before any network call.

Each function returns the cleaned value or raises :class:`OACConfigError` with one line that
names the field and the fix. No Airflow imports.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

from airflow_provider_oac.errors import OACConfigError

OAC_RESOURCE_SCOPE = "urn:opc:resource:consumer::all"
OFFLINE_ACCESS = "offline_access"

_LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}
_MAX_TEXT = 4096


def is_loopback_host(host: str) -> bool:
    host = host.strip("[]").lower()
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def require_text(value: object, field: str, fix: str, *, max_length: int = _MAX_TEXT) -> str:
    """A non-empty single-line string without surrounding spaces."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise OACConfigError(f"{field} is empty: {fix}")
    if not isinstance(value, str):
        raise OACConfigError(f"{field} must be text, not {type(value).__name__}: {fix}")
    if value != value.strip():
        raise OACConfigError(f"{field} has leading or trailing spaces: remove them.")
    if any(ch in value for ch in "\r\n\t\x00"):
        raise OACConfigError(f"{field} contains a line break, tab or NUL character: {fix}")
    if len(value) > max_length:
        raise OACConfigError(f"{field} is {len(value)} characters long (at most {max_length}): {fix}")
    return value


def validate_service_url(value: object, field: str, example: str) -> str:
    """An ``https://`` base URL (``http://`` only for loopback), without a trailing slash.

    ``field`` is how the user knows the setting (``"--oac-url"``, ``"the connection's Host"``).
    """
    fix = f"give a URL like {example}"
    text = require_text(value, field, fix, max_length=2048)
    if "://" not in text:
        raise OACConfigError(f"{field} {text!r} has no scheme: {fix}")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise OACConfigError(f"{field} {text!r} is not a valid URL ({exc}): {fix}") from None
    scheme = parts.scheme.lower()
    host = parts.hostname or ""
    if scheme not in ("https", "http"):
        raise OACConfigError(f"{field} must start with https:// (got {scheme}://): {fix}")
    if not host:
        raise OACConfigError(f"{field} {text!r} has no host name: {fix}")
    if not host.isascii():
        raise OACConfigError(
            f"{field} host {host!r} has non-ASCII characters: use the punycode (xn--) form or {example}"
        )
    if scheme == "http" and not is_loopback_host(host):
        raise OACConfigError(
            f"{field} uses plain http:// for {host}: use https:// (http is allowed only for "
            "127.0.0.1, ::1 and localhost)."
        )
    if parts.username or parts.password:
        raise OACConfigError(f"{field} must not contain a user name or password: {fix}")
    if parts.query or parts.fragment:
        raise OACConfigError(f"{field} must not have a query (?...) or fragment (#...): {fix}")
    if port == 0:
        raise OACConfigError(f"{field} has port 0: {fix}")
    path = parts.path.rstrip("/")
    netloc = parts.netloc.lower()
    return f"{scheme}://{netloc}{path}"


def validate_oac_url(value: object, field: str = "OAC URL") -> str:
    url = validate_service_url(value, field, "https://myoac-abcd-ia.analytics.ocp.oraclecloud.com")
    if "/api/" in url + "/":
        raise OACConfigError(
            f"{field} {url!r} includes an API path: give only the instance URL, without /api/20210901."
        )
    if url.rstrip("/").endswith("/ui") or "/dv" in urlsplit(url).path:
        raise OACConfigError(f"{field} {url!r} is a UI page: give only the instance URL (scheme and host).")
    return url


def validate_iam_url(value: object, field: str = "IAM URL") -> str:
    url = validate_service_url(value, field, "https://idcs-0123456789abcdef.identity.oraclecloud.com")
    if "/oauth2/" in url + "/":
        raise OACConfigError(
            f"{field} {url!r} includes an OAuth path: give only the identity domain URL "
            "(the endpoints /oauth2/v1/device and /oauth2/v1/token are added)."
        )
    return url


_CLIENT_ID_FIX = "copy the Client ID from the IAM application's OAuth configuration"
_USUAL_CLIENT_ID = re.compile(r"[A-Za-z0-9._:@-]+")


def validate_client_id(value: object, field: str = "client id") -> str:
    """The IAM client id as one line of text. Which characters IAM allows is not documented, so
    an unusual one is not refused here (:func:`client_id_warning` says so; IAM decides)."""
    return require_text(value, field, _CLIENT_ID_FIX, max_length=256)


def client_id_warning(client_id: str, field: str = "client id") -> str | None:
    """One line when ``client_id`` has characters IAM client ids are not seen with, else None."""
    if _USUAL_CLIENT_ID.fullmatch(client_id):
        return None
    return (
        f"{field} {client_id!r} has characters IAM client ids are not seen with (they are usually "
        f"letters and digits): {_CLIENT_ID_FIX}."
    )


#: Where a user finds the OAC app's primary audience, and how IAM builds the scope from it.
SCOPE_HINT = (
    "the scope is the OAC app's primary audience exactly as IAM stores it (a trailing slash or port "
    f"included), followed directly by {OAC_RESOURCE_SCOPE} and then {OFFLINE_ACCESS}; the primary "
    "audience is on the OAC application in the identity domain (Oracle Cloud Services > your OAC "
    "instance app > Configuration > Resources)"
)


def validate_scope(value: object, field: str = "scope") -> str:
    """The OAC scope: ``<primary audience>urn:opc:resource:consumer::all`` (+ ``offline_access``).

    Refuses only a scope that does not name the OAC resource at all. IAM joins the audience and
    the resource exactly as the audience is stored, so an audience that ends with a slash or a
    port is accepted (:func:`scope_warning` says when the scope looks like a typo). ``offline_access``
    is added when missing, since refresh tokens need it.
    """
    where = f"{SCOPE_HINT}, e.g. https://abc123...analytics.ocp.oraclecloud.com{OAC_RESOURCE_SCOPE}"
    text = require_text(value, field, where, max_length=2048)
    parts = text.split()
    if not any(p.endswith(OAC_RESOURCE_SCOPE) for p in parts):
        raise OACConfigError(f"{field} {text!r} does not name the OAC resource: {where}")
    if OFFLINE_ACCESS not in parts:
        parts.append(OFFLINE_ACCESS)
    return " ".join(parts)


def scope_warning(scope: str, field: str = "scope") -> str | None:
    """One line saying what looks off in an accepted ``scope`` and what is usual, or None.

    Every OAC example has the audience and the resource joined with nothing between them and no
    port; other Oracle services have audiences ending in ``/`` or ``:443``, and IAM joins whatever
    the audience holds, so none of this is refused: the user may be right.
    """
    resource = next((p for p in scope.split() if p.endswith(OAC_RESOURCE_SCOPE)), None)
    if resource is None:
        return None
    audience = resource[: -len(OAC_RESOURCE_SCOPE)]
    usual = (
        f"OAC's are usually https://<32 letters and digits>.analytics.ocp.oraclecloud.com{OAC_RESOURCE_SCOPE}"
    )
    keep = "keep it only if the OAC app's primary audience in IAM is stored exactly so"
    if not audience:
        return (
            f"{field} has no primary audience before {OAC_RESOURCE_SCOPE} (IAM accepting the bare resource "
            f"for OAC is unconfirmed); {usual}."
        )
    if audience.endswith("/"):
        return f"{field} has a slash before {OAC_RESOURCE_SCOPE}; {usual}, with no slash: {keep}."
    if not audience.lower().startswith("https://"):
        return f"{field}'s primary audience {audience!r} does not start with https://; {usual}: {keep}."
    return None


_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,255}")


def validate_resource_id(value: object, field: str) -> str:
    """A snapshot or work request id: used as one path segment, so no slashes or spaces."""
    text = require_text(value, field, f"give the {field} as OAC returned it", max_length=256)
    if not _ID_RE.fullmatch(text):
        raise OACConfigError(
            f"{field} {text!r} is not an OAC id (letters, digits, '-', '_', '.', ':' only): give the "
            f"{field} as OAC returned it."
        )
    return text


def validate_snapshot_name(value: object, field: str = "snapshot name") -> str:
    return require_text(value, field, "give a snapshot name such as nightly-2026-01-31", max_length=255)


_BAR_URI_EXAMPLE = "file:///nightly.bar"


def validate_bar_uri(value: object, field: str = "BAR URI") -> str:
    """A BAR file URI as one line of text. OAC documents ``file:///<object name>``; which other
    forms it takes is unconfirmed, so they are passed on (OAC decides) and
    :func:`bar_uri_warning` says so."""
    return require_text(value, field, f"give the BAR object's URI, e.g. {_BAR_URI_EXAMPLE}", max_length=1024)


def bar_uri_warning(uri: str, field: str = "BAR URI") -> str | None:
    """One line when ``uri`` is not of the documented ``file:///<object name>`` form, else None."""
    if uri.startswith("file:///") and len(uri) > len("file:///") and not any(ch.isspace() for ch in uri):
        return None
    return (
        f"{field} {uri!r} is not of the form OAC documents, file:///<object name in the bucket> (e.g. "
        f"{_BAR_URI_EXAMPLE}); sent as given, and OAC decides."
    )


def validate_password(value: object, field: str = "snapshot password") -> str:
    """A snapshot (BAR) password as text. The value is never echoed in the message.

    Only what cannot be meant is refused (empty, not text, a line break, surrounding spaces, over
    256 characters). For a new snapshot's password use :func:`validate_new_snapshot_password`.
    """
    if value is None or (isinstance(value, str) and value == ""):
        raise OACConfigError(f"{field} is empty: pass the password that protects the snapshot's BAR file.")
    if not isinstance(value, str):
        raise OACConfigError(f"{field} must be text, not {type(value).__name__}.")
    if value != value.strip():
        raise OACConfigError(f"{field} has leading or trailing spaces: remove them.")
    if any(ch in value for ch in "\r\n\x00"):
        raise OACConfigError(f"{field} contains a line break or NUL character.")
    if len(value) > 256:
        raise OACConfigError(f"{field} is longer than 256 characters.")
    return value


#: Oracle's rule for snapshot passwords since March 2025 (OAC What's New).
SNAPSHOT_PASSWORD_RULE = (
    "14 to 50 characters with at least one number, one uppercase letter, one lowercase letter and one "
    "special character"
)


def snapshot_password_problem(password: str) -> str | None:
    """What ``password`` lacks under :data:`SNAPSHOT_PASSWORD_RULE` (never the value), or None.

    Letters and digits are ASCII; any other character counts as special (which ones OAC counts is
    unconfirmed, so this reading is the lenient one)."""
    missing = []
    if not 14 <= len(password) <= 50:
        missing.append("14 to 50 characters")
    for label, test in (
        ("a number", lambda ch: "0" <= ch <= "9"),
        ("an uppercase letter", lambda ch: "A" <= ch <= "Z"),
        ("a lowercase letter", lambda ch: "a" <= ch <= "z"),
        ("a special character", lambda ch: not (ch.isascii() and ch.isalnum())),
    ):
        if not any(test(ch) for ch in password):
            missing.append(label)
    return ", ".join(missing) if missing else None


def validate_new_snapshot_password(value: object, field: str = "snapshot password") -> str:
    """The password of a snapshot about to be created: Oracle requires :data:`SNAPSHOT_PASSWORD_RULE`.

    The message states the rule and what is missing, never the value."""
    password = validate_password(value, field)
    problem = snapshot_password_problem(password)
    if problem is not None:
        raise OACConfigError(
            f"{field} does not meet Oracle's snapshot password rule ({SNAPSHOT_PASSWORD_RULE}); it lacks "
            f"{problem}: choose a stronger password."
        )
    return password


def existing_password_warning(password: str, field: str = "snapshot password") -> str | None:
    """A one-line warning when the password of an existing BAR (restore, register) breaks today's
    rule. Not refused: a BAR made before March 2025 keeps its older, weaker password, and whether
    OAC applies the rule to it is unconfirmed."""
    problem = snapshot_password_problem(password)
    if problem is None:
        return None
    return (
        f"{field} does not meet Oracle's snapshot password rule ({SNAPSHOT_PASSWORD_RULE}; it lacks "
        f"{problem}); sent anyway, since a snapshot made before March 2025 may have an older password: "
        "if OAC refuses it, check the password."
    )


def validate_positive_number(value: object, field: str, *, allow_zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise OACConfigError(f"{field} must be a number of seconds, not {type(value).__name__}.")
    if value != value or value in (float("inf"), float("-inf")):
        raise OACConfigError(f"{field} must be a finite number of seconds.")
    if value < 0 or (value == 0 and not allow_zero):
        raise OACConfigError(f"{field} must be greater than 0 (got {value}).")
    return float(value)


def version_key(version: str) -> tuple[int, ...] | None:
    """``"2026.11.0"`` as ``(2026, 11)`` for comparison (trailing zeros dropped); None when not
    dotted numbers (OAC's version format is unconfirmed). The copy's version check and the
    emulator's both use it."""
    parts = version.strip().split(".") if isinstance(version, str) else []
    if not parts or not all(part.isdigit() for part in parts):
        return None
    numbers = [int(part) for part in parts]
    while len(numbers) > 1 and numbers[-1] == 0:
        numbers.pop()
    return tuple(numbers)
