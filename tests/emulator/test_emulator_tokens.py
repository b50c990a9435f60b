"""Emulated IAM tokens: claims, refresh rotation, reuse detection, expiry, revocation, and how OAC
treats access tokens."""

from __future__ import annotations

import base64
import json


def claims_of(access_token: str) -> dict:
    payload = access_token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def test_access_token_claims_look_like_iam_for_oac(emulator, iam):
    token = iam.login()["access_token"]

    claims = claims_of(token)
    assert claims["iss"] == "https://identity.oraclecloud.com/"
    assert claims["sub"] == "data.engineer@example.com"
    assert claims["user_displayname"] == "Data Engineer"
    assert claims["sub_type"] == "user"
    assert claims["aud"] == [emulator.config.audience]
    assert claims["scope"] == "urn:opc:resource:consumer::all"
    assert claims["client_id"] == emulator.config.client_id
    assert claims["tok_type"] == "AT"
    assert claims["exp"] - claims["iat"] in (100, 101)
    assert claims["jti"]


def test_refresh_returns_new_access_and_refresh_tokens(iam):
    tokens = iam.login()

    answer = iam.refresh(tokens["refresh_token"])

    assert answer.status_code == 200
    body = answer.json()
    assert body["access_token"] != tokens["access_token"]
    assert body["refresh_token"] != tokens["refresh_token"]
    assert body["token_type"] == "Bearer"


def test_rotated_refresh_token_is_spent_and_refused_afterwards(control, iam):
    tokens = iam.login()
    assert iam.refresh(tokens["refresh_token"]).status_code == 200

    answer = iam.refresh(tokens["refresh_token"])

    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_grant"
    assert "used" in answer.json()["error_description"]
    assert control.counters()["spent_refresh_token_presentations"] == 1


def test_spent_refresh_token_without_reuse_detection_leaves_the_login_usable(control, iam):
    tokens = iam.login()
    newer = iam.refresh(tokens["refresh_token"]).json()["refresh_token"]
    iam.refresh(tokens["refresh_token"])

    assert iam.refresh(newer).status_code == 200
    assert control.logins()[0]["active"] is True


def test_reuse_of_a_spent_refresh_token_revokes_the_whole_login(control, iam):
    control.configure(reuse_detection=True)
    tokens = iam.login()
    newer = iam.refresh(tokens["refresh_token"]).json()["refresh_token"]

    assert iam.refresh(tokens["refresh_token"]).json()["error"] == "invalid_grant"

    answer = iam.refresh(newer)
    assert answer.json()["error"] == "invalid_grant"
    assert "revoked" in answer.json()["error_description"]
    [login] = control.logins()
    assert login["active"] is False
    assert login["revoked_reason"] == "refresh token reuse detected"
    assert control.counters()["revoked_logins"] == 1


def test_without_rotation_the_same_refresh_token_comes_back_and_keeps_working(control, iam):
    control.configure(rotate_refresh_tokens=False)
    refresh_token = iam.login()["refresh_token"]

    for _ in range(3):
        answer = iam.refresh(refresh_token)
        assert answer.status_code == 200
        assert answer.json()["refresh_token"] == refresh_token
    assert control.logins()[0]["refresh_count"] == 3


def test_refresh_response_can_omit_the_refresh_token(control, iam):
    control.configure(return_refresh_token_on_refresh=False, rotate_refresh_tokens=False)
    refresh_token = iam.login()["refresh_token"]

    body = iam.refresh(refresh_token).json()

    assert "refresh_token" not in body
    assert iam.refresh(refresh_token).status_code == 200


def test_refresh_token_expires_after_its_lifetime(control, iam):
    control.configure(refresh_token_ttl=60)
    refresh_token = iam.login()["refresh_token"]
    control.advance_clock(61)

    answer = iam.refresh(refresh_token)

    assert answer.json()["error"] == "invalid_grant"
    assert "expired" in answer.json()["error_description"]


def test_each_refresh_restarts_the_refresh_token_lifetime(control, iam):
    control.configure(refresh_token_ttl=60)
    refresh_token = iam.login()["refresh_token"]
    for _ in range(3):
        control.advance_clock(40)
        answer = iam.refresh(refresh_token)
        assert answer.status_code == 200
        refresh_token = answer.json()["refresh_token"]


def test_unknown_refresh_token_is_invalid_grant(control, iam):
    answer = iam.refresh("never-issued")

    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_grant"
    assert control.counters()["refresh_failures"] == 1


def test_revoking_the_refresh_token_ends_the_login(control, iam):
    refresh_token = iam.login()["refresh_token"]

    assert iam.revoke(refresh_token).status_code == 200

    assert iam.refresh(refresh_token).json()["error"] == "invalid_grant"
    [login] = control.logins()
    assert (login["active"], login["revoked_reason"]) == (False, "revoked")
    assert control.counters()["revocations"] == 1


def test_revoking_an_unknown_token_still_answers_200(iam):
    assert iam.revoke("never-issued").status_code == 200


# --- OAC's view of access tokens -----------------------------------------------------------------


def test_oac_accepts_a_fresh_access_token(oac):
    assert oac.call("GET", "/snapshots").status_code == 200


def test_oac_refuses_a_request_without_bearer_token(emulator, oac):
    answer = oac.http.get(f"{emulator.url}/api/20210901/snapshots", timeout=10)

    assert answer.status_code == 401
    assert answer.json()["code"] == "Unauthorized"


def test_oac_refuses_a_token_signed_by_someone_else(oac):
    header, claims, _signature = oac.access_token.split(".")

    answer = oac.call("GET", "/snapshots", token=f"{header}.{claims}.AAAA")

    assert answer.status_code == 401


def test_oac_refuses_an_access_token_after_its_lifetime(control, oac):
    token = oac.access_token
    control.advance_clock(101)

    answer = oac.call("GET", "/snapshots", token=token)

    assert answer.status_code == 401
    assert "expired" in answer.json()["message"]


def test_oac_refuses_access_tokens_expired_by_control(control, oac):
    token = oac.access_token
    control.expire_access_tokens()

    assert oac.call("GET", "/snapshots", token=token).status_code == 401
    assert control.counters()["oac_unauthorized"] == 1


def test_oac_refuses_a_token_for_another_audience(control, oac):
    token = oac.access_token
    control.configure(audience="https://another0audience.analytics.ocp.oraclecloud.com")

    answer = oac.call("GET", "/snapshots", token=token)

    assert answer.status_code == 401
    assert "not issued for this" in answer.json()["message"]


def test_refreshed_access_token_works_after_the_old_one_expired(control, iam, oac):
    tokens = iam.login()
    control.advance_clock(101)
    fresh = iam.refresh(tokens["refresh_token"]).json()["access_token"]

    assert oac.call("GET", "/snapshots", token=tokens["access_token"]).status_code == 401
    assert oac.call("GET", "/snapshots", token=fresh).status_code == 200


def test_every_oac_answer_carries_an_opc_request_id(emulator, oac):
    ok = oac.call("GET", "/snapshots")
    refused = oac.http.get(f"{emulator.url}/api/20210901/snapshots", timeout=10)

    assert ok.headers["opc-request-id"]
    assert refused.headers["opc-request-id"]
    assert ok.headers["opc-request-id"] != refused.headers["opc-request-id"]
