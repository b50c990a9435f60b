"""Building OAC requests and reading OAC answers, without sockets."""

from __future__ import annotations

import email.utils

import pytest
from oac_client_helpers import BASE_URL, html_page, json_response, oac_error

from airflow_provider_oac._http import HTTPResponse
from airflow_provider_oac.client import protocol
from airflow_provider_oac.client.models import SnapshotStorageSpec
from airflow_provider_oac.errors import (
    OACAPIError,
    OACConfigError,
    OACConflictError,
    OACForbiddenError,
    OACNotFoundError,
    OACRateLimitedError,
    OACResponseError,
    OACServerError,
    OACUnauthorizedError,
)
from tests.helpers import SNAPSHOT_PASSWORD

STORAGE = SnapshotStorageSpec("oac-snaps")
SNAPSHOTS_URL = f"{BASE_URL}/api/20210901/snapshots"

# --- request builders --------------------------------------------------------------------------


def test_list_snapshots_is_a_get_on_the_versioned_api_path():
    request = protocol.list_snapshots(BASE_URL)
    assert (request.method, request.url) == ("GET", SNAPSHOTS_URL)


def test_built_requests_carry_no_authorization_header():
    request = protocol.get_snapshot(BASE_URL, "s-1")
    assert "Authorization" not in request.headers
    assert request.headers["Accept"] == "application/json"


def test_get_snapshot_puts_the_id_in_the_path():
    assert protocol.get_snapshot(BASE_URL, "ac6fdab7-9c16").url == f"{SNAPSHOTS_URL}/ac6fdab7-9c16"


@pytest.mark.parametrize("bad_id", ["", "../system", "a b", "s/1", None])
def test_snapshot_id_that_is_not_an_id_is_refused_before_any_request(bad_id):
    with pytest.raises(OACConfigError, match="snapshot id"):
        protocol.get_snapshot(BASE_URL, bad_id)


def test_create_snapshot_body_matches_oracles_documented_example():
    request = protocol.create_snapshot(
        BASE_URL, "nightly", "snapshotPassword123!", STORAGE, bar_uri="file:///nightly.bar"
    )
    assert (request.method, request.url) == ("POST", SNAPSHOTS_URL)
    assert request.json == {
        "type": "CREATE",
        "name": "nightly",
        "storage": {"type": "OCI_NATIVE", "bucket": "oac-snaps", "auth": {"type": "OCI_RESOURCE_PRINCIPAL"}},
        "bar": {"uri": "file:///nightly.bar", "password": "snapshotPassword123!"},
    }


def test_create_snapshot_defaults_the_bar_uri_to_the_snapshot_name():
    request = protocol.create_snapshot(BASE_URL, "nightly-2026-01-31", SNAPSHOT_PASSWORD, STORAGE)
    assert request.json["bar"]["uri"] == "file:///nightly-2026-01-31.bar"


def test_default_bar_uri_replaces_unsafe_characters():
    uri = protocol.default_bar_uri("Nightly backup / Jan 31")
    assert uri.startswith("file:///Nightly_backup_Jan_31-")
    assert uri.endswith(".bar")
    assert " " not in uri and uri.count("/") == 3


def test_default_bar_uri_keeps_names_that_differ_only_in_unsafe_characters_apart():
    assert protocol.default_bar_uri("nightly 1") != protocol.default_bar_uri("nightly_1")


def test_default_bar_uri_of_a_name_with_no_safe_characters_is_still_an_object_name():
    assert protocol.default_bar_uri("日本").startswith("file:///snapshot-")


def test_create_snapshot_sends_description_only_when_given():
    assert "description" not in protocol.create_snapshot(BASE_URL, "n", SNAPSHOT_PASSWORD, STORAGE).json
    assert (
        protocol.create_snapshot(
            BASE_URL, "n", SNAPSHOT_PASSWORD, STORAGE, description="before upgrade"
        ).json["description"]
        == "before upgrade"
    )


def test_create_snapshot_without_password_is_refused_locally():
    with pytest.raises(OACConfigError, match="snapshot password is empty"):
        protocol.create_snapshot(BASE_URL, "nightly", "", STORAGE)


def test_refused_password_is_never_echoed():
    with pytest.raises(OACConfigError) as caught:
        protocol.create_snapshot(BASE_URL, "nightly", " Hunter2-Secret-Pa55 ", STORAGE)
    assert "Hunter2-Secret-Pa55" not in str(caught.value)


@pytest.mark.parametrize(
    ("password", "lacks"),
    [
        ("snapshotPassword123", "a special character"),  # Oracle's older example
        ("Admin123", "14 to 50 characters, a special character"),
        ("ALLUPPER-1234567", "a lowercase letter"),
        ("alllower-1234567", "an uppercase letter"),
        ("No-Digits-At-All", "a number"),
        ("Aa1!" * 13, "14 to 50 characters"),
    ],
)
def test_a_new_snapshot_password_breaking_oracles_rule_is_refused_locally(password, lacks):
    with pytest.raises(OACConfigError) as caught:
        protocol.create_snapshot(BASE_URL, "nightly", password, STORAGE)

    message = str(caught.value)
    assert "14 to 50 characters with at least one number, one uppercase letter" in message
    assert f"it lacks {lacks}:" in message
    assert password not in message and "\n" not in message


def test_a_restore_or_register_password_is_not_held_to_the_rule():
    # An existing BAR keeps the password it was made with, maybe from before March 2025.
    assert protocol.restore_snapshot(BASE_URL, "ac6fdab7", "Admin123").json is not None
    assert protocol.register_snapshot(BASE_URL, "old", "file:///old.bar", STORAGE, password="Admin123").json


def test_request_repr_hides_the_password():
    request = protocol.create_snapshot(BASE_URL, "nightly", "Hunter2-Secret-Pa55", STORAGE)
    assert "Hunter2-Secret-Pa55" not in repr(request)


def test_create_snapshot_with_empty_name_is_refused_locally():
    with pytest.raises(OACConfigError, match="snapshot name is empty"):
        protocol.create_snapshot(BASE_URL, "  ", SNAPSHOT_PASSWORD, STORAGE)


def test_create_snapshot_passes_an_undocumented_bar_uri_form_to_oac():
    # Which forms OAC takes beyond file:///<object name> is unconfirmed: OAC decides.
    request = protocol.create_snapshot(BASE_URL, "n", SNAPSHOT_PASSWORD, STORAGE, bar_uri="nightly.bar")

    assert request.json is not None and request.json["bar"]["uri"] == "nightly.bar"
    with pytest.raises(OACConfigError, match="BAR URI is empty"):
        protocol.create_snapshot(BASE_URL, "n", SNAPSHOT_PASSWORD, STORAGE, bar_uri="")


def test_create_snapshot_with_a_plain_dict_as_storage_is_refused():
    with pytest.raises(OACConfigError, match="SnapshotStorageSpec"):
        protocol.create_snapshot(BASE_URL, "n", SNAPSHOT_PASSWORD, {"bucket": "b"})  # type: ignore[arg-type]


def test_register_snapshot_sends_type_register_and_may_leave_the_password_for_restore():
    request = protocol.register_snapshot(BASE_URL, "imported", "file:///old.bar", STORAGE)
    assert request.json["type"] == "REGISTER"
    assert request.json["bar"] == {"uri": "file:///old.bar"}


def test_register_snapshot_sends_the_password_when_given():
    request = protocol.register_snapshot(
        BASE_URL, "imported", "file:///old.bar", STORAGE, password="Old-Bar-Pa55word"
    )
    assert request.json["bar"]["password"] == "Old-Bar-Pa55word"


def test_delete_snapshot_keeps_the_bar_file_by_default():
    request = protocol.delete_snapshot(BASE_URL, "s-1")
    assert (request.method, request.url, request.params) == ("DELETE", f"{SNAPSHOTS_URL}/s-1", None)


def test_delete_snapshot_with_delete_storage_asks_oac_to_delete_the_bar_file():
    assert protocol.delete_snapshot(BASE_URL, "s-1", delete_storage=True).params == {"deleteStorage": "true"}


def test_delete_storage_given_as_text_is_refused():
    with pytest.raises(OACConfigError, match="delete_storage"):
        protocol.delete_snapshot(BASE_URL, "s-1", delete_storage="false")  # type: ignore[arg-type]


def test_restore_posts_snapshot_id_and_password_to_the_system_action():
    request = protocol.restore_snapshot(BASE_URL, "ac6fdab7", "snapshotPassword123!")
    assert (request.method, request.url) == (
        "POST",
        f"{BASE_URL}/api/20210901/system/actions/restoreSnapshot",
    )
    assert request.json == {"snapshot": {"id": "ac6fdab7", "password": "snapshotPassword123!"}}


def test_get_work_request_uses_the_documented_camel_case_path():
    assert protocol.get_work_request(BASE_URL, "wr-1").url == f"{BASE_URL}/api/20210901/workRequests/wr-1"


def test_get_system_is_a_get():
    assert protocol.get_system(BASE_URL).url == f"{BASE_URL}/api/20210901/system"


# --- read_accepted -----------------------------------------------------------------------------


def test_accepted_work_request_id_from_the_header_alone():
    accepted = protocol.read_accepted(HTTPResponse(202, {"oa-work-request-id": "wr-7"}))
    assert accepted.work_request_id == "wr-7"


def test_accepted_work_request_id_from_the_body_alone():
    assert protocol.read_accepted(json_response(202, {"workRequestId": "wr-8"})).work_request_id == "wr-8"


def test_accepted_prefers_the_header_when_header_and_body_both_name_one():
    response = json_response(202, {"workRequestId": "wr-body"}, {"oa-work-request-id": "wr-header"})
    assert protocol.read_accepted(response).work_request_id == "wr-header"


def test_accepted_reads_a_nested_work_request_object():
    assert (
        protocol.read_accepted(json_response(200, {"workRequest": {"id": "wr-9"}})).work_request_id == "wr-9"
    )


def test_accepted_reads_a_bare_id_in_the_body():
    assert protocol.read_accepted(json_response(201, {"id": "wr-10"})).work_request_id == "wr-10"


def test_accepted_falls_back_to_the_location_headers_last_segment():
    response = HTTPResponse(202, {"location": f"{BASE_URL}/api/20210901/workRequests/wr-11"})
    assert protocol.read_accepted(response).work_request_id == "wr-11"


def test_accepted_keeps_the_opc_request_id():
    response = HTTPResponse(202, {"oa-work-request-id": "wr-7", "opc-request-id": "req-123"})
    assert protocol.read_accepted(response).opc_request_id == "req-123"


def test_accepted_ignores_an_unreadable_body_when_the_header_has_the_id():
    response = HTTPResponse(
        202, {"oa-work-request-id": "wr-7", "content-type": "text/html"}, b"<html>ok</html>"
    )
    assert protocol.read_accepted(response).work_request_id == "wr-7"


def test_accepted_without_any_id_is_a_response_error_saying_where_it_looked():
    with pytest.raises(OACResponseError, match="no oa-work-request-id header, no workRequestId"):
        protocol.read_accepted(json_response(202, {"status": "ok"}))


def test_accepted_html_without_id_is_a_response_error_about_html():
    with pytest.raises(OACResponseError, match="HTML page"):
        protocol.read_accepted(html_page(200))


def test_accepted_id_with_path_characters_is_a_response_error():
    with pytest.raises(OACResponseError, match="not an id"):
        protocol.read_accepted(HTTPResponse(202, {"oa-work-request-id": "../../etc"}))


# --- read_* ------------------------------------------------------------------------------------


def test_snapshot_list_reads_items():
    response = json_response(200, {"items": [{"id": "s-1", "name": "a"}, {"id": "s-2", "name": "b"}]})
    assert [s.id for s in protocol.read_snapshots(response)] == ["s-1", "s-2"]


def test_snapshot_list_accepts_a_bare_array():
    assert [s.id for s in protocol.read_snapshots(json_response(200, [{"id": "s-1"}]))] == ["s-1"]


def test_empty_snapshot_list_is_empty():
    assert protocol.read_snapshots(json_response(200, {"items": []})) == []


def test_snapshot_list_without_items_is_a_response_error():
    with pytest.raises(OACResponseError, match="no 'items' list"):
        protocol.read_snapshots(json_response(200, {"snapshots": []}))


def test_snapshot_list_item_without_id_carries_status_and_opc_request_id():
    response = json_response(200, {"items": [{"name": "a"}]}, {"opc-request-id": "req-1"})
    with pytest.raises(OACResponseError, match="no 'id'") as caught:
        protocol.read_snapshots(response)
    assert (caught.value.status, caught.value.opc_request_id) == (200, "req-1")


def test_work_request_answered_with_html_is_a_clear_response_error():
    with pytest.raises(OACResponseError, match="OAC's work request was an HTML page"):
        protocol.read_work_request(html_page(200))


def test_truncated_work_request_json_is_a_clear_response_error():
    response = HTTPResponse(200, {"content-type": "application/json"}, b'{"id": "wr-1", "sta')
    with pytest.raises(OACResponseError, match="not valid JSON"):
        protocol.read_work_request(response)


def test_system_details_are_returned_as_a_dict():
    assert protocol.read_system(json_response(200, {"serviceVersion": "7.0"})) == {"serviceVersion": "7.0"}


# --- raise_for_status --------------------------------------------------------------------------


@pytest.mark.parametrize("status", [200, 201, 202, 204])
def test_success_statuses_do_not_raise(status):
    protocol.raise_for_status(HTTPResponse(status), "GET", SNAPSHOTS_URL)


@pytest.mark.parametrize(
    ("status", "error_class"),
    [
        (400, OACAPIError),
        (401, OACUnauthorizedError),
        (403, OACForbiddenError),
        (404, OACNotFoundError),
        (409, OACConflictError),
        (412, OACConflictError),
        (422, OACAPIError),
        (429, OACRateLimitedError),
        (500, OACServerError),
        (502, OACServerError),
        (503, OACServerError),
        (504, OACServerError),
    ],
)
def test_error_status_maps_to_its_error_class(status, error_class):
    with pytest.raises(error_class) as caught:
        protocol.raise_for_status(oac_error(status, "Code", "message"), "GET", SNAPSHOTS_URL)
    assert type(caught.value) is error_class
    assert caught.value.status == status


def test_error_message_is_one_line_with_method_path_status_code_message_and_request_id():
    response = oac_error(400, "BadRequest", "Invalid Snapshot BAR URI", opc_request_id="req-42")
    with pytest.raises(OACAPIError) as caught:
        protocol.raise_for_status(response, "POST", SNAPSHOTS_URL)
    assert str(caught.value) == (
        "OAC rejected POST /api/20210901/snapshots (HTTP 400 BadRequest): Invalid Snapshot BAR URI "
        "[opc-request-id: req-42]"
    )


def test_error_carries_oacs_code_message_request_id_method_and_url():
    response = oac_error(404, "NotFound", "Snapshot not found", opc_request_id="req-1")
    with pytest.raises(OACNotFoundError) as caught:
        protocol.raise_for_status(response, "GET", f"{SNAPSHOTS_URL}/s-1")
    error = caught.value
    assert (error.code, error.oac_message, error.opc_request_id) == (
        "NotFound",
        "Snapshot not found",
        "req-1",
    )
    assert (error.method, error.url) == ("GET", f"{SNAPSHOTS_URL}/s-1")


def test_forbidden_names_the_bi_service_administrator_role():
    with pytest.raises(OACForbiddenError, match="BI Service Administrator"):
        protocol.raise_for_status(oac_error(403, "Forbidden", "Access denied"), "GET", SNAPSHOTS_URL)


def test_server_errors_say_failed_rather_than_rejected():
    with pytest.raises(OACServerError, match="^OAC failed GET"):
        protocol.raise_for_status(oac_error(500, "InternalError", "boom"), "GET", SNAPSHOTS_URL)


def test_html_error_page_says_an_html_page_came():
    with pytest.raises(OACServerError, match=r"\(HTTP 502\): an HTML page instead of OAC's JSON error"):
        protocol.raise_for_status(html_page(502), "GET", SNAPSHOTS_URL)


def test_empty_error_body_says_no_body_came():
    with pytest.raises(OACNotFoundError, match=r"\(HTTP 404\): no response body"):
        protocol.raise_for_status(HTTPResponse(404), "GET", SNAPSHOTS_URL)


def test_json_error_without_oacs_fields_lists_the_fields_that_came():
    response = json_response(401, {"user": "ana", "status": "unauthorized"})
    with pytest.raises(OACUnauthorizedError, match=r"fields: status, user"):
        protocol.raise_for_status(response, "GET", SNAPSHOTS_URL)


def test_plain_text_error_body_is_quoted_on_one_line():
    response = HTTPResponse(400, {"content-type": "text/plain"}, b"bad\nrequest")
    with pytest.raises(OACAPIError, match="a non-JSON body: 'bad request'"):
        protocol.raise_for_status(response, "GET", SNAPSHOTS_URL)


def test_multi_line_oac_message_becomes_one_line():
    with pytest.raises(OACAPIError) as caught:
        protocol.raise_for_status(oac_error(400, "Bad", "first\n  second"), "GET", SNAPSHOTS_URL)
    assert "\n" not in str(caught.value)
    assert "first second" in str(caught.value)


def test_error_message_names_the_path_but_not_the_query_or_host():
    with pytest.raises(OACAPIError) as caught:
        protocol.raise_for_status(
            oac_error(400, "Bad", "m"), "DELETE", f"{SNAPSHOTS_URL}/s-1?deleteStorage=true"
        )
    assert "DELETE /api/20210901/snapshots/s-1 " in str(caught.value)
    assert "deleteStorage" not in str(caught.value)


def test_redirect_is_an_error_naming_where_it_went():
    response = HTTPResponse(302, {"location": "https://idcs-x.identity.oraclecloud.com/sso/v1/login?x=1"})
    with pytest.raises(
        OACAPIError, match="redirected to https://idcs-x.identity.oraclecloud.com/sso/v1/login:"
    ):
        protocol.raise_for_status(response, "GET", SNAPSHOTS_URL)


def test_rate_limit_carries_retry_after_seconds():
    with pytest.raises(OACRateLimitedError) as caught:
        protocol.raise_for_status(
            oac_error(429, "TooMany", "slow down", retry_after="7"), "GET", SNAPSHOTS_URL
        )
    assert caught.value.retry_after == 7.0
    assert "wait 7 s" in str(caught.value)


def test_service_unavailable_carries_retry_after_too():
    with pytest.raises(OACServerError) as caught:
        protocol.raise_for_status(oac_error(503, "Busy", "later", retry_after="3"), "GET", SNAPSHOTS_URL)
    assert caught.value.retry_after == 3.0


# --- Retry-After -------------------------------------------------------------------------------


def test_retry_after_in_seconds():
    assert protocol.parse_retry_after("120") == 120.0


def test_retry_after_as_http_date_counts_from_now():
    now = 1_700_000_000.0
    header = email.utils.formatdate(now + 30, usegmt=True)
    assert protocol.parse_retry_after(header, now=now) == pytest.approx(30.0)


def test_retry_after_date_in_the_past_means_no_wait():
    assert protocol.parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1_700_000_000.0) == 0.0


@pytest.mark.parametrize("value", [None, "", "soon", "nan"])
def test_unreadable_retry_after_is_none(value):
    assert protocol.parse_retry_after(value) is None


def test_negative_retry_after_means_no_wait():
    assert protocol.parse_retry_after("-5") == 0.0
