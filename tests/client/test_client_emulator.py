"""The sync and async OAC clients against the emulator (fake OAC + IAM) over real HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio

import pytest

pytest.importorskip("airflow_provider_oac.emulator.server", reason="the emulator is not in the tree yet")

from oac_client_helpers import EmulatorTime, EmulatorTokens  # noqa: E402

from airflow_provider_oac.client import (  # noqa: E402
    AsyncOACClient,
    OACClient,
    RetryPolicy,
    SnapshotStorageSpec,
    StaticTokenSource,
    WorkRequestStatus,
)
from airflow_provider_oac.errors import (  # noqa: E402
    OACForbiddenError,
    OACNotFoundError,
    OACOutcomeUnknownError,
    OACRateLimitedError,
    OACResponseError,
    OACServerError,
    OACTimeoutError,
    OACUnauthorizedError,
    OACWorkRequestFailed,
    OACWorkRequestTimeout,
)

SNAPSHOTS = "/api/20210901/snapshots"
RESTORE = "/api/20210901/system/actions/restoreSnapshot"
STORAGE = SnapshotStorageSpec("oac-snaps")
PASSWORD = "snapshotPassword123!"


@pytest.fixture
def tokens(emulator):
    return EmulatorTokens(emulator)


@pytest.fixture
def clock(emulator):
    return EmulatorTime(emulator)


@pytest.fixture
def oac(emulator, tokens, clock):
    with OACClient(
        emulator.url, tokens, sleep=clock.sleep, clock=clock.monotonic, timeout=(5.0, 5.0)
    ) as client:
        yield client


def oac_requests(emulator) -> int:
    """OAC requests that reached the emulator (counted on arrival, so held requests count too)."""
    return emulator.control.counters()["oac_requests"]


def create_and_wait(oac: OACClient, name: str = "nightly", **kwargs):
    accepted = oac.create_snapshot(name, PASSWORD, STORAGE, **kwargs)
    return oac.wait_for_work_request(accepted.work_request_id, poll_interval=1.0)


# --- the happy paths -------------------------------------------------------------------------------


def test_create_wait_and_find_the_new_snapshots_id(emulator, oac):
    accepted = oac.create_snapshot("nightly", PASSWORD, STORAGE)
    work_request = oac.wait_for_work_request(accepted.work_request_id, poll_interval=1.0)
    snapshot = oac.find_created_snapshot("nightly", work_request)

    assert work_request.status is WorkRequestStatus.SUCCEEDED
    assert work_request.operation_type == "CREATE_SNAPSHOT"
    [record] = emulator.control.snapshots()
    assert snapshot.id == record["id"]
    assert snapshot.name == "nightly"
    assert snapshot.bar_uri == "file:///nightly.bar"
    assert snapshot.storage is not None and snapshot.storage.bucket == "oac-snaps"


def test_accepted_id_is_read_from_the_header_when_oac_sends_no_body(emulator, oac):
    emulator.control.configure(create_work_request_in_body=False, create_work_request_in_header=True)
    work_request = create_and_wait(oac)
    assert work_request.status is WorkRequestStatus.SUCCEEDED


def test_accepted_carries_oacs_opc_request_id(oac):
    assert oac.create_snapshot("nightly", PASSWORD, STORAGE).opc_request_id


def test_created_snapshot_is_found_by_name_when_the_work_request_names_no_resource(emulator, oac):
    work_request = create_and_wait(oac)
    from dataclasses import replace

    without_resources = replace(work_request, resources=())
    [record] = emulator.control.snapshots()
    assert oac.find_created_snapshot("nightly", without_resources).id == record["id"]


def test_wait_reports_every_poll_with_progress(oac):
    accepted = oac.create_snapshot("nightly", PASSWORD, STORAGE)
    seen = []
    oac.wait_for_work_request(accepted.work_request_id, poll_interval=1.0, on_poll=seen.append)
    assert [wr.status for wr in seen][-1] is WorkRequestStatus.SUCCEEDED
    assert len(seen) >= 3
    assert any(wr.status is WorkRequestStatus.IN_PROGRESS for wr in seen)


def test_find_snapshots_returns_only_that_name_newest_first(oac, clock):
    create_and_wait(oac, "nightly", bar_uri="file:///first.bar")
    clock.sleep(60)
    create_and_wait(oac, "nightly", bar_uri="file:///second.bar")
    create_and_wait(oac, "weekly")
    found = oac.find_snapshots("nightly")
    assert [s.bar_uri for s in found] == ["file:///second.bar", "file:///first.bar"]


def test_list_and_get_snapshot(oac):
    create_and_wait(oac)
    [listed] = oac.list_snapshots()
    assert oac.get_snapshot(listed.id) == listed


def test_restore_runs_to_success_on_the_chosen_snapshot(emulator, oac):
    snapshot = oac.find_created_snapshot("nightly", create_and_wait(oac))
    accepted = oac.restore_snapshot(snapshot.id, PASSWORD)
    work_request = oac.wait_for_work_request(accepted.work_request_id, poll_interval=1.0)
    assert work_request.operation_type == "RESTORE_SNAPSHOT"
    [restore] = emulator.control.restores()
    assert (restore["snapshot_id"], restore["status"]) == (snapshot.id, "SUCCEEDED")
    assert oac.get_system()["lastRestoredSnapshotId"] == snapshot.id


def test_restore_with_the_wrong_password_fails_with_oacs_message(oac):
    snapshot = oac.find_created_snapshot("nightly", create_and_wait(oac))
    accepted = oac.restore_snapshot(snapshot.id, "wrong-password")
    with pytest.raises(
        OACWorkRequestFailed, match="The password for snapshot nightly is incorrect"
    ) as caught:
        oac.wait_for_work_request(accepted.work_request_id, poll_interval=1.0)
    assert caught.value.work_request_id == accepted.work_request_id
    assert caught.value.status == "FAILED"


def test_register_an_existing_bar_file(emulator, oac):
    emulator.control.put_bar_object("oac-snaps", "file:///imported.bar", PASSWORD)
    accepted = oac.register_snapshot("imported", "file:///imported.bar", STORAGE, password=PASSWORD)
    work_request = oac.wait_for_work_request(accepted.work_request_id, poll_interval=1.0)
    assert oac.find_created_snapshot("imported", work_request).bar_uri == "file:///imported.bar"


def test_delete_deregisters_and_keeps_the_bar_file_by_default(emulator, oac):
    snapshot = oac.find_created_snapshot("nightly", create_and_wait(oac))
    oac.delete_snapshot(snapshot.id)
    with pytest.raises(OACNotFoundError):
        oac.get_snapshot(snapshot.id)
    assert [obj["object"] for obj in emulator.control.bar_objects()] == ["nightly.bar"]


def test_delete_with_storage_removes_the_bar_file(emulator, oac):
    snapshot = oac.find_created_snapshot("nightly", create_and_wait(oac))
    oac.delete_snapshot(snapshot.id, delete_storage=True)
    assert emulator.control.bar_objects() == []


def test_deleting_an_unknown_snapshot_is_not_found_with_oacs_message(oac):
    with pytest.raises(OACNotFoundError, match=r"\(HTTP 404 NotFound\): Snapshot no-such-id was not found"):
        oac.delete_snapshot("no-such-id")


def test_get_system_returns_the_instance_details(oac):
    assert oac.get_system()["apiVersion"] == "20210901"


# --- tokens ----------------------------------------------------------------------------------------


def test_expired_token_is_refreshed_once_and_the_call_retried(emulator, oac, tokens):
    oac.list_snapshots()
    emulator.control.expire_access_tokens()
    assert oac.list_snapshots() == []
    assert len(tokens.invalidated) == 1
    assert tokens.refreshes == 1
    assert emulator.control.counters()["oac_unauthorized"] == 1


def test_a_second_401_after_the_refresh_is_final(emulator, oac, tokens):
    emulator.control.add_fault(f"GET {SNAPSHOTS}", "expire_token", times=2)
    with pytest.raises(OACUnauthorizedError, match="access token"):
        oac.list_snapshots()
    assert emulator.control.counters()["oac_unauthorized"] == 2
    assert tokens.refreshes == 1


def test_a_post_refused_for_an_expired_token_is_sent_again_and_creates_one_snapshot(emulator, oac):
    emulator.control.add_fault(f"POST {SNAPSHOTS}", "expire_token")
    oac.create_snapshot("nightly", PASSWORD, STORAGE)
    assert emulator.control.counters()["snapshots_created"] == 1


def test_static_token_that_oac_refuses_fails_after_one_retry(emulator):
    with (
        OACClient(emulator.url, StaticTokenSource("not-a-token")) as client,
        pytest.raises(OACUnauthorizedError, match="not signed by this identity domain"),
    ):
        client.list_snapshots()
    assert emulator.control.counters()["oac_unauthorized"] == 2


def test_forbidden_names_the_role_and_carries_the_opc_request_id(emulator, oac):
    emulator.control.add_fault(f"GET {SNAPSHOTS}", "status", status=403)
    with pytest.raises(OACForbiddenError, match="BI Service Administrator") as caught:
        oac.list_snapshots()
    assert caught.value.opc_request_id
    assert f"[opc-request-id: {caught.value.opc_request_id}]" in str(caught.value)


# --- retries ---------------------------------------------------------------------------------------


def test_get_429_waits_the_retry_after_then_succeeds(emulator, oac, clock):
    emulator.control.add_fault(f"GET {SNAPSHOTS}", "status", status=429, retry_after=7)
    assert oac.list_snapshots() == []
    assert clock.sleeps == [7.0]


def test_post_429_waits_the_retry_after_and_creates_exactly_one_snapshot(emulator, oac, clock):
    emulator.control.add_fault(f"POST {SNAPSHOTS}", "status", status=429, retry_after=7)
    accepted = oac.create_snapshot("nightly", PASSWORD, STORAGE)
    assert clock.sleeps == [7.0]
    assert oac_requests(emulator) == 2
    assert emulator.control.counters()["snapshots_created"] == 1
    assert oac.get_work_request(accepted.work_request_id).id == accepted.work_request_id


def test_post_503_is_retried_because_oac_did_not_act(emulator, oac):
    emulator.control.add_fault(f"POST {RESTORE}", "status", status=503)
    snapshot = oac.find_created_snapshot("nightly", create_and_wait(oac))
    oac.restore_snapshot(snapshot.id, PASSWORD)
    assert emulator.control.counters()["restores_started"] == 1


def test_get_503_and_500_back_off_then_succeed(emulator, oac, clock):
    emulator.control.add_fault(f"GET {SNAPSHOTS}", "status", status=503, times=2)
    emulator.control.add_fault(f"GET {SNAPSHOTS}", "status", status=500)
    assert oac.list_snapshots() == []
    assert len(clock.sleeps) == 3
    assert all(0 <= delay <= 4.0 for delay in clock.sleeps)


def test_get_gives_up_after_max_attempts(emulator, tokens, clock):
    emulator.control.add_fault(f"GET {SNAPSHOTS}", "status", status=502, times=10)
    expected = r"OAC failed GET /api/20210901/snapshots \(HTTP 502 BadGateway\)"
    client = OACClient(emulator.url, tokens, sleep=clock.sleep, retry=RetryPolicy(max_attempts=3))
    with client, pytest.raises(OACServerError, match=expected):
        client.list_snapshots()
    assert len(clock.sleeps) == 2


def test_post_timeout_is_outcome_unknown_and_creates_exactly_one_snapshot(emulator, tokens, clock):
    emulator.control.add_fault(f"POST {SNAPSHOTS}", "accept_then_hang", delay=10)
    with (
        OACClient(emulator.url, tokens, sleep=clock.sleep, timeout=(5.0, 0.5)) as client,
        pytest.raises(OACOutcomeUnknownError) as caught,
    ):
        client.create_snapshot("nightly", PASSWORD, STORAGE)
    assert caught.value.operation == "create_snapshot"
    assert isinstance(caught.value.cause, OACTimeoutError)
    assert PASSWORD not in str(caught.value)
    assert oac_requests(emulator) == 1
    assert emulator.control.counters()["snapshots_created"] == 1
    assert clock.sleeps == []


def test_post_502_after_oac_acted_is_outcome_unknown_and_not_resent(emulator, oac):
    emulator.control.add_fault(f"POST {SNAPSHOTS}", "accept_then_error", status=502)
    with pytest.raises(OACOutcomeUnknownError, match="HTTP 502"):
        oac.create_snapshot("nightly", PASSWORD, STORAGE)
    assert oac_requests(emulator) == 1
    assert emulator.control.counters()["snapshots_created"] == 1


def test_restore_timeout_is_outcome_unknown_and_starts_exactly_one_restore(emulator, oac, tokens, clock):
    snapshot = oac.find_created_snapshot("nightly", create_and_wait(oac))
    requests_before = oac_requests(emulator)
    emulator.control.add_fault(f"POST {RESTORE}", "accept_then_hang", delay=10)
    with (
        OACClient(emulator.url, tokens, sleep=clock.sleep, timeout=(5.0, 0.5)) as client,
        pytest.raises(OACOutcomeUnknownError) as caught,
    ):
        client.restore_snapshot(snapshot.id, PASSWORD)
    assert caught.value.operation == "restore_snapshot"
    assert oac_requests(emulator) == requests_before + 1
    assert emulator.control.counters()["restores_started"] == 1


def test_get_timeout_is_retried(emulator, tokens, clock):
    emulator.control.add_fault(f"GET {SNAPSHOTS}", "delay", delay=2)
    with OACClient(emulator.url, tokens, sleep=clock.sleep, timeout=(5.0, 0.5)) as client:
        assert client.list_snapshots() == []
    assert len(clock.sleeps) == 1


def test_delete_whose_answer_was_lost_counts_as_done_when_the_retry_finds_nothing(
    emulator, oac, tokens, clock
):
    snapshot = oac.find_created_snapshot("nightly", create_and_wait(oac))
    emulator.control.add_fault(f"DELETE {SNAPSHOTS}/*", "accept_then_error", status=504)
    oac.delete_snapshot(snapshot.id)
    assert emulator.control.counters()["snapshots_deleted"] == 1
    assert oac.list_snapshots() == []


# --- unreadable answers ------------------------------------------------------------------------------


def test_html_page_instead_of_json_is_a_clear_response_error(emulator, oac):
    emulator.control.add_fault(f"GET {SNAPSHOTS}", "html")
    with pytest.raises(OACResponseError, match="OAC's snapshot list was an HTML page"):
        oac.list_snapshots()


def test_truncated_json_is_a_clear_response_error(emulator, oac):
    emulator.control.add_fault(f"GET {SNAPSHOTS}", "malformed")
    with pytest.raises(OACResponseError, match="OAC's snapshot list was not valid JSON"):
        oac.list_snapshots()


def test_html_error_page_on_a_failed_get_says_so(emulator, oac):
    emulator.control.add_fault(f"GET {SNAPSHOTS}/*", "html", status=404)
    with pytest.raises(OACNotFoundError, match="an HTML page instead of OAC's JSON error"):
        oac.get_snapshot("s-1")


def test_unreadable_answer_to_a_create_is_outcome_unknown_and_not_resent(emulator, oac):
    emulator.control.add_fault(f"POST {SNAPSHOTS}", "html", status=200)
    with pytest.raises(OACOutcomeUnknownError, match="HTML page") as caught:
        oac.create_snapshot("nightly", PASSWORD, STORAGE)
    assert isinstance(caught.value.cause, OACResponseError)
    assert oac_requests(emulator) == 1


# --- failed and slow work requests -------------------------------------------------------------------


def test_failed_work_request_raises_with_oacs_own_message(emulator, oac):
    emulator.control.add_fault(
        f"POST {SNAPSHOTS}",
        "fail_work_request",
        code="BucketNotWritable",
        message="Bucket oac-snaps is read-only.",
    )
    accepted = oac.create_snapshot("nightly", PASSWORD, STORAGE)
    with pytest.raises(OACWorkRequestFailed) as caught:
        oac.wait_for_work_request(accepted.work_request_id, poll_interval=1.0)
    assert str(caught.value).endswith("ended FAILED: Bucket oac-snaps is read-only. (BucketNotWritable)")
    assert caught.value.errors[0].code == "BucketNotWritable"


def test_failed_work_request_errors_under_a_lowercase_key_are_read_too(emulator, oac):
    emulator.control.configure(work_request_errors_key="errors")
    emulator.control.add_fault(f"POST {SNAPSHOTS}", "fail_work_request", message="Disk full.")
    accepted = oac.create_snapshot("nightly", PASSWORD, STORAGE)
    with pytest.raises(OACWorkRequestFailed, match="Disk full."):
        oac.wait_for_work_request(accepted.work_request_id, poll_interval=1.0)


def test_stuck_work_request_times_out_and_can_be_waited_for_again(emulator, oac):
    emulator.control.add_fault(f"POST {SNAPSHOTS}", "stuck_work_request")
    accepted = oac.create_snapshot("nightly", PASSWORD, STORAGE)
    with pytest.raises(OACWorkRequestTimeout, match="still IN_PROGRESS") as caught:
        oac.wait_for_work_request(accepted.work_request_id, poll_interval=5.0, timeout=30.0)
    assert caught.value.work_request_id == accepted.work_request_id
    emulator.control.release_work_requests()
    assert oac.wait_for_work_request(accepted.work_request_id).status is WorkRequestStatus.SUCCEEDED


def test_unknown_work_request_is_not_found(oac):
    with pytest.raises(OACNotFoundError):
        oac.get_work_request("00000000-0000-0000-0000-000000000000")


# --- async client --------------------------------------------------------------------------------------


def run(coroutine):
    return asyncio.run(coroutine)


def async_client(emulator, tokens, clock, **kwargs) -> AsyncOACClient:
    return AsyncOACClient(emulator.url, tokens, sleep=clock.asleep, clock=clock.monotonic, **kwargs)


def test_async_create_wait_find_restore_and_delete(emulator, tokens, clock):
    async def scenario():
        async with async_client(emulator, tokens, clock) as client:
            accepted = await client.create_snapshot("nightly", PASSWORD, STORAGE)
            done = await client.wait_for_work_request(accepted.work_request_id, poll_interval=1.0)
            snapshot = await client.find_created_snapshot("nightly", done)
            assert [s.id for s in await client.find_snapshots("nightly")] == [snapshot.id]
            restore = await client.restore_snapshot(snapshot.id, PASSWORD)
            restored = await client.wait_for_work_request(restore.work_request_id, poll_interval=1.0)
            await client.delete_snapshot(snapshot.id)
            return snapshot, restored

    snapshot, restored = run(scenario())
    assert restored.status is WorkRequestStatus.SUCCEEDED
    assert emulator.control.restores()[0]["snapshot_id"] == snapshot.id
    assert emulator.control.counters()["snapshots_deleted"] == 1


def test_async_expired_token_is_refreshed_once(emulator, tokens, clock):
    async def scenario():
        async with async_client(emulator, tokens, clock) as client:
            emulator.control.expire_access_tokens()
            return await client.list_snapshots()

    assert run(scenario()) == []
    assert tokens.refreshes == 1


def test_async_get_429_waits_the_retry_after(emulator, tokens, clock):
    emulator.control.add_fault(f"GET {SNAPSHOTS}", "status", status=429, retry_after=4)

    async def scenario():
        async with async_client(emulator, tokens, clock) as client:
            return await client.list_snapshots()

    assert run(scenario()) == []
    assert clock.sleeps == [4.0]


def test_async_post_timeout_is_outcome_unknown_and_creates_exactly_one_snapshot(emulator, tokens, clock):
    emulator.control.add_fault(f"POST {SNAPSHOTS}", "accept_then_hang", delay=10)

    async def scenario():
        async with async_client(emulator, tokens, clock, timeout=(5.0, 0.5)) as client:
            await client.create_snapshot("nightly", PASSWORD, STORAGE)

    with pytest.raises(OACOutcomeUnknownError):
        run(scenario())
    assert oac_requests(emulator) == 1
    assert emulator.control.counters()["snapshots_created"] == 1


def test_async_failed_work_request_raises_with_oacs_message(emulator, tokens, clock):
    emulator.control.add_fault(f"POST {SNAPSHOTS}", "fail_work_request", message="Bucket missing.")

    async def scenario():
        async with async_client(emulator, tokens, clock) as client:
            accepted = await client.create_snapshot("nightly", PASSWORD, STORAGE)
            await client.wait_for_work_request(accepted.work_request_id, poll_interval=1.0)

    with pytest.raises(OACWorkRequestFailed, match="Bucket missing."):
        run(scenario())


def test_async_rate_limit_on_post_is_final_after_max_attempts(emulator, tokens, clock):
    emulator.control.add_fault(f"POST {SNAPSHOTS}", "status", status=429, times=5)

    async def scenario():
        async with async_client(emulator, tokens, clock, retry=RetryPolicy(max_attempts=2)) as client:
            await client.create_snapshot("nightly", PASSWORD, STORAGE)

    with pytest.raises(OACRateLimitedError):
        run(scenario())
    assert emulator.control.counters()["snapshots_created"] == 0
