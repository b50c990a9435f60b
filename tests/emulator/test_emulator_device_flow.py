"""The emulated IAM device authorization grant (RFC 8628 as IAM serves it)."""

from __future__ import annotations

import re

import requests


def test_device_response_has_iam_fields_and_no_interval_by_default(emulator, iam):
    answer = iam.device()

    assert answer.status_code == 200
    body = answer.json()
    assert set(body) == {"device_code", "user_code", "verification_uri", "expires_in"}
    assert re.fullmatch(r"[A-Z]{8}", body["user_code"])
    assert body["verification_uri"] == f"{emulator.iam_url}/ui/v1/device"
    assert body["expires_in"] == 300


def test_device_response_carries_interval_and_complete_uri_when_configured(control, iam):
    control.configure(device_interval=2, include_verification_uri_complete=True)

    body = iam.device().json()

    assert body["interval"] == 2
    assert body["verification_uri_complete"] == f"{body['verification_uri']}?user_code={body['user_code']}"


def test_device_request_from_unknown_client_is_invalid_client(iam):
    answer = iam.device(client_id="someone-else")

    assert answer.status_code == 401
    assert answer.json()["error"] == "invalid_client"


def test_device_request_without_response_type_is_invalid_request(iam):
    answer = iam.device(response_type=None)

    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_request"


def test_device_request_scoped_to_the_oac_url_instead_of_the_audience_is_invalid_scope(emulator, iam):
    answer = iam.device(scope=f"{emulator.url}urn:opc:resource:consumer::all offline_access")

    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_scope"
    assert answer.json()["error_description"]


def test_poll_before_approval_is_authorization_pending(iam):
    device_code = iam.device().json()["device_code"]

    answer = iam.poll(device_code)

    assert answer.status_code == 400
    assert answer.json()["error"] == "authorization_pending"


def test_polling_faster_than_five_seconds_without_interval_is_slow_down(control, iam):
    device_code = iam.device().json()["device_code"]
    iam.poll(device_code)
    control.advance_clock(4)

    assert iam.poll(device_code).json()["error"] == "slow_down"


def test_slow_down_adds_five_seconds_to_the_interval_for_good(control, iam):
    device_code = iam.device().json()["device_code"]
    iam.poll(device_code)
    assert iam.poll(device_code).json()["error"] == "slow_down"  # interval now 10 s

    control.advance_clock(6)
    assert iam.poll(device_code).json()["error"] == "slow_down"  # interval now 15 s

    control.advance_clock(15)
    assert iam.poll(device_code).json()["error"] == "authorization_pending"


def test_polls_at_the_interval_are_never_slowed_down(control, iam):
    device_code = iam.device().json()["device_code"]
    for _ in range(3):
        assert iam.poll(device_code).json()["error"] == "authorization_pending"
        control.advance_clock(4.6)  # within the 0.5 s tolerance of 5 s


def test_interval_enforcement_can_be_switched_off(control, iam):
    control.configure(enforce_poll_interval=False)
    device_code = iam.device().json()["device_code"]

    errors = [iam.poll(device_code).json()["error"] for _ in range(3)]

    assert errors == ["authorization_pending"] * 3


def test_approved_device_code_yields_bearer_tokens_with_refresh_token(control, iam):
    control.configure(access_token_ttl=42)
    started = iam.device().json()
    control.approve(started["user_code"])

    answer = iam.poll(started["device_code"])

    assert answer.status_code == 200
    body = answer.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 42
    assert body["access_token"].count(".") == 2
    assert body["refresh_token"]


def test_no_refresh_token_without_offline_access(emulator, iam):
    tokens = iam.login(scope=emulator.config.resource_scope)

    assert "refresh_token" not in tokens


def test_device_code_works_only_once(control, iam):
    started = iam.device().json()
    control.approve(started["user_code"])
    assert iam.poll(started["device_code"]).status_code == 200

    control.advance_clock(5)
    answer = iam.poll(started["device_code"])

    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_grant"


def test_unknown_device_code_is_invalid_grant(iam):
    answer = iam.poll("not-a-device-code")

    assert answer.json()["error"] == "invalid_grant"


def test_denied_device_code_is_access_denied(control, iam):
    started = iam.device().json()
    control.deny(started["user_code"])

    answer = iam.poll(started["device_code"])

    assert answer.status_code == 400
    assert answer.json()["error"] == "access_denied"


def test_device_code_expires_after_its_lifetime(control, iam):
    started = iam.device().json()
    control.advance_clock(301)

    assert iam.poll(started["device_code"]).json()["error"] == "expired_token"
    assert control.pending_user_codes() == []


def test_auto_approve_grants_on_first_poll(control, iam):
    control.configure(auto_approve=True)
    started = iam.device().json()

    assert iam.poll(started["device_code"]).status_code == 200
    assert control.pending_user_codes() == []


def test_pending_user_codes_lists_codes_awaiting_a_decision(control, iam):
    first = iam.device().json()["user_code"]
    second = iam.device().json()["user_code"]
    control.deny(first)

    assert control.pending_user_codes() == [second]
    assert control.wait_for_user_code(timeout=0.1) == second


def test_token_request_from_unknown_client_is_invalid_client(iam):
    device_code = iam.device().json()["device_code"]

    answer = iam.poll(device_code, client_id="someone-else")

    assert answer.status_code == 401
    assert answer.json()["error"] == "invalid_client"


def test_unsupported_grant_type_is_refused(iam):
    answer = iam.poll("x", grant_type="password")

    assert answer.status_code == 400
    assert answer.json()["error"] == "unsupported_grant_type"


# --- the browser page ----------------------------------------------------------------------------


def test_device_page_is_a_form_with_the_user_code_prefilled(emulator, iam):
    user_code = iam.device().json()["user_code"]

    page = requests.get(f"{emulator.iam_url}/ui/v1/device", params={"user_code": user_code}, timeout=10)

    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert f'value="{user_code}"' in page.text
    assert "Approve" in page.text and "Deny" in page.text


def test_approving_on_the_device_page_lets_the_poll_succeed(emulator, iam):
    started = iam.device().json()

    page = requests.post(
        f"{emulator.iam_url}/ui/v1/device",
        data={"user_code": started["user_code"].lower(), "action": "approve"},
        timeout=10,
    )

    assert page.status_code == 200
    assert "approved" in page.text
    assert iam.poll(started["device_code"]).status_code == 200


def test_denying_on_the_device_page_makes_the_poll_access_denied(emulator, iam):
    started = iam.device().json()

    page = requests.post(
        f"{emulator.iam_url}/ui/v1/device",
        data={"user_code": started["user_code"], "action": "deny"},
        timeout=10,
    )

    assert "denied" in page.text
    assert iam.poll(started["device_code"]).json()["error"] == "access_denied"


def test_device_page_rejects_an_unknown_code(emulator):
    page = requests.post(
        f"{emulator.iam_url}/ui/v1/device", data={"user_code": "ZZZZZZZZ", "action": "approve"}, timeout=10
    )

    assert page.status_code == 400
    assert "unknown" in page.text
