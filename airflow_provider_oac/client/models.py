"""Typed results of the OAC REST API 20210901: snapshots, work requests, accepted operations.

Parsing is lenient where OAC's documentation is thin: optional fields that are missing become
``None``, unknown fields are ignored, work-request errors are read from ``Errors`` or ``errors``,
and an unknown status becomes :attr:`WorkRequestStatus.UNKNOWN` (the raw text is kept). Only a
missing id or status, or an answer of the wrong shape, raises :class:`OACResponseError`, naming
what was missing.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import Enum
from typing import Any

from airflow_provider_oac.errors import OACConfigError, OACResponseError

log = logging.getLogger(__name__)


class WorkRequestStatus(str, Enum):
    """The state of an OAC work request. Terminal states: SUCCEEDED, FAILED, CANCELED."""

    ACCEPTED = "ACCEPTED"
    IN_PROGRESS = "IN_PROGRESS"
    FAILED = "FAILED"
    SUCCEEDED = "SUCCEEDED"
    CANCELING = "CANCELING"
    CANCELED = "CANCELED"
    #: A value this version does not know. Not terminal: waiting goes on until a known state or
    #: the caller's timeout.
    UNKNOWN = "UNKNOWN"

    @classmethod
    def _missing_(cls, value: object) -> WorkRequestStatus:
        # OAC documents upper case; tolerate "in progress" / "Succeeded" rather than fail a backup.
        if isinstance(value, str):
            normalized = value.strip().upper().replace(" ", "_").replace("-", "_")
            if normalized == "CANCELLED":
                return cls.CANCELED
            for member in cls:
                if member.value == normalized:
                    return member
        return cls.UNKNOWN

    @property
    def is_terminal(self) -> bool:
        return self in (WorkRequestStatus.SUCCEEDED, WorkRequestStatus.FAILED, WorkRequestStatus.CANCELED)

    @property
    def is_success(self) -> bool:
        return self is WorkRequestStatus.SUCCEEDED


class StorageAuthType(str, Enum):
    """How OAC authenticates to the OCI Object Storage bucket that holds the BAR file."""

    #: Recommended: OAC's own resource principal, allowed by an OCI IAM policy.
    OCI_RESOURCE_PRINCIPAL = "OCI_RESOURCE_PRINCIPAL"
    #: Deprecated by Oracle: an OCI user's API key (``oci_user_auth`` fields).
    OSS_AUTH_OCI_USER_ID = "OSS_AUTH_OCI_USER_ID"


#: The fields OAC needs for ``OSS_AUTH_OCI_USER_ID`` (``ociPrivateKeyWrapped`` is the Base64 of
#: the whole PEM, BEGIN/END lines included).
OCI_USER_AUTH_FIELDS = ("ociRegion", "ociTenancyId", "ociUserId", "ociKeyFingerprint", "ociPrivateKeyWrapped")

_BUCKET_RE = re.compile(r"[A-Za-z0-9._-]{1,256}")


@dataclass(frozen=True, slots=True)
class SnapshotStorageSpec:
    """Where OAC writes (create) or finds (register) a snapshot's BAR file: an OCI bucket.

    ``namespace`` and ``region`` are needed only when the bucket is in another tenancy or region
    than OAC. ``oci_user_auth`` holds the API-key fields of the deprecated ``OSS_AUTH_OCI_USER_ID``
    auth (see :data:`OCI_USER_AUTH_FIELDS`); it contains a private key and never shows in ``repr``.
    """

    bucket: str
    auth_type: StorageAuthType | str = StorageAuthType.OCI_RESOURCE_PRINCIPAL
    namespace: str | None = None
    region: str | None = None
    oci_user_auth: Mapping[str, str] | None = field(default=None, repr=False)

    def to_json(self) -> dict[str, Any]:
        """The ``storage`` object of a create/register request. Raises :class:`OACConfigError`."""
        if not isinstance(self.bucket, str) or not _BUCKET_RE.fullmatch(self.bucket):
            raise OACConfigError(
                f"storage bucket {self.bucket!r} is not an OCI bucket name (letters, digits, '-', '_', "
                "'.'): give the name of the bucket in the OCI console, not its URL."
            )
        try:
            auth_type = StorageAuthType(self.auth_type)
        except ValueError:
            allowed = ", ".join(member.value for member in StorageAuthType)
            raise OACConfigError(f"storage auth type {self.auth_type!r} is not one of: {allowed}.") from None
        auth: dict[str, str] = {"type": auth_type.value}
        if auth_type is StorageAuthType.OSS_AUTH_OCI_USER_ID:
            given = dict(self.oci_user_auth or {})
            missing = [name for name in OCI_USER_AUTH_FIELDS if not given.get(name)]
            if missing:
                raise OACConfigError(
                    f"storage auth OSS_AUTH_OCI_USER_ID needs oci_user_auth fields {', '.join(missing)}; "
                    "or use OCI_RESOURCE_PRINCIPAL (recommended by Oracle)."
                )
            auth.update({name: str(given[name]) for name in OCI_USER_AUTH_FIELDS})
        elif self.oci_user_auth:
            raise OACConfigError(
                "oci_user_auth is set but storage auth type is OCI_RESOURCE_PRINCIPAL: drop oci_user_auth "
                "or set auth_type to OSS_AUTH_OCI_USER_ID."
            )
        storage: dict[str, Any] = {"type": "OCI_NATIVE", "bucket": self.bucket}
        if self.namespace:
            storage["bucketOciNamespace"] = self.namespace
        if self.region:
            storage["bucketOciRegion"] = self.region
        storage["auth"] = auth
        return storage


@dataclass(frozen=True, slots=True)
class SnapshotStorage:
    """Where an existing snapshot's BAR file is, as OAC reports it (fields may be missing)."""

    bucket: str | None = None
    namespace: str | None = None
    region: str | None = None
    auth_type: str | None = None

    @classmethod
    def from_json(cls, data: object) -> SnapshotStorage | None:
        if not isinstance(data, Mapping):
            return None
        auth = data.get("auth")
        return cls(
            bucket=_text(data.get("bucket")),
            namespace=_text(data.get("bucketOciNamespace")),
            region=_text(data.get("bucketOciRegion")),
            auth_type=_text(auth.get("type")) if isinstance(auth, Mapping) else None,
        )


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A snapshot registered in OAC through the REST API."""

    id: str
    name: str | None = None
    created_by: str | None = None
    time_created: datetime | None = None
    bar_uri: str | None = None
    storage: SnapshotStorage | None = None

    @classmethod
    def from_json(cls, data: object) -> Snapshot:
        """Raises :class:`OACResponseError` when ``data`` is not an object with an ``id``."""
        item = _require_object(data, "OAC's snapshot")
        bar = item.get("bar")
        return cls(
            id=_require_text(item, "id", "OAC's snapshot"),
            name=_text(item.get("name")),
            created_by=_text(item.get("createdByUser", item.get("createdBy"))),
            time_created=parse_timestamp(item.get("timeCreated"), "snapshot timeCreated"),
            bar_uri=_text(bar.get("uri")) if isinstance(bar, Mapping) else _text(bar),
            storage=SnapshotStorage.from_json(item.get("storage")),
        )


@dataclass(frozen=True, slots=True)
class WorkRequestError:
    """One of OAC's own error entries on a failed work request."""

    code: str | None
    message: str | None
    timestamp: datetime | None = None

    @classmethod
    def from_json(cls, data: object) -> WorkRequestError:
        if not isinstance(data, Mapping):
            # A bare string is still OAC's words: keep them.
            return cls(code=None, message=_text(data))
        return cls(
            code=_text(data.get("code")),
            message=_text(data.get("message")),
            timestamp=parse_timestamp(data.get("timestamp"), "work request error timestamp"),
        )

    def __str__(self) -> str:
        if self.code and self.message:
            return f"{self.message} ({self.code})"
        return self.message or self.code or "no message"


@dataclass(frozen=True, slots=True)
class WorkRequestResource:
    """A resource a work request touched (for CREATE_SNAPSHOT: the new snapshot)."""

    action_result: str | None
    id: str | None
    metadata: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: object) -> WorkRequestResource:
        item = _require_object(data, "a work request resource")
        metadata = item.get("metadata")
        return cls(
            action_result=_text(item.get("actionResult")),
            id=_text(item.get("id", item.get("identifier"))),
            metadata=dict(metadata) if isinstance(metadata, Mapping) else {},
        )


@dataclass(frozen=True, slots=True)
class WorkRequest:
    """An asynchronous OAC operation (create snapshot, restore) and how far it got."""

    id: str
    operation_type: str | None
    status: WorkRequestStatus
    percent_complete: float | None = None
    time_accepted: datetime | None = None
    time_started: datetime | None = None
    time_finished: datetime | None = None
    resource_type: str | None = None
    resources: tuple[WorkRequestResource, ...] = ()
    errors: tuple[WorkRequestError, ...] = ()
    #: The status exactly as OAC sent it (differs from ``status.value`` for UNKNOWN).
    status_text: str = ""

    @classmethod
    def from_json(cls, data: object) -> WorkRequest:
        """Raises :class:`OACResponseError` when ``data`` lacks ``id`` or ``status``."""
        item = _require_object(data, "OAC's work request")
        status_text = _require_text(item, "status", "OAC's work request")
        status = WorkRequestStatus(status_text)
        if status is WorkRequestStatus.UNKNOWN:
            log.warning(
                "OAC sent an unknown work request status %r; treating it as not finished.", status_text
            )
        raw_errors = item.get("Errors", item.get("errors"))
        raw_resources = item.get("resources")
        return cls(
            id=_require_text(item, "id", "OAC's work request"),
            status=status,
            operation_type=_text(item.get("operationType")),
            percent_complete=_number(item.get("percentComplete")),
            time_accepted=parse_timestamp(item.get("timeAccepted"), "work request timeAccepted"),
            time_started=parse_timestamp(item.get("timeStarted"), "work request timeStarted"),
            time_finished=parse_timestamp(item.get("timeFinished"), "work request timeFinished"),
            resource_type=_text(item.get("resourceType")),
            resources=tuple(
                WorkRequestResource.from_json(entry)
                for entry in (raw_resources if isinstance(raw_resources, list) else ())
                if isinstance(entry, Mapping)
            ),
            errors=tuple(
                WorkRequestError.from_json(entry)
                for entry in (raw_errors if isinstance(raw_errors, list) else ())
            ),
            status_text=status_text,
        )

    @property
    def error_text(self) -> str:
        """OAC's own error messages, joined with ``"; "`` (empty when OAC sent none)."""
        return "; ".join(str(error) for error in self.errors)

    @property
    def snapshot_id(self) -> str | None:
        """The snapshot this work request created or restored, when OAC lists it in ``resources``.

        Prefers a resource whose ``actionResult`` is CREATED; ``None`` when no resource has an id
        (then look the snapshot up by name: :meth:`OACClient.find_created_snapshot`).
        """
        if self.resource_type and self.resource_type.upper() != "SNAPSHOT":
            candidates = [r for r in self.resources if _says_snapshot(r)]
        else:
            candidates = list(self.resources)
        with_id = [r for r in candidates if r.id]
        created = [r for r in with_id if (r.action_result or "").upper() == "CREATED"]
        chosen = created or with_id
        return chosen[0].id if chosen else None


def _says_snapshot(resource: WorkRequestResource) -> bool:
    kind = resource.metadata.get("type", resource.metadata.get("resourceType", ""))
    return isinstance(kind, str) and kind.upper() == "SNAPSHOT"


@dataclass(frozen=True, slots=True)
class Accepted:
    """OAC accepted an asynchronous operation; follow it with :meth:`OACClient.wait_for_work_request`."""

    work_request_id: str
    #: Oracle support's reference for the request, when OAC sent one.
    opc_request_id: str | None = None


# --- lenient field readers ---------------------------------------------------------------------

_FRACTION_RE = re.compile(r"\.(\d+)")


def parse_timestamp(value: object, what: str = "timestamp") -> datetime | None:
    """An RFC 3339 date-time (``Z`` or an offset; naive means UTC) as an aware datetime.

    ``None`` for a missing value. An unreadable value is logged and read as ``None``: dates are
    informational, and a changed date format must not stop a backup.
    """
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        # Epoch seconds, or milliseconds (anything after the year 5138 in seconds is millis).
        seconds = value / 1000.0 if value > 1e11 else float(value)
        return datetime.fromtimestamp(seconds, tz=timezone.utc)
    if isinstance(value, str):
        text = value.strip()
        if text[-1:] in ("Z", "z"):
            text = text[:-1] + "+00:00"
        # Python 3.10's fromisoformat takes only 3 or 6 fraction digits; RFC 3339 allows any.
        text = _FRACTION_RE.sub(lambda m: "." + (m.group(1) + "000000")[:6], text, count=1)
        text = text.replace(" ", "T", 1) if "T" not in text else text
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            pass
        else:
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
    log.warning("Could not read OAC's %s %r as a date; ignoring it.", what, value)
    return None


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value if value.strip() else None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return None


def _number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _require_object(data: object, what: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise OACResponseError(f"{what} was {_shape(data)}, not a JSON object.")
    return data


def _require_text(item: Mapping[str, Any], key: str, what: str) -> str:
    value = _text(item.get(key))
    if value is None:
        present = ", ".join(sorted(str(k) for k in item)[:12]) or "none"
        raise OACResponseError(f"{what} has no {key!r} (fields present: {present}).")
    return value


def _shape(data: object) -> str:
    if data is None:
        return "null"
    if isinstance(data, list):
        return "a JSON array"
    if isinstance(data, str):
        return "a JSON string"
    if isinstance(data, bool):
        return "a JSON boolean"
    if isinstance(data, (int, float)):
        return "a JSON number"
    return type(data).__name__
