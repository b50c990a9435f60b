"""Checking a snapshot CREATE/REGISTER body as OAC does, and the snapshot password rule."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_oac.emulator.common import APIProblem


@dataclass(frozen=True, slots=True)
class SnapshotRequest:
    type: str
    name: str
    bucket: str
    object_name: str | None
    password: str | None = field(repr=False)
    #: What OAC echoes back: never the auth secrets.
    storage: dict[str, Any]
    #: ``bucketOciRegion`` and ``bucketOciNamespace`` when given (else the instance's own).
    region: str | None = None
    namespace: str | None = None


_USER_PRINCIPAL_FIELDS = (
    "ociRegion",
    "ociTenancyId",
    "ociUserId",
    "ociKeyFingerprint",
    "ociPrivateKeyWrapped",
)


def bad_request(message: str) -> APIProblem:
    return APIProblem(400, "BadRequest", message)


def validate_snapshot_request(payload: Any) -> SnapshotRequest:
    if not isinstance(payload, dict):
        raise bad_request("The request body must be a JSON object.")
    kind = payload.get("type")
    if kind not in ("CREATE", "REGISTER"):
        raise bad_request(f"Invalid snapshot type {kind!r}: expected CREATE or REGISTER.")
    name = payload.get("name")
    if not isinstance(name, str) or not name.strip():
        raise bad_request("name is required.")
    storage = payload.get("storage")
    if not isinstance(storage, dict):
        raise bad_request("storage is required.")
    if storage.get("type") != "OCI_NATIVE":
        raise bad_request(f"Invalid storage type {storage.get('type')!r}: expected OCI_NATIVE.")
    bucket = storage.get("bucket")
    if not isinstance(bucket, str) or not bucket:
        raise bad_request("storage.bucket is required.")
    auth = storage.get("auth")
    if not isinstance(auth, dict):
        raise bad_request("storage.auth is required.")
    auth_type = auth.get("type")
    if auth_type not in ("OCI_RESOURCE_PRINCIPAL", "OSS_AUTH_OCI_USER_ID"):
        raise bad_request(
            f"Invalid storage.auth.type {auth_type!r}: "
            "expected OCI_RESOURCE_PRINCIPAL or OSS_AUTH_OCI_USER_ID."
        )
    if auth_type == "OSS_AUTH_OCI_USER_ID":
        missing = [f for f in _USER_PRINCIPAL_FIELDS if not isinstance(auth.get(f), str) or not auth.get(f)]
        if missing:
            raise bad_request(f"storage.auth is missing {', '.join('storage.auth.' + f for f in missing)}.")
    bar = payload.get("bar")
    if bar is not None and not isinstance(bar, dict):
        raise bad_request("bar must be an object.")
    bar = bar or {}
    uri = bar.get("uri")
    object_name: str | None = None
    if uri is not None:
        if not isinstance(uri, str) or not uri.startswith("file:///") or len(uri) == len("file:///"):
            raise bad_request("Invalid Snapshot BAR URI: expected file:///<object name in the bucket>.")
        object_name = uri.removeprefix("file:///")
    password = bar.get("password")
    if password is not None and (not isinstance(password, str) or not password):
        raise bad_request("bar.password must be non-empty text.")
    if kind == "CREATE" and password is None:
        raise bad_request("bar.password is required to create a snapshot.")
    if kind == "REGISTER" and object_name is None:
        raise bad_request("bar.uri is required to register a snapshot.")
    echoed: dict[str, Any] = {"type": "OCI_NATIVE", "bucket": bucket}
    for optional in ("bucketOciNamespace", "bucketOciRegion"):
        if isinstance(storage.get(optional), str) and storage[optional]:
            echoed[optional] = storage[optional]
    echoed["auth"] = {"type": auth_type}
    return SnapshotRequest(
        type=kind,
        name=name,
        bucket=bucket,
        object_name=object_name,
        password=password,
        storage=echoed,
        region=echoed.get("bucketOciRegion"),
        namespace=echoed.get("bucketOciNamespace"),
    )


#: The emulator's answer to a weak CREATE password. OAC's exact status and text are unconfirmed;
#: the rule itself is Oracle's (What's New, March 2025).
SNAPSHOT_PASSWORD_MESSAGE = (
    "Invalid snapshot password: use 14 to 50 characters with at least one number, one uppercase "
    "letter, one lowercase letter and one special character."
)


def meets_password_rule(password: str) -> bool:
    return (
        14 <= len(password) <= 50
        and re.search(r"[0-9]", password) is not None
        and re.search(r"[A-Z]", password) is not None
        and re.search(r"[a-z]", password) is not None
        and re.search(r"[^A-Za-z0-9]", password) is not None
    )


def safe_object_stem(name: str) -> str:
    stem = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)
    return stem or "snapshot"
