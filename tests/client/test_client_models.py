"""Parsing OAC's snapshots and work requests into typed results (no sockets)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from airflow_provider_oac.client.models import (
    Snapshot,
    SnapshotStorageSpec,
    StorageAuthType,
    WorkRequest,
    WorkRequestError,
    WorkRequestStatus,
    parse_timestamp,
)
from airflow_provider_oac.errors import OACConfigError, OACResponseError

DOCUMENTED_WORK_REQUEST = {
    "id": "wr-1",
    "operationType": "CREATE_SNAPSHOT",
    "status": "SUCCEEDED",
    "percentComplete": 100.0,
    "timeAccepted": "2016-08-25T21:10:29.600Z",
    "timeStarted": "2016-08-25T21:10:30.000Z",
    "timeFinished": "2016-08-25T21:20:00.000Z",
    "resourceType": "SNAPSHOT",
    "resources": [{"actionResult": "CREATED", "id": "snap-1", "metadata": {"name": "nightly"}}],
}


# --- WorkRequestStatus -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "terminal", "success"),
    [
        ("ACCEPTED", False, False),
        ("IN_PROGRESS", False, False),
        ("CANCELING", False, False),
        ("SUCCEEDED", True, True),
        ("FAILED", True, False),
        ("CANCELED", True, False),
    ],
)
def test_status_terminal_and_success_follow_oac_documentation(status, terminal, success):
    assert WorkRequestStatus(status).is_terminal is terminal
    assert WorkRequestStatus(status).is_success is success


def test_unknown_status_becomes_unknown_and_is_not_terminal():
    status = WorkRequestStatus("PAUSED_FOR_MAINTENANCE")
    assert status is WorkRequestStatus.UNKNOWN
    assert not status.is_terminal


def test_status_in_other_case_or_spelling_is_still_recognised():
    assert WorkRequestStatus("in progress") is WorkRequestStatus.IN_PROGRESS
    assert WorkRequestStatus("Succeeded") is WorkRequestStatus.SUCCEEDED
    assert WorkRequestStatus("CANCELLED") is WorkRequestStatus.CANCELED


def test_status_compares_equal_to_its_text():
    assert WorkRequestStatus.FAILED == "FAILED"


# --- WorkRequest -------------------------------------------------------------------------------


def test_documented_work_request_parses_every_field():
    work_request = WorkRequest.from_json(DOCUMENTED_WORK_REQUEST)
    assert work_request.id == "wr-1"
    assert work_request.operation_type == "CREATE_SNAPSHOT"
    assert work_request.status is WorkRequestStatus.SUCCEEDED
    assert work_request.percent_complete == 100.0
    assert work_request.time_accepted == datetime(2016, 8, 25, 21, 10, 29, 600000, tzinfo=timezone.utc)
    assert work_request.time_finished == datetime(2016, 8, 25, 21, 20, tzinfo=timezone.utc)
    assert work_request.resource_type == "SNAPSHOT"
    assert work_request.resources[0].action_result == "CREATED"
    assert work_request.resources[0].id == "snap-1"
    assert work_request.resources[0].metadata == {"name": "nightly"}
    assert work_request.errors == ()


def test_work_request_with_only_id_and_status_parses_with_nones():
    work_request = WorkRequest.from_json({"id": "wr-1", "status": "ACCEPTED"})
    assert work_request.operation_type is None
    assert work_request.percent_complete is None
    assert work_request.time_accepted is None
    assert work_request.time_started is None
    assert work_request.resources == ()


def test_work_request_ignores_unknown_fields():
    work_request = WorkRequest.from_json({"id": "wr-1", "status": "ACCEPTED", "somethingNew": {"x": 1}})
    assert work_request.id == "wr-1"


def test_work_request_without_id_names_the_missing_field():
    with pytest.raises(OACResponseError, match="no 'id'"):
        WorkRequest.from_json({"status": "ACCEPTED"})


def test_work_request_without_status_names_the_missing_field():
    with pytest.raises(OACResponseError, match="no 'status'"):
        WorkRequest.from_json({"id": "wr-1"})


def test_work_request_that_is_not_an_object_is_a_response_error():
    with pytest.raises(OACResponseError, match="a JSON array"):
        WorkRequest.from_json([{"id": "wr-1"}])


def test_unknown_status_keeps_oacs_own_text():
    work_request = WorkRequest.from_json({"id": "wr-1", "status": "QUEUED"})
    assert work_request.status is WorkRequestStatus.UNKNOWN
    assert work_request.status_text == "QUEUED"


def test_errors_are_read_from_capital_errors_key_as_documented():
    work_request = WorkRequest.from_json(
        {
            "id": "wr-1",
            "status": "FAILED",
            "Errors": [{"code": "BarWriteFailed", "message": "Bucket is full"}],
        }
    )
    assert work_request.errors == (WorkRequestError("BarWriteFailed", "Bucket is full"),)


def test_errors_are_read_from_lowercase_errors_key_too():
    work_request = WorkRequest.from_json(
        {"id": "wr-1", "status": "FAILED", "errors": [{"code": "X", "message": "Bad password"}]}
    )
    assert work_request.errors[0].message == "Bad password"


def test_work_request_error_timestamp_is_parsed():
    work_request = WorkRequest.from_json(
        {
            "id": "wr-1",
            "status": "FAILED",
            "Errors": [{"code": "X", "message": "m", "timestamp": "2024-01-01T00:00:00Z"}],
        }
    )
    assert work_request.errors[0].timestamp == datetime(2024, 1, 1, tzinfo=timezone.utc)


def test_error_text_joins_oacs_messages_with_their_codes():
    work_request = WorkRequest.from_json(
        {
            "id": "wr-1",
            "status": "FAILED",
            "Errors": [
                {"code": "InvalidPassword", "message": "The snapshot password is wrong"},
                {"message": "Restore aborted"},
            ],
        }
    )
    assert work_request.error_text == "The snapshot password is wrong (InvalidPassword); Restore aborted"


def test_error_text_is_empty_when_oac_sent_no_errors():
    assert WorkRequest.from_json({"id": "wr-1", "status": "FAILED"}).error_text == ""


def test_snapshot_id_comes_from_the_created_resource():
    work_request = WorkRequest.from_json(
        {
            **DOCUMENTED_WORK_REQUEST,
            "resources": [
                {"actionResult": "IN_PROGRESS", "id": "other"},
                {"actionResult": "CREATED", "id": "snap-9"},
            ],
        }
    )
    assert work_request.snapshot_id == "snap-9"


def test_snapshot_id_is_none_without_resources():
    assert WorkRequest.from_json({"id": "wr-1", "status": "SUCCEEDED"}).snapshot_id is None


def test_snapshot_id_ignores_system_resources_of_a_restore():
    work_request = WorkRequest.from_json(
        {
            "id": "wr-2",
            "status": "SUCCEEDED",
            "operationType": "RESTORE_SNAPSHOT",
            "resourceType": "SYSTEM",
            "resources": [{"actionResult": "UPDATED", "id": "instance-1"}],
        }
    )
    assert work_request.snapshot_id is None


def test_percent_complete_given_as_text_is_read_as_a_number():
    assert (
        WorkRequest.from_json(
            {"id": "w", "status": "IN_PROGRESS", "percentComplete": "42.5"}
        ).percent_complete
        == 42.5
    )


# --- timestamps --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-03-01T10:00:00Z", datetime(2024, 3, 1, 10, tzinfo=timezone.utc)),
        ("2024-03-01T10:00:00.123Z", datetime(2024, 3, 1, 10, 0, 0, 123000, tzinfo=timezone.utc)),
        ("2024-03-01T10:00:00.1234567Z", datetime(2024, 3, 1, 10, 0, 0, 123456, tzinfo=timezone.utc)),
        ("2024-03-01T12:00:00+02:00", datetime(2024, 3, 1, 10, tzinfo=timezone.utc)),
        ("2024-03-01T10:00:00", datetime(2024, 3, 1, 10, tzinfo=timezone.utc)),
    ],
)
def test_rfc3339_timestamps_with_z_offset_or_none_are_read_as_utc_instants(text, expected):
    parsed = parse_timestamp(text)
    assert parsed == expected
    assert parsed.tzinfo is not None


def test_unreadable_timestamp_is_ignored_rather_than_failing():
    assert parse_timestamp("yesterday-ish") is None


def test_missing_timestamp_is_none():
    assert parse_timestamp(None) is None


# --- Snapshot ----------------------------------------------------------------------------------


def test_documented_snapshot_parses_every_field():
    snapshot = Snapshot.from_json(
        {
            "id": "ac6fdab7-9c16-4d22-a56f-cb7b5d15505a",
            "name": "nightly",
            "createdByUser": "admin@example.com",
            "timeCreated": "2024-01-01T01:00:00.000Z",
            "bar": {"uri": "file:///nightly.bar"},
            "storage": {
                "type": "OCI_NATIVE",
                "bucket": "oac-snaps",
                "bucketOciNamespace": "tenancyns",
                "bucketOciRegion": "us-ashburn-1",
                "auth": {"type": "OCI_RESOURCE_PRINCIPAL"},
            },
        }
    )
    assert snapshot.id == "ac6fdab7-9c16-4d22-a56f-cb7b5d15505a"
    assert snapshot.name == "nightly"
    assert snapshot.created_by == "admin@example.com"
    assert snapshot.time_created == datetime(2024, 1, 1, 1, tzinfo=timezone.utc)
    assert snapshot.bar_uri == "file:///nightly.bar"
    assert snapshot.storage is not None
    assert snapshot.storage.bucket == "oac-snaps"
    assert snapshot.storage.namespace == "tenancyns"
    assert snapshot.storage.region == "us-ashburn-1"
    assert snapshot.storage.auth_type == "OCI_RESOURCE_PRINCIPAL"


def test_snapshot_with_only_an_id_parses_with_nones():
    snapshot = Snapshot.from_json({"id": "s-1"})
    assert (
        snapshot.name,
        snapshot.created_by,
        snapshot.time_created,
        snapshot.bar_uri,
        snapshot.storage,
    ) == (
        None,
        None,
        None,
        None,
        None,
    )


def test_snapshot_without_id_names_the_missing_field_and_what_was_there():
    with pytest.raises(OACResponseError, match=r"no 'id' \(fields present: name\)"):
        Snapshot.from_json({"name": "nightly"})


def test_snapshot_is_frozen():
    snapshot = Snapshot.from_json({"id": "s-1"})
    with pytest.raises(AttributeError):
        snapshot.id = "s-2"  # type: ignore[misc]


# --- SnapshotStorageSpec -----------------------------------------------------------------------


def test_resource_principal_storage_sends_only_bucket_and_auth_type():
    assert SnapshotStorageSpec("oac-snaps").to_json() == {
        "type": "OCI_NATIVE",
        "bucket": "oac-snaps",
        "auth": {"type": "OCI_RESOURCE_PRINCIPAL"},
    }


def test_storage_in_another_region_and_tenancy_sends_namespace_and_region():
    storage = SnapshotStorageSpec("oac-snaps", namespace="otherns", region="eu-frankfurt-1").to_json()
    assert storage["bucketOciNamespace"] == "otherns"
    assert storage["bucketOciRegion"] == "eu-frankfurt-1"


def test_oci_user_auth_sends_every_api_key_field():
    fields = {
        "ociRegion": "us-ashburn-1",
        "ociTenancyId": "ocid1.tenancy.oc1..x",
        "ociUserId": "ocid1.user.oc1..x",
        "ociKeyFingerprint": "aa:bb",
        "ociPrivateKeyWrapped": "LS0tLS1CRUdJTi0tLS0t",
    }
    storage = SnapshotStorageSpec("b", auth_type=StorageAuthType.OSS_AUTH_OCI_USER_ID, oci_user_auth=fields)
    assert storage.to_json()["auth"] == {"type": "OSS_AUTH_OCI_USER_ID", **fields}


def test_oci_user_auth_with_missing_fields_names_them():
    storage = SnapshotStorageSpec("b", auth_type="OSS_AUTH_OCI_USER_ID", oci_user_auth={"ociRegion": "r"})
    with pytest.raises(
        OACConfigError, match="ociTenancyId, ociUserId, ociKeyFingerprint, ociPrivateKeyWrapped"
    ):
        storage.to_json()


def test_storage_repr_never_shows_the_private_key():
    storage = SnapshotStorageSpec(
        "b", auth_type="OSS_AUTH_OCI_USER_ID", oci_user_auth={"ociPrivateKeyWrapped": "SECRETKEYMATERIAL"}
    )
    assert "SECRETKEYMATERIAL" not in repr(storage)


def test_storage_bucket_given_as_url_is_a_config_error():
    with pytest.raises(OACConfigError, match="not an OCI bucket name"):
        SnapshotStorageSpec("https://objectstorage.example.com/b/oac-snaps").to_json()


def test_storage_auth_type_outside_the_documented_ones_is_a_config_error():
    with pytest.raises(OACConfigError, match="OCI_RESOURCE_PRINCIPAL, OSS_AUTH_OCI_USER_ID"):
        SnapshotStorageSpec("b", auth_type="INSTANCE_PRINCIPAL").to_json()


def test_user_auth_fields_with_resource_principal_are_a_config_error():
    with pytest.raises(OACConfigError, match="drop oci_user_auth"):
        SnapshotStorageSpec("b", oci_user_auth={"ociRegion": "r"}).to_json()


def test_timestamps_order_across_offsets():
    earlier = parse_timestamp("2024-01-01T10:00:00+01:00")
    later = parse_timestamp("2024-01-01T09:30:00Z")
    assert later - earlier == timedelta(minutes=30)
