"""Retry decisions and the call flow (token per attempt, one refresh on 401), without sockets."""

from __future__ import annotations

import pytest
from oac_client_helpers import BASE_URL, ScriptedTransport, html_page, json_response, oac_error

from airflow_provider_oac._http import HTTPResponse
from airflow_provider_oac.client import protocol
from airflow_provider_oac.client.models import Snapshot, SnapshotStorageSpec, WorkRequest
from airflow_provider_oac.client.protocol import RetryPolicy, decide_retry
from airflow_provider_oac.errors import (
    OACAPIError,
    OACConfigError,
    OACNotFoundError,
    OACOutcomeUnknownError,
    OACRateLimitedError,
    OACServerError,
    OACTimeoutError,
    OACTransportError,
    OACUnauthorizedError,
    OACWorkRequestFailed,
    OACWorkRequestTimeout,
)

POLICY = RetryPolicy(max_attempts=5, base_delay=1.0, max_delay=30.0, max_retry_after=300.0)
ALWAYS_MAX = lambda: 1.0  # noqa: E731  full jitter at its ceiling, to make delays predictable


def api_error(status: int, retry_after: float | None = None) -> OACAPIError:
    return OACAPIError("x", status=status, retry_after=retry_after)


def timeout(sent: bool = True) -> OACTimeoutError:
    return OACTimeoutError("no answer", method="POST", url="u", request_sent=sent)


def refused() -> OACTransportError:
    return OACTransportError("refused", method="POST", url="u", request_sent=False)


# --- decide_retry ------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "DELETE"])
@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_safe_methods_retry_rate_limits_and_server_errors(method, status):
    assert decide_retry(POLICY, method, 1, error=api_error(status)) is not None


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 412, 501])
def test_client_errors_and_not_implemented_are_never_retried(status):
    assert decide_retry(POLICY, "GET", 1, error=api_error(status)) is None


@pytest.mark.parametrize("error", [timeout(sent=True), refused()])
def test_get_retries_any_transport_failure(error):
    assert decide_retry(POLICY, "GET", 1, error=error) is not None


def test_post_retries_a_transport_failure_before_the_request_was_sent():
    assert decide_retry(POLICY, "POST", 1, error=refused()) is not None


def test_post_never_retries_a_timeout_after_the_request_was_sent():
    assert decide_retry(POLICY, "POST", 1, error=timeout(sent=True)) is None


@pytest.mark.parametrize("status", [500, 502, 504])
def test_post_never_retries_server_errors_that_may_have_acted(status):
    assert decide_retry(POLICY, "POST", 1, error=api_error(status)) is None


@pytest.mark.parametrize("status", [429, 503])
def test_post_retries_answers_that_prove_nothing_happened(status):
    assert decide_retry(POLICY, "POST", 1, error=api_error(status)) is not None


@pytest.mark.parametrize(("method", "status"), [("GET", 429), ("GET", 503), ("POST", 429), ("POST", 503)])
def test_retry_after_is_honoured_exactly(method, status):
    assert decide_retry(POLICY, method, 1, error=api_error(status, retry_after=12.0)) == 12.0


def test_retry_after_is_capped():
    assert decide_retry(POLICY, "GET", 1, error=api_error(429, retry_after=3600.0)) == 300.0


def test_retry_after_on_a_500_is_not_used():
    delay = decide_retry(POLICY, "GET", 1, error=api_error(500, retry_after=99.0), random=ALWAYS_MAX)
    assert delay == 1.0


def test_backoff_doubles_per_attempt_up_to_max_delay():
    delays = [
        decide_retry(RetryPolicy(max_attempts=10), "GET", n, error=api_error(502), random=ALWAYS_MAX)
        for n in range(1, 8)
    ]
    assert delays == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]


def test_backoff_uses_full_jitter():
    assert decide_retry(POLICY, "GET", 3, error=api_error(502), random=lambda: 0.25) == 1.0


def test_no_retry_once_max_attempts_were_made():
    assert decide_retry(POLICY, "GET", 5, error=api_error(503)) is None


def test_retry_policy_refuses_zero_attempts():
    with pytest.raises(OACConfigError, match="max_attempts"):
        RetryPolicy(max_attempts=0)


def test_retry_policy_refuses_negative_delays():
    with pytest.raises(OACConfigError, match="base_delay"):
        RetryPolicy(base_delay=-1)


# --- final_error -------------------------------------------------------------------------------


def test_post_timeout_after_sending_becomes_outcome_unknown_naming_the_operation():
    error = protocol.final_error("POST", timeout(sent=True), "create_snapshot")
    assert isinstance(error, OACOutcomeUnknownError)
    assert error.operation == "create_snapshot"
    assert "create snapshot" in str(error)
    assert "Do not send it again" in str(error)


def test_post_502_becomes_outcome_unknown():
    assert isinstance(
        protocol.final_error("POST", api_error(502), "restore_snapshot"), OACOutcomeUnknownError
    )


def test_post_429_stays_a_rate_limit_error_because_nothing_happened():
    error = OACRateLimitedError("x", status=429)
    assert protocol.final_error("POST", error, "create_snapshot") is error


def test_get_failures_stay_as_they_are():
    error = api_error(500)
    assert protocol.final_error("GET", error, None) is error


# --- call_flow ---------------------------------------------------------------------------------

OK = json_response(200, {"items": []})
GET = protocol.list_snapshots(BASE_URL)
CREATE = protocol.create_snapshot(BASE_URL, "nightly", "Hunter2-Secret-Pa55", SnapshotStorageSpec("b"))


def test_each_attempt_carries_the_bearer_token():
    transport = ScriptedTransport([OK])
    assert transport.run(GET) is OK
    assert transport.authorizations == ["Bearer token-1"]


def test_first_401_invalidates_that_token_and_retries_once_with_a_fresh_one():
    transport = ScriptedTransport([oac_error(401, "Unauthorized", "expired"), OK])
    assert transport.run(GET) is OK
    assert transport.invalidated == ["token-1"]
    assert transport.authorizations == ["Bearer token-1", "Bearer token-2"]
    assert transport.sleeps == []


def test_second_401_is_final():
    transport = ScriptedTransport([oac_error(401, "U", "expired"), oac_error(401, "U", "still no")])
    with pytest.raises(OACUnauthorizedError, match="still no"):
        transport.run(GET)
    assert len(transport.sent) == 2
    assert transport.invalidated == ["token-1"]


def test_401_on_a_post_is_retried_once_because_oac_did_not_act():
    transport = ScriptedTransport(
        [oac_error(401, "U", "expired"), HTTPResponse(202, {"oa-work-request-id": "wr-1"})]
    )
    assert transport.run(CREATE, operation="create_snapshot").status == 202
    assert len(transport.sent) == 2


def test_the_token_refresh_does_not_use_up_a_retry_attempt():
    transport = ScriptedTransport([oac_error(401, "U", "x"), oac_error(503, "B", "y"), OK])
    assert transport.run(GET, RetryPolicy(max_attempts=2)) is OK


def test_get_retries_a_503_after_the_backoff_sleep():
    transport = ScriptedTransport([oac_error(503, "Busy", "later"), OK])
    assert transport.run(GET, RetryPolicy(base_delay=0.5), random=ALWAYS_MAX) is OK
    assert transport.sleeps == [0.5]


def test_get_gives_up_after_max_attempts_with_the_last_error():
    transport = ScriptedTransport([oac_error(503, "Busy", "later")] * 3)
    with pytest.raises(OACServerError, match="HTTP 503 Busy"):
        transport.run(GET, RetryPolicy(max_attempts=3))
    assert len(transport.sent) == 3
    assert len(transport.sleeps) == 2


def test_get_retries_a_timeout():
    transport = ScriptedTransport([OACTimeoutError("slow", request_sent=True), OK])
    assert transport.run(GET) is OK


def test_post_timeout_is_sent_once_and_raises_outcome_unknown():
    transport = ScriptedTransport([OACTimeoutError("slow", request_sent=True), OK])
    with pytest.raises(OACOutcomeUnknownError) as caught:
        transport.run(CREATE, operation="create_snapshot")
    assert len(transport.sent) == 1
    assert isinstance(caught.value.cause, OACTimeoutError)


def test_post_500_is_sent_once_and_raises_outcome_unknown():
    transport = ScriptedTransport([oac_error(500, "Internal", "boom"), OK])
    with pytest.raises(OACOutcomeUnknownError, match="HTTP 500 Internal"):
        transport.run(CREATE, operation="create_snapshot")
    assert len(transport.sent) == 1


def test_post_refused_connection_is_retried():
    accepted = HTTPResponse(202, {"oa-work-request-id": "wr-1"})
    transport = ScriptedTransport([refused(), accepted])
    assert transport.run(CREATE, operation="create_snapshot") is accepted
    assert len(transport.sent) == 2


def test_post_429_waits_the_retry_after_then_retries():
    accepted = HTTPResponse(202, {"oa-work-request-id": "wr-1"})
    transport = ScriptedTransport([oac_error(429, "TooMany", "slow", retry_after="4"), accepted])
    assert transport.run(CREATE, operation="create_snapshot") is accepted
    assert transport.sleeps == [4.0]


def test_outcome_unknown_message_never_contains_the_password_or_token():
    transport = ScriptedTransport([html_page(502)])
    with pytest.raises(OACOutcomeUnknownError) as caught:
        transport.run(CREATE, operation="create_snapshot")
    assert "Hunter2-Secret-Pa55" not in str(caught.value)
    assert "token-1" not in str(caught.value)


def test_delete_not_found_after_an_unclear_attempt_counts_as_deleted():
    request = protocol.delete_snapshot(BASE_URL, "s-1")
    transport = ScriptedTransport([OACTimeoutError("slow", request_sent=True), HTTPResponse(404)])
    assert transport.run(request).status == 404


def test_delete_not_found_on_the_first_attempt_is_not_found():
    transport = ScriptedTransport([oac_error(404, "NotFound", "no such snapshot")])
    with pytest.raises(OACNotFoundError):
        transport.run(protocol.delete_snapshot(BASE_URL, "s-1"))


# --- work requests -----------------------------------------------------------------------------


def work_request(status: str, **fields) -> WorkRequest:
    return WorkRequest.from_json(
        {"id": "wr-1", "status": status, "operationType": "CREATE_SNAPSHOT", **fields}
    )


@pytest.mark.parametrize("status", ["ACCEPTED", "IN_PROGRESS", "CANCELING", "SOMETHING_NEW"])
def test_running_work_request_is_not_finished(status):
    assert protocol.check_work_request(work_request(status)) is False


def test_succeeded_work_request_is_finished():
    assert protocol.check_work_request(work_request("SUCCEEDED")) is True


def test_failed_work_request_raises_with_oacs_own_message():
    failed = work_request(
        "FAILED", Errors=[{"code": "BucketNotFound", "message": "Bucket oac-snaps not found"}]
    )
    with pytest.raises(OACWorkRequestFailed) as caught:
        protocol.check_work_request(failed)
    assert str(caught.value) == (
        "OAC work request wr-1 (CREATE_SNAPSHOT) ended FAILED: Bucket oac-snaps not found (BucketNotFound)"
    )
    assert (caught.value.work_request_id, caught.value.status) == ("wr-1", "FAILED")
    assert caught.value.errors[0].code == "BucketNotFound"


def test_canceled_work_request_raises_even_without_a_message():
    with pytest.raises(OACWorkRequestFailed, match="ended CANCELED: OAC gave no error message"):
        protocol.check_work_request(work_request("CANCELED"))


def test_poll_delay_is_the_interval_without_a_deadline():
    assert protocol.next_poll_delay(work_request("IN_PROGRESS"), poll_interval=10, deadline=None, now=0) == 10


def test_poll_delay_is_shortened_to_the_deadline():
    assert protocol.next_poll_delay(work_request("IN_PROGRESS"), poll_interval=10, deadline=103, now=100) == 3


def test_poll_past_the_deadline_raises_timeout_with_progress():
    running = work_request("IN_PROGRESS", percentComplete=40)
    with pytest.raises(OACWorkRequestTimeout, match="still IN_PROGRESS, 40% complete") as caught:
        protocol.next_poll_delay(running, poll_interval=10, deadline=100, now=100)
    assert caught.value.work_request_id == "wr-1"


# --- finding the created snapshot ---------------------------------------------------------------


def snapshot(snapshot_id: str, name: str, created: str | None) -> Snapshot:
    return Snapshot.from_json({"id": snapshot_id, "name": name, "timeCreated": created})


def test_created_snapshot_is_the_one_the_work_request_names():
    done = work_request("SUCCEEDED", resources=[{"actionResult": "CREATED", "id": "s-2"}])
    snapshots = [snapshot("s-1", "nightly", "2024-01-02T00:00:00Z"), snapshot("s-2", "other", None)]
    assert protocol.pick_created_snapshot(snapshots, "nightly", done).id == "s-2"


def test_created_snapshot_without_resources_is_the_newest_with_that_name():
    snapshots = [
        snapshot("old", "nightly", "2024-01-01T00:00:00Z"),
        snapshot("new", "nightly", "2024-01-02T00:00:00Z"),
        snapshot("x", "weekly", "2024-01-03T00:00:00Z"),
    ]
    assert protocol.pick_created_snapshot(snapshots, "nightly", work_request("SUCCEEDED")).id == "new"


def test_same_name_snapshot_from_before_the_work_request_is_not_taken_for_the_new_one():
    done = work_request("SUCCEEDED", timeAccepted="2024-01-05T00:00:00Z")
    snapshots = [snapshot("last-week", "nightly", "2024-01-01T00:00:00Z")]
    assert protocol.pick_created_snapshot(snapshots, "nightly", done) is None


def test_snapshots_named_sorts_newest_first_and_undated_last():
    snapshots = [
        snapshot("undated", "n", None),
        snapshot("old", "n", "2024-01-01T00:00:00Z"),
        snapshot("new", "n", "2024-02-01T00:00:00+05:00"),
    ]
    assert [s.id for s in protocol.snapshots_named(snapshots, "n")] == ["new", "old", "undated"]


def test_looking_for_the_snapshot_of_an_unfinished_work_request_is_refused():
    with pytest.raises(OACConfigError, match="not SUCCEEDED"):
        protocol.require_succeeded(work_request("IN_PROGRESS"))
