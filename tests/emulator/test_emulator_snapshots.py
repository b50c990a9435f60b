"""The emulated OAC snapshot API: create, register, list, get, delete, restore, work requests."""

from __future__ import annotations

import re

import pytest

from tests.helpers import SNAPSHOT_PASSWORD

RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def test_create_is_accepted_with_work_request_id_in_the_body(oac):
    answer = oac.call("POST", "/snapshots", json=oac.body("CREATE", "nightly"))

    assert answer.status_code == 202
    assert answer.json()["workRequestId"]
    assert "oa-work-request-id" not in answer.headers


def test_create_can_answer_with_the_work_request_id_in_the_header_only(control, oac):
    control.configure(create_work_request_in_body=False, create_work_request_in_header=True)

    answer = oac.call("POST", "/snapshots", json=oac.body("CREATE", "nightly"))

    assert answer.status_code == 202
    assert answer.headers["oa-work-request-id"]
    assert answer.content == b""


def test_work_request_goes_from_accepted_through_in_progress_to_succeeded(control, oac):
    work_request_id = oac.create()

    first = oac.work_request(work_request_id)
    control.advance_clock(1.5)
    middle = oac.work_request(work_request_id)
    control.advance_clock(1.6)
    last = oac.work_request(work_request_id)

    assert (first["status"], first["percentComplete"]) == ("ACCEPTED", 0.0)
    assert middle["status"] == "IN_PROGRESS" and 0 < middle["percentComplete"] < 100
    assert (last["status"], last["percentComplete"]) == ("SUCCEEDED", 100.0)
    assert last["operationType"] == "CREATE_SNAPSHOT"
    assert last["resourceType"] == "SNAPSHOT"
    assert RFC3339.fullmatch(last["timeAccepted"])
    assert RFC3339.fullmatch(last["timeStarted"]) and RFC3339.fullmatch(last["timeFinished"])
    assert "timeFinished" not in middle
    [resource] = last["resources"]
    assert resource["actionResult"] == "CREATED" and resource["metadata"] == {}


def test_snapshot_is_listed_only_once_its_work_request_succeeded(oac):
    work_request_id = oac.create("nightly")
    assert oac.call("GET", "/snapshots").json() == {"items": []}

    oac.finish(work_request_id)

    [snapshot] = oac.call("GET", "/snapshots").json()["items"]
    assert snapshot["name"] == "nightly"
    assert snapshot["id"] == oac.work_request(work_request_id)["resources"][0]["id"]


def test_snapshot_has_the_reference_fields(oac):
    snapshot = oac.created_snapshot("nightly")

    assert set(snapshot) == {"id", "name", "createdByUser", "timeCreated", "bar", "storage"}
    assert snapshot["createdByUser"] == "data.engineer@example.com"
    assert RFC3339.fullmatch(snapshot["timeCreated"])
    assert snapshot["bar"] == {"uri": "file:///nightly.bar"}
    assert snapshot["storage"] == {
        "type": "OCI_NATIVE",
        "bucket": "oac-snaps",
        "auth": {"type": "OCI_RESOURCE_PRINCIPAL"},
    }


def test_get_snapshot_by_id(oac):
    snapshot = oac.created_snapshot()

    answer = oac.call("GET", f"/snapshots/{snapshot['id']}")

    assert answer.status_code == 200
    assert answer.json() == snapshot


def test_get_unknown_snapshot_is_404_not_found(oac):
    answer = oac.call("GET", "/snapshots/0b5e2d6c-0000-0000-0000-000000000000")

    assert answer.status_code == 404
    assert answer.json()["code"] == "NotFound"
    assert answer.json()["message"]


def test_created_snapshot_writes_its_bar_file_to_the_bucket(control, oac):
    oac.created_snapshot("nightly")

    [bar] = control.bar_objects()
    assert (bar["bucket"], bar["object"], bar["has_password"]) == ("oac-snaps", "nightly.bar", True)
    [record] = control.snapshots()
    assert record["bar_exists"] is True and record["registered"] is True


def test_duplicate_snapshot_names_are_allowed(oac):
    oac.created_snapshot("nightly")
    oac.finish(oac.create("nightly", uri="file:///nightly-2.bar"))

    items = oac.call("GET", "/snapshots").json()["items"]
    assert [item["name"] for item in items] == ["nightly", "nightly"]


def test_user_principal_storage_is_accepted_and_its_secrets_are_not_echoed(oac):
    auth = {
        "type": "OSS_AUTH_OCI_USER_ID",
        "ociRegion": "us-ashburn-1",
        "ociTenancyId": "ocid1.tenancy.oc1..aaaa",
        "ociUserId": "ocid1.user.oc1..aaaa",
        "ociKeyFingerprint": "12:34",
        "ociPrivateKeyWrapped": "LS0tLS1CRUdJTi0tLS0t",
    }
    work_request_id = oac.create("keyed", auth=auth)
    oac.finish(work_request_id)

    assert oac.snapshot_named("keyed")["storage"]["auth"] == {"type": "OSS_AUTH_OCI_USER_ID"}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda body: body.pop("name"), "name is required"),
        (lambda body: body.update(type="COPY"), "Invalid snapshot type"),
        (lambda body: body["storage"].update(type="S3"), "Invalid storage type"),
        (lambda body: body["storage"].pop("bucket"), "storage.bucket is required"),
        (lambda body: body["storage"]["auth"].update(type="API_KEY"), "Invalid storage.auth.type"),
        (lambda body: body["bar"].pop("password"), "bar.password is required"),
        (lambda body: body["bar"].update(uri="oci://bucket/x.bar"), "Invalid Snapshot BAR URI"),
        (lambda body: body["bar"].update(uri="https://objectstorage/p/x.bar"), "Invalid Snapshot BAR URI"),
        (lambda body: body["storage"]["auth"].update(type="OSS_AUTH_OCI_USER_ID"), "storage.auth.ociRegion"),
    ],
)
def test_invalid_create_body_is_400_bad_request_naming_the_problem(oac, change, message):
    body = oac.body("CREATE", "nightly")
    change(body)

    answer = oac.call("POST", "/snapshots", json=body)

    assert answer.status_code == 400
    assert answer.json()["code"] == "BadRequest"
    assert message in answer.json()["message"]


def test_non_json_create_body_is_400(oac):
    answer = oac.call("POST", "/snapshots", data="type=CREATE", headers={"Content-Type": "text/plain"})

    assert answer.status_code == 400


@pytest.mark.parametrize("password", ["snapshotPassword123", "Admin123", "alllower-1234567", "Aa1!" * 13])
def test_create_with_a_password_breaking_oracles_rule_is_400_and_creates_nothing(control, oac, password):
    answer = oac.call("POST", "/snapshots", json=oac.body("CREATE", "weak", password=password))

    assert answer.status_code == 400
    assert answer.json()["code"] == "BadRequest"
    assert "14 to 50 characters" in answer.json()["message"]
    assert password not in answer.text
    assert control.counters()["snapshots_created"] == 0
    assert oac.call("GET", "/snapshots").json()["items"] == []


def test_the_password_rule_can_be_turned_off(control, oac):
    control.configure(enforce_snapshot_password_rule=False)

    assert oac.finish(oac.create("legacy", password="Admin123"))["status"] == "SUCCEEDED"


def test_register_and_restore_accept_an_older_bars_weaker_password(control, oac):
    # The rule is for new BARs; one made before March 2025 keeps its password.
    control.put_bar_object("oac-snaps", "old.bar", "Admin123")
    answer = oac.call(
        "POST", "/snapshots", json=oac.body("REGISTER", "old", password="Admin123", uri="file:///old.bar")
    )
    assert oac.finish(answer.json()["workRequestId"])["status"] == "SUCCEEDED"

    restored = restore(oac, oac.snapshot_named("old")["id"], password="Admin123")

    assert oac.finish(restored.headers["oa-work-request-id"])["status"] == "SUCCEEDED"


# --- register ------------------------------------------------------------------------------------


def test_register_an_existing_bar_file(control, oac):
    control.put_bar_object("oac-snaps", "old.bar", SNAPSHOT_PASSWORD)

    answer = oac.call(
        "POST", "/snapshots", json=oac.body("REGISTER", "old", password=None, uri="file:///old.bar")
    )
    work_request = oac.finish(answer.json()["workRequestId"])

    assert work_request["status"] == "SUCCEEDED"
    assert oac.snapshot_named("old")["bar"] == {"uri": "file:///old.bar"}
    assert control.counters()["snapshots_registered"] == 1


def test_register_of_a_missing_bar_file_fails_its_work_request(oac):
    answer = oac.call("POST", "/snapshots", json=oac.body("REGISTER", "ghost", uri="file:///ghost.bar"))
    work_request = oac.finish(answer.json()["workRequestId"])

    assert work_request["status"] == "FAILED"
    [error] = work_request["Errors"]
    assert error["code"] == "BarFileNotFound"
    assert "ghost.bar" in error["message"]
    assert error["timestamp"]
    assert oac.call("GET", "/snapshots").json() == {"items": []}


def test_register_needs_a_bar_uri(oac):
    body = oac.body("REGISTER", "old")
    body["bar"].pop("uri")

    answer = oac.call("POST", "/snapshots", json=body)

    assert answer.status_code == 400
    assert "bar.uri" in answer.json()["message"]


# --- delete --------------------------------------------------------------------------------------


def test_delete_deregisters_and_keeps_the_bar_file_by_default(control, oac):
    snapshot = oac.created_snapshot("nightly")

    answer = oac.call("DELETE", f"/snapshots/{snapshot['id']}")

    assert answer.status_code == 200
    assert answer.content == b""
    assert oac.call("GET", f"/snapshots/{snapshot['id']}").status_code == 404
    assert [bar["object"] for bar in control.bar_objects()] == ["nightly.bar"]


def test_delete_with_delete_storage_removes_the_bar_file(control, oac):
    snapshot = oac.created_snapshot("nightly")

    answer = oac.call("DELETE", f"/snapshots/{snapshot['id']}", params={"deleteStorage": "true"})

    assert answer.status_code == 200
    assert control.bar_objects() == []
    assert control.counters()["snapshots_deleted"] == 1


def test_deleted_snapshot_can_be_registered_again_from_its_bar_file(oac):
    snapshot = oac.created_snapshot("nightly")
    oac.call("DELETE", f"/snapshots/{snapshot['id']}", params={"deleteStorage": "false"})

    answer = oac.call("POST", "/snapshots", json=oac.body("REGISTER", "nightly", password=None))

    assert oac.finish(answer.json()["workRequestId"])["status"] == "SUCCEEDED"


def test_delete_unknown_snapshot_is_404(oac):
    answer = oac.call("DELETE", "/snapshots/0b5e2d6c-0000-0000-0000-000000000000")

    assert answer.status_code == 404
    assert answer.json()["code"] == "NotFound"


# --- restore -------------------------------------------------------------------------------------


def restore(oac, snapshot_id: str, password: str = SNAPSHOT_PASSWORD):
    return oac.call(
        "POST",
        "/system/actions/restoreSnapshot",
        json={"snapshot": {"id": snapshot_id, "password": password}},
    )


def test_restore_is_accepted_with_the_work_request_id_in_the_header(oac):
    snapshot = oac.created_snapshot()

    answer = restore(oac, snapshot["id"])

    assert answer.status_code == 202
    assert answer.headers["oa-work-request-id"]
    assert answer.content == b""


def test_restore_can_also_put_the_work_request_id_in_the_body(control, oac):
    control.configure(restore_work_request_in_body=True)
    snapshot = oac.created_snapshot()

    answer = restore(oac, snapshot["id"])

    assert answer.json()["workRequestId"] == answer.headers["oa-work-request-id"]


def test_restore_with_the_right_password_succeeds(control, oac):
    snapshot = oac.created_snapshot()
    work_request_id = restore(oac, snapshot["id"]).headers["oa-work-request-id"]

    work_request = oac.finish(work_request_id)

    assert work_request["status"] == "SUCCEEDED"
    assert (work_request["operationType"], work_request["resourceType"]) == ("RESTORE_SNAPSHOT", "SYSTEM")
    assert work_request["resources"][0]["id"] == snapshot["id"]
    [record] = control.restores()
    assert (record["snapshot_id"], record["status"]) == (snapshot["id"], "SUCCEEDED")
    assert oac.call("GET", "/system").json()["lastRestoredSnapshotId"] == snapshot["id"]


def test_restore_with_a_wrong_password_fails_with_invalid_password(oac):
    snapshot = oac.created_snapshot("nightly")
    work_request_id = restore(oac, snapshot["id"], password="wrong").headers["oa-work-request-id"]

    work_request = oac.finish(work_request_id)

    assert work_request["status"] == "FAILED"
    [error] = work_request["Errors"]
    assert error == {
        "code": "InvalidPassword",
        "message": "The password for snapshot nightly is incorrect.",
        "timestamp": error["timestamp"],
    }


def test_work_request_errors_key_is_configurable(control, oac):
    control.configure(work_request_errors_key="errors")
    snapshot = oac.created_snapshot()

    work_request = oac.finish(restore(oac, snapshot["id"], password="wrong").headers["oa-work-request-id"])

    assert "Errors" not in work_request
    assert work_request["errors"][0]["code"] == "InvalidPassword"


def test_restore_of_unknown_snapshot_is_404(oac):
    assert restore(oac, "0b5e2d6c-0000-0000-0000-000000000000").status_code == 404


@pytest.mark.parametrize("body", [{}, {"snapshot": {"id": "x"}}, {"snapshot": {"password": "p"}}])
def test_restore_without_id_or_password_is_400(oac, body):
    answer = oac.call("POST", "/system/actions/restoreSnapshot", json=body)

    assert answer.status_code == 400
    assert answer.json()["code"] == "BadRequest"


# --- work requests and system --------------------------------------------------------------------


def test_work_requests_answer_on_the_lowercase_path_too(oac):
    work_request_id = oac.create()

    answer = oac.call("GET", f"/workrequests/{work_request_id}")

    assert answer.status_code == 200
    assert answer.json()["id"] == work_request_id


def test_unknown_work_request_is_404(oac):
    answer = oac.call("GET", "/workRequests/0b5e2d6c-0000-0000-0000-000000000000")

    assert answer.status_code == 404
    assert answer.json()["code"] == "NotFound"


def test_system_describes_the_instance(oac):
    answer = oac.call("GET", "/system")

    assert answer.status_code == 200
    assert answer.json()["emulator"] is True
