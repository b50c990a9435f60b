"""Injected faults: each action, consumed in order, `times` each, without blocking other requests."""

from __future__ import annotations

import threading
import time

import pytest
import requests

from airflow_provider_oac.emulator import EmulatorControlError

SNAPSHOTS = "/api/20210901/snapshots"


def test_status_fault_answers_oac_style_error_with_retry_after_without_processing(control, oac):
    control.add_fault(f"POST {SNAPSHOTS}", "status", status=429, retry_after=2)

    answer = oac.call("POST", "/snapshots", json=oac.body("CREATE", "nightly"))

    assert answer.status_code == 429
    assert answer.headers["Retry-After"] == "2"
    assert answer.json()["code"] == "TooManyRequests"
    assert answer.headers["opc-request-id"]
    assert control.counters()["snapshots_created"] == 0
    assert control.counters()["rate_limited"] == 1


def test_status_fault_on_iam_answers_oauth_style_error(control, iam):
    control.add_fault("POST /iam/oauth2/v1/token", "status", status=503)

    answer = iam.refresh("anything")

    assert answer.status_code == 503
    assert set(answer.json()) == {"error", "error_description"}
    assert control.counters()["token_requests"] == 1
    assert control.counters()["refresh_failures"] == 0


def test_status_fault_can_carry_its_own_body_code_and_message(control, oac):
    control.add_fault(f"GET {SNAPSHOTS}", "status", status=409, code="Conflict", message="busy restoring")
    control.add_fault(f"GET {SNAPSHOTS}", "status", status=500, body='{"oops": true}')

    first = oac.call("GET", "/snapshots")
    second = oac.call("GET", "/snapshots")

    assert first.json() == {"code": "Conflict", "message": "busy restoring"}
    assert second.json() == {"oops": True}


def test_faults_apply_in_order_and_times_each_then_normal_service_resumes(control, oac):
    control.add_fault(f"GET {SNAPSHOTS}", "status", status=500, times=2)
    control.add_fault(f"GET {SNAPSHOTS}", "status", status=502)

    statuses = [oac.call("GET", "/snapshots").status_code for _ in range(4)]

    assert statuses == [500, 500, 502, 200]
    assert control.faults() == []


def test_fault_route_glob_matches_work_request_paths_in_either_spelling(control, oac):
    work_request_id = oac.create()
    control.add_fault("GET /api/20210901/workRequests/*", "status", status=500, times=2)

    assert oac.call("GET", f"/workRequests/{work_request_id}").status_code == 500
    assert oac.call("GET", f"/workrequests/{work_request_id}").status_code == 500
    assert oac.call("GET", f"/workRequests/{work_request_id}").status_code == 200


def test_fault_for_another_method_does_not_fire(control, oac):
    control.add_fault(f"POST {SNAPSHOTS}", "status", status=500)

    assert oac.call("GET", "/snapshots").status_code == 200
    assert len(control.faults()) == 1


def test_html_fault_answers_a_login_page(control, oac):
    control.add_fault(f"GET {SNAPSHOTS}", "html")

    answer = oac.call("GET", "/snapshots")

    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    assert answer.text.lstrip().startswith("<!DOCTYPE html>")


def test_malformed_fault_answers_truncated_json(control, oac):
    control.add_fault(f"GET {SNAPSHOTS}", "malformed")

    answer = oac.call("GET", "/snapshots")

    assert answer.status_code == 200
    with pytest.raises(ValueError):
        answer.json()


def test_delay_fault_answers_late_but_normally(control, oac):
    control.add_fault(f"GET {SNAPSHOTS}", "delay", delay=0.3)

    started = time.monotonic()
    answer = oac.call("GET", "/snapshots")

    assert answer.status_code == 200
    assert time.monotonic() - started >= 0.3


def test_accept_then_hang_creates_the_snapshot_but_the_client_times_out(control, oac):
    control.add_fault(f"POST {SNAPSHOTS}", "accept_then_hang", delay=5)
    token = oac.access_token

    with pytest.raises(requests.exceptions.ReadTimeout):
        oac.http.post(
            f"{oac.server.url}{SNAPSHOTS}",
            json=oac.body("CREATE", "nightly"),
            headers={"Authorization": f"Bearer {token}"},
            timeout=0.3,
        )

    assert control.counters()["snapshots_created"] == 1
    [record] = control.snapshots()
    assert record["name"] == "nightly"


def test_a_held_request_does_not_block_other_requests(control, oac):
    control.add_fault(f"POST {SNAPSHOTS}", "accept_then_hang", delay=3)
    token = oac.access_token
    hung = threading.Thread(
        target=lambda: requests.post(
            f"{oac.server.url}{SNAPSHOTS}",
            json=oac.body("CREATE", "nightly"),
            headers={"Authorization": f"Bearer {token}"},
            timeout=5,
        ),
        daemon=True,
    )
    hung.start()
    time.sleep(0.2)

    started = time.monotonic()
    assert oac.call("GET", "/snapshots").status_code == 200
    assert time.monotonic() - started < 1.0
    control.reset()  # lets the held request go
    hung.join(5)


def test_accept_then_error_processes_the_request_then_answers_502(control, oac):
    control.add_fault(f"POST {SNAPSHOTS}", "accept_then_error")

    answer = oac.call("POST", "/snapshots", json=oac.body("CREATE", "nightly"))

    assert answer.status_code == 502
    assert control.counters()["work_requests_created"] == 1
    assert [record["name"] for record in control.snapshots()] == ["nightly"]


def test_fail_work_request_fault_makes_the_created_work_request_fail_with_its_error(control, oac):
    control.add_fault(
        f"POST {SNAPSHOTS}",
        "fail_work_request",
        code="StorageError",
        message="Bucket oac-snaps is not writable.",
    )

    work_request = oac.finish(oac.create("nightly"))

    assert work_request["status"] == "FAILED"
    [error] = work_request["Errors"]
    assert (error["code"], error["message"]) == ("StorageError", "Bucket oac-snaps is not writable.")
    assert oac.call("GET", "/snapshots").json() == {"items": []}
    assert control.bar_objects() == []


def test_stuck_work_request_stays_in_progress_until_released(control, oac):
    control.add_fault(f"POST {SNAPSHOTS}", "stuck_work_request")
    work_request_id = oac.create()

    control.advance_clock(60)  # 20 times its normal duration, within the token's life
    assert oac.work_request(work_request_id)["status"] == "IN_PROGRESS"

    assert control.release_work_requests() == 1
    assert oac.work_request(work_request_id)["status"] == "SUCCEEDED"


def test_expire_token_fault_answers_401_and_kills_that_token(control, oac):
    token = oac.access_token
    control.add_fault(f"GET {SNAPSHOTS}", "expire_token")

    first = oac.call("GET", "/snapshots", token=token)
    second = oac.call("GET", "/system", token=token)

    assert first.status_code == 401
    assert first.json()["code"] == "Unauthorized"
    assert second.status_code == 401
    assert control.counters()["oac_unauthorized"] == 2


def test_unknown_fault_action_is_refused(control):
    with pytest.raises(EmulatorControlError, match="unknown fault action"):
        control.add_fault(f"GET {SNAPSHOTS}", "explode")


def test_fault_route_needs_method_and_path(control):
    with pytest.raises(EmulatorControlError, match="route"):
        control.add_fault(SNAPSHOTS, "status", status=500)


def test_clear_faults_disarms_everything(control, oac):
    control.add_fault(f"GET {SNAPSHOTS}", "status", status=500, times=5)

    control.clear_faults()

    assert oac.call("GET", "/snapshots").status_code == 200
