"""What the emulator pretends to be: client id, audience, lifetimes, and the OAC behaviours that
the reference leaves unconfirmed (where work-request ids come back, refresh-token rotation, ...).

No third-party imports: tests and the CLI build configs without loading FastAPI.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from airflow_provider_oac.validation import version_key

#: The public ("Mobile Application") client registered in the emulated identity domain.
DEFAULT_CLIENT_ID = "oac-emulator-client"
#: The OAC app's primary audience. Deliberately not the OAC URL: in IAM they differ, and a client
#: that builds the scope from the instance URL must fail here as it would against Oracle.
DEFAULT_AUDIENCE = "https://emulator0audience00000000000000000.analytics.ocp.oraclecloud.com"
DEFAULT_USERNAME = "data.engineer@example.com"
OAC_RESOURCE_SCOPE = "urn:opc:resource:consumer::all"
OFFLINE_ACCESS = "offline_access"
#: Where an instance's buckets are when a snapshot's storage names no region or namespace.
DEFAULT_REGION = "emulator-region-1"
DEFAULT_NAMESPACE = "emulatorns"
#: The OAC version an emulated instance runs. OAC's version scheme in ``GET /system`` is
#: unconfirmed: the emulator uses dotted numbers and compares them number by number.
DEFAULT_OAC_VERSION = "2026.11.0"


@dataclass(frozen=True, slots=True)
class EmulatorConfig:
    """Settings of one emulator. Change them at runtime with ``EmulatorControl.configure(**fields)``."""

    client_id: str = DEFAULT_CLIENT_ID
    audience: str = DEFAULT_AUDIENCE
    username: str = DEFAULT_USERNAME
    #: Seconds. OAC's own default is 100.
    access_token_ttl: float = 100.0
    #: Seconds; restarts at every refresh (sliding), as IAM documents.
    refresh_token_ttl: float = 604800.0
    device_code_ttl: float = 300.0
    #: ``interval`` in the device response; None leaves it out, as IAM does (clients then use 5 s).
    device_interval: int | None = None
    include_verification_uri_complete: bool = False
    #: Polling sooner than the current interval answers ``slow_down`` and adds 5 s to it.
    enforce_poll_interval: bool = True
    #: Device codes are approved as soon as they are issued (demos, non-interactive tests).
    auto_approve: bool = False
    #: Each refresh spends the presented refresh token and returns a new one.
    rotate_refresh_tokens: bool = True
    return_refresh_token_on_refresh: bool = True
    #: Presenting a spent refresh token revokes the whole login (RFC 9700 §4.14.2).
    reuse_detection: bool = False
    #: Seconds from ACCEPTED to SUCCEEDED (or FAILED), in emulator time.
    work_request_seconds: float = 3.0
    create_work_request_in_body: bool = True
    create_work_request_in_header: bool = False
    restore_work_request_in_header: bool = True
    restore_work_request_in_body: bool = False
    #: The reference renders ``Errors`` with a capital E; set ``"errors"`` to test tolerance.
    work_request_errors_key: str = "Errors"
    #: CREATE refuses a BAR password that breaks Oracle's rule (14-50 characters, a number, an
    #: uppercase and a lowercase letter, a special character) with 400, as OAC does since March
    #: 2025 (OAC's exact message is unconfirmed).
    enforce_snapshot_password_rule: bool = True
    #: The instance's name (in ``GET /system``, its content and the request log).
    instance_name: str = "oac"
    #: The region and Object Storage namespace of the instance's own buckets.
    region: str = DEFAULT_REGION
    namespace: str = DEFAULT_NAMESPACE
    #: The OAC version of this instance. A snapshot's BAR carries the version it was made on; a
    #: REGISTER or restore of a BAR from a later version fails, as Oracle documents (a snapshot
    #: restores only on the same or a later version; OAC's exact error text is unconfirmed).
    oac_version: str = DEFAULT_OAC_VERSION
    #: ``GET /system`` names the version (as ``version``; the real field is unconfirmed). False:
    #: it leaves it out, as a client must tolerate.
    system_reports_version: bool = True
    #: Log one ``METHOD path -> status`` line per request (never headers, query strings or bodies).
    log_requests: bool = False

    def __post_init__(self) -> None:
        for item in dataclasses.fields(self):
            _check(item.name, getattr(self, item.name))

    @property
    def scope(self) -> str:
        """The scope a client must request: ``<audience>urn:opc:resource:consumer::all offline_access``."""
        return f"{self.audience}{OAC_RESOURCE_SCOPE} {OFFLINE_ACCESS}"

    @property
    def resource_scope(self) -> str:
        """The scope without ``offline_access`` (no refresh token is issued for it)."""
        return f"{self.audience}{OAC_RESOURCE_SCOPE}"

    def to_dict(self) -> dict[str, Any]:
        return {item.name: getattr(self, item.name) for item in dataclasses.fields(self)}

    def with_changes(self, **changes: Any) -> EmulatorConfig:
        """A copy with ``changes`` applied; ``ValueError`` naming the field for an unknown field or
        a value of the wrong type."""
        known = {item.name for item in dataclasses.fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ValueError(f"unknown emulator setting(s): {', '.join(unknown)}")
        coerced = {name: _coerce(name, value) for name, value in changes.items()}
        return dataclasses.replace(self, **coerced)


_STRINGS = {
    "client_id",
    "audience",
    "username",
    "work_request_errors_key",
    "instance_name",
    "region",
    "namespace",
}
_POSITIVE_SECONDS = {"access_token_ttl", "refresh_token_ttl", "device_code_ttl"}
_SECONDS = {"work_request_seconds"}


def _coerce(name: str, value: Any) -> Any:
    # JSON has no float/int distinction: 3 means 3.0 for a float setting.
    if (
        (name in _POSITIVE_SECONDS or name in _SECONDS)
        and isinstance(value, int)
        and not isinstance(value, bool)
    ):
        return float(value)
    return value


def _check(name: str, value: Any) -> None:
    if name in _STRINGS:
        if not isinstance(value, str) or not value:
            raise ValueError(f"{name} must be non-empty text")
    elif name in _POSITIVE_SECONDS or name in _SECONDS:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"{name} must be a number of seconds")
        if value < 0 or (name in _POSITIVE_SECONDS and value == 0):
            raise ValueError(f"{name} must be {'positive' if name in _POSITIVE_SECONDS else '0 or more'}")
    elif name == "oac_version":
        if not isinstance(value, str) or version_key(value) is None:
            raise ValueError("oac_version must be dotted numbers, e.g. 2026.11.0")
    elif name == "device_interval":
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ValueError("device_interval must be a whole number of seconds (1 or more) or None")
    elif not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false")
