"""The client's operations as flows (``client.operations``), run without sockets.

OACClient and AsyncOACClient only execute these steps; ``test_client_emulator.py`` runs both
over real HTTP.
"""

from __future__ import annotations

import asyncio

import pytest
from oac_client_helpers import BASE_URL, ScriptedTransport, json_response, oac_error

from airflow_provider_oac import _http
from airflow_provider_oac._http import HTTPResponse, Send, arun_flow, run_flow
from airflow_provider_oac.auth.protocol import token_endpoint_backoff
from airflow_provider_oac.client import protocol
from airflow_provider_oac.client.models import WorkRequest
from airflow_provider_oac.client.operations import Operations
from airflow_provider_oac.client.protocol import RetryPolicy
from airflow_provider_oac.errors import (
    OACConfigError,
    OACResponseError,
    OACTransportError,
    OACWorkRequestFailed,
    OACWorkRequestTimeout,
)

OPERATIONS = Operations(BASE_URL, RetryPolicy())


def work_request_json(status: str, **fields) -> dict:
    return {"id": "wr-1", "status": status, "operationType": "CREATE_SNAPSHOT", **fields}


def work_request_answer(status: str, **fields) -> HTTPResponse:
    return json_response(200, work_request_json(status, **fields))


# --- waiting for a work request ---------------------------------------------------------------


def test_wait_polls_until_succeeded_sleeping_the_poll_interval_between_polls():
    transport = ScriptedTransport(
        [
            work_request_answer("ACCEPTED"),
            work_request_answer("IN_PROGRESS"),
            work_request_answer("SUCCEEDED"),
        ]
    )
    seen: list[str] = []
    done = transport.run_flow(
        OPERATIONS.wait_for_work_request(
            "wr-1", poll_interval=7.0, on_poll=lambda w: seen.append(w.status.value)
        )
    )
    assert done.status.is_success
    assert transport.sleeps == [7.0, 7.0]
    assert seen == ["ACCEPTED", "IN_PROGRESS", "SUCCEEDED"]


def test_wait_shortens_the_last_sleep_to_the_deadline_then_times_out_without_another_poll():
    transport = ScriptedTransport([work_request_answer("IN_PROGRESS", percentComplete=40)] * 3)
    with pytest.raises(OACWorkRequestTimeout, match="40% complete"):
        transport.run_flow(OPERATIONS.wait_for_work_request("wr-1", poll_interval=10.0, timeout=15.0))
    assert transport.sleeps == [10.0, 5.0]
    assert len(transport.sent) == 3


def test_wait_raises_oacs_own_message_when_the_work_request_failed():
    failed = work_request_answer("FAILED", errors=[{"code": "X", "message": "bucket not found"}])
    with pytest.raises(OACWorkRequestFailed, match="bucket not found"):
        ScriptedTransport([failed]).run_flow(OPERATIONS.wait_for_work_request("wr-1"))


def test_wait_refuses_a_zero_poll_interval_before_any_request():
    transport = ScriptedTransport([])
    with pytest.raises(OACConfigError, match="poll_interval"):
        transport.run_flow(OPERATIONS.wait_for_work_request("wr-1", poll_interval=0))
    assert transport.sent == []


# --- finding the created snapshot ---------------------------------------------------------------

SUCCEEDED = WorkRequest.from_json(
    work_request_json(
        "SUCCEEDED",
        timeAccepted="2024-01-02T00:00:00Z",
        resources=[{"actionResult": "CREATED", "id": "s-2", "entityType": "snapshot"}],
    )
)
NEW = {"id": "s-3", "name": "nightly", "timeCreated": "2024-01-02T00:01:00Z"}
OLD = {"id": "s-1", "name": "nightly", "timeCreated": "2023-12-01T00:00:00Z"}


def test_created_snapshot_is_fetched_by_the_id_the_work_request_names():
    transport = ScriptedTransport([json_response(200, {**NEW, "id": "s-2"})])
    assert transport.run_flow(OPERATIONS.find_created_snapshot("nightly", SUCCEEDED)).id == "s-2"
    assert [request.method for request in transport.sent] == ["GET"]


def test_created_snapshot_falls_back_to_the_newest_of_that_name_when_the_id_is_not_a_snapshot():
    transport = ScriptedTransport(
        [oac_error(404, "NotFound", "no such snapshot"), json_response(200, {"items": [OLD, NEW]})]
    )
    assert transport.run_flow(OPERATIONS.find_created_snapshot("nightly", SUCCEEDED)).id == "s-3"


def test_created_snapshot_that_oac_does_not_list_is_none_or_a_response_error():
    answers = [oac_error(404, "NotFound", "gone"), json_response(200, {"items": [OLD]})]
    assert (
        ScriptedTransport(list(answers)).run_flow(OPERATIONS.created_snapshot("nightly", SUCCEEDED)) is None
    )
    with pytest.raises(OACResponseError, match="lists no new snapshot"):
        ScriptedTransport(list(answers)).run_flow(OPERATIONS.find_created_snapshot("nightly", SUCCEEDED))


# --- the operations object and the drivers ------------------------------------------------------


def test_turned_off_tls_verification_is_refused_for_both_clients_alike():
    with pytest.raises(OACConfigError, match="cannot be turned off"):
        Operations(BASE_URL, RetryPolicy(), verify=False)


def test_sync_and_async_drivers_run_a_flow_to_the_same_result_and_steps():
    answers = [oac_error(503, "Busy", "later", retry_after="2"), work_request_answer("SUCCEEDED")]
    sync_transport, async_transport = ScriptedTransport(list(answers)), ScriptedTransport(list(answers))

    async def execute(step):
        return async_transport.execute(step)

    sync_result = run_flow(OPERATIONS.get_work_request("wr-1"), sync_transport.execute)
    async_result = asyncio.run(arun_flow(OPERATIONS.get_work_request("wr-1"), execute))
    assert sync_result == async_result
    assert sync_transport.sleeps == async_transport.sleeps == [2.0]
    assert [r.url for r in sync_transport.sent] == [r.url for r in async_transport.sent]


def test_only_a_send_has_its_transport_error_thrown_into_the_flow():
    def flow():
        try:
            yield protocol.GetToken()
        except OACTransportError:  # pragma: no cover - must not be reached
            return "caught"
        return "done"

    def execute(step):
        raise OACTransportError("not from a send", request_sent=False)

    with pytest.raises(OACTransportError, match="not from a send"):
        run_flow(flow(), execute)

    def send_flow():
        try:
            yield Send(protocol.get_system(BASE_URL))
        except OACTransportError:
            return "caught"
        return "done"

    assert run_flow(send_flow(), execute) == "caught"


def test_oac_and_iam_retries_share_one_backoff_formula():
    for attempt in range(1, 10):
        oac = RetryPolicy(base_delay=1.0, max_delay=30.0).backoff(attempt, random=lambda: 0.7)
        iam = token_endpoint_backoff(attempt, base=1.0, cap=30.0, rand=lambda: 0.7)
        assert oac == iam == _http.backoff(attempt, base=1.0, cap=30.0, random=lambda: 0.7)
