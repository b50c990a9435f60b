"""The IAM OAuth protocol as plain data: HTTP answers in, results or errors out. No sockets."""

from __future__ import annotations

import email.utils

import pytest
from oac_auth_helpers import html_page, json_response, jwt, oauth_error

from airflow_provider_oac._http import HTTPResponse
from airflow_provider_oac.auth.protocol import (
    DEVICE_CODE_GRANT_TYPE,
    DeviceAuthorization,
    Granted,
    IAMEndpoints,
    Pending,
    PollState,
    SlowDown,
    device_authorization_request,
    device_token_request,
    parse_retry_after,
    read_device_authorization,
    read_device_poll,
    read_revoke_response,
    read_token_response,
    refresh_failure,
    refresh_request,
    revoke_request,
    token_endpoint_backoff,
)
from airflow_provider_oac.auth.tokens import DEFAULT_REFRESH_TOKEN_LIFETIME, TokenSet
from airflow_provider_oac.errors import (
    OACAccessDenied,
    OACAuthError,
    OACConfigError,
    OACDeviceCodeExpired,
    OACDeviceFlowError,
    OACLoginRequired,
    OACResponseError,
    OACTimeoutError,
    OACTokenEndpointUnavailable,
    OACTransportError,
)

DOMAIN = "https://idcs-0123456789abcdef.identity.oraclecloud.com"
ENDPOINTS = IAMEndpoints.for_domain(DOMAIN)
CLIENT_ID = "0a1b2c3d4e5f"
AUDIENCE = "https://abc123.analytics.ocp.oraclecloud.com"
SCOPE = f"{AUDIENCE}urn:opc:resource:consumer::all offline_access"
NOW = 1_700_000_000.0
DEVICE_CODE = "4d03f7bc-8e25-4b8a-9f3e-2c1d0e9a7b6f"
REFRESH_TOKEN = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyAhIiMkJSYnKCkqKywtLi8w"


def device_answer(**overrides):
    payload = {
        "device_code": DEVICE_CODE,
        "user_code": "SDFGHJKL",
        "verification_uri": f"{DOMAIN}/ui/v1/device",
        "expires_in": 300,
    }
    payload.update(overrides)
    return json_response(200, {k: v for k, v in payload.items() if v is not None})


def token_answer(**overrides):
    payload = {"access_token": jwt(sub="data.engineer@example.com", exp=NOW + 100), "token_type": "Bearer"}
    payload.update(overrides)
    return json_response(200, {k: v for k, v in payload.items() if v is not None})


# --- endpoints -----------------------------------------------------------------------------------


def test_endpoints_are_oracles_fixed_paths_under_the_domain():
    endpoints = IAMEndpoints.for_domain(DOMAIN)
    assert endpoints.device_url == f"{DOMAIN}/oauth2/v1/device"
    assert endpoints.token_url == f"{DOMAIN}/oauth2/v1/token"
    assert endpoints.revoke_url == f"{DOMAIN}/oauth2/v1/revoke"


def test_trailing_slash_on_domain_url_is_ignored():
    assert IAMEndpoints.for_domain(DOMAIN + "/") == ENDPOINTS


def test_endpoint_override_replaces_only_that_endpoint():
    endpoints = IAMEndpoints.for_domain(DOMAIN, token_url="https://proxy.example.com/iam/token/")
    assert endpoints.token_url == "https://proxy.example.com/iam/token"
    assert endpoints.device_url == ENDPOINTS.device_url
    assert endpoints.revoke_url == ENDPOINTS.revoke_url


def test_endpoint_override_over_plain_http_is_refused():
    with pytest.raises(OACConfigError, match="https://"):
        IAMEndpoints.for_domain(DOMAIN, device_url="http://proxy.example.com/device")


def test_domain_url_with_an_oauth_path_is_refused():
    with pytest.raises(OACConfigError, match="only the identity domain URL"):
        IAMEndpoints.for_domain(DOMAIN + "/oauth2/v1/token")


# --- device authorization ------------------------------------------------------------------------


def test_device_authorization_request_is_a_form_post_with_iams_response_type():
    request = device_authorization_request(ENDPOINTS, CLIENT_ID, SCOPE)
    assert (request.method, request.url) == ("POST", ENDPOINTS.device_url)
    assert request.form == {"client_id": CLIENT_ID, "response_type": "device_code", "scope": SCOPE}


def test_device_authorization_request_adds_offline_access_for_refresh_tokens():
    request = device_authorization_request(ENDPOINTS, CLIENT_ID, f"{AUDIENCE}urn:opc:resource:consumer::all")
    assert request.form is not None
    assert request.form["scope"].split() == [f"{AUDIENCE}urn:opc:resource:consumer::all", "offline_access"]


@pytest.mark.parametrize(
    ("client_id", "scope", "complaint"),
    [
        ("", SCOPE, "client id is empty"),
        (CLIENT_ID, "openid", "does not name the OAC resource"),
    ],
)
def test_bad_client_id_or_scope_fails_before_any_request(client_id, scope, complaint):
    with pytest.raises(OACConfigError, match=complaint):
        device_authorization_request(ENDPOINTS, client_id, scope)


@pytest.mark.parametrize(
    "resource",
    [
        f"{AUDIENCE}/urn:opc:resource:consumer::all",  # an audience stored with a trailing slash
        f"{AUDIENCE}:443urn:opc:resource:consumer::all",  # or a port, as Oracle Integration's are
        "urn:opc:resource:consumer::all",  # the bare resource: unconfirmed for OAC, IAM decides
    ],
)
def test_a_scope_naming_the_resource_is_sent_as_given(resource):
    request = device_authorization_request(ENDPOINTS, CLIENT_ID, resource)

    assert request.form is not None
    assert request.form["scope"] == f"{resource} offline_access"


def test_device_authorization_is_read_with_expiry_from_expires_in():
    authorization = read_device_authorization(device_answer(expires_in=600), NOW)
    assert authorization.device_code == DEVICE_CODE
    assert authorization.user_code == "SDFGHJKL"
    assert authorization.verification_uri == f"{DOMAIN}/ui/v1/device"
    assert authorization.verification_uri_complete is None
    assert authorization.expires_at == NOW + 600


def test_interval_absent_means_five_seconds():
    authorization = read_device_authorization(device_answer(), NOW)
    assert authorization.interval == 5.0
    assert authorization.interval_was_sent is False


def test_interval_sent_by_iam_is_used():
    authorization = read_device_authorization(device_answer(interval=2), NOW)
    assert authorization.interval == 2.0
    assert authorization.interval_was_sent is True


def test_verification_uri_complete_is_kept_when_sent():
    complete = f"{DOMAIN}/ui/v1/device?user_code=SDFGHJKL"
    authorization = read_device_authorization(device_answer(verification_uri_complete=complete), NOW)
    assert authorization.verification_uri_complete == complete


def test_device_code_is_hidden_from_repr():
    authorization = read_device_authorization(device_answer(), NOW)
    assert DEVICE_CODE not in repr(authorization)
    assert "SDFGHJKL" in repr(authorization)


def test_poll_state_starts_from_the_authorization():
    authorization = read_device_authorization(device_answer(interval=3, expires_in=120), NOW)
    assert authorization.poll_state() == PollState(interval=3.0, deadline=NOW + 120)


def test_invalid_client_says_to_check_the_client_and_keeps_iams_text():
    with pytest.raises(OACAuthError, match="public .*Device Code.*activated") as caught:
        read_device_authorization(oauth_error(401, "invalid_client", "Client authentication failed."), NOW)
    assert (caught.value.error, caught.value.error_description) == (
        "invalid_client",
        "Client authentication failed.",
    )
    assert "Client authentication failed." in str(caught.value)
    assert caught.value.status == 401


def test_invalid_scope_says_to_check_the_primary_audience():
    with pytest.raises(OACAuthError, match="primary audience") as caught:
        read_device_authorization(oauth_error(400, "invalid_scope", "Invalid scope."), NOW)
    assert caught.value.error == "invalid_scope"


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_device_authorization_overload_is_temporary(status):
    with pytest.raises(OACTokenEndpointUnavailable):
        read_device_authorization(json_response(status, {"error": "temporarily_unavailable"}), NOW)


def test_device_authorization_html_page_is_a_response_error_pointing_at_the_url():
    with pytest.raises(OACResponseError, match="HTML page"):
        read_device_authorization(html_page(404), NOW)


def test_device_authorization_without_device_code_is_a_response_error():
    with pytest.raises(OACResponseError, match="no device_code"):
        read_device_authorization(device_answer(device_code=None), NOW)


# --- polling -------------------------------------------------------------------------------------

STATE = PollState(interval=5.0, deadline=NOW + 300)


def test_device_token_request_uses_the_device_code_grant():
    request = device_token_request(ENDPOINTS, CLIENT_ID, DEVICE_CODE)
    assert (request.method, request.url) == ("POST", ENDPOINTS.token_url)
    assert request.form == {
        "grant_type": DEVICE_CODE_GRANT_TYPE,
        "device_code": DEVICE_CODE,
        "client_id": CLIENT_ID,
    }
    assert DEVICE_CODE not in repr(request)


def test_authorization_pending_keeps_polling_with_the_same_state():
    assert read_device_poll(oauth_error(400, "authorization_pending"), STATE, NOW) == Pending(STATE)


def test_slow_down_adds_five_seconds_to_the_interval():
    result = read_device_poll(oauth_error(400, "slow_down"), STATE, NOW)
    assert result == SlowDown(PollState(interval=10.0, deadline=STATE.deadline))


def test_slow_down_is_cumulative_and_kept_through_later_pending_answers():
    state = STATE
    for answer in ("slow_down", "authorization_pending", "slow_down", "authorization_pending"):
        result = read_device_poll(oauth_error(400, answer), state, NOW)
        assert isinstance(result, (Pending, SlowDown))
        state = result.state
    assert state.interval == 15.0


def test_access_denied_is_final():
    with pytest.raises(OACAccessDenied, match="declined"):
        read_device_poll(oauth_error(400, "access_denied", "The user denied the request."), STATE, NOW)


def test_expired_token_is_final():
    with pytest.raises(OACDeviceCodeExpired):
        read_device_poll(oauth_error(400, "expired_token"), STATE, NOW)


def test_pending_past_the_deadline_is_expired():
    with pytest.raises(OACDeviceCodeExpired):
        read_device_poll(oauth_error(400, "authorization_pending"), STATE, STATE.deadline + 1)


@pytest.mark.parametrize("error", ["invalid_grant", "invalid_request", "unsupported_grant_type", "whatever"])
def test_any_other_error_code_stops_polling(error):
    with pytest.raises(OACDeviceFlowError) as caught:
        read_device_poll(oauth_error(400, error, "Something IAM says."), STATE, NOW)
    assert type(caught.value) is OACDeviceFlowError
    assert caught.value.error == error
    assert "Something IAM says." in str(caught.value)


@pytest.mark.parametrize("status", [400, 401, 403])
def test_rfc_poll_codes_are_understood_with_any_4xx_status(status):
    assert read_device_poll(oauth_error(status, "authorization_pending"), STATE, NOW) == Pending(STATE)
    with pytest.raises(OACAccessDenied):
        read_device_poll(oauth_error(status, "access_denied"), STATE, NOW)


@pytest.mark.parametrize(
    "response",
    [
        oauth_error(429, "slow_down"),
        json_response(500, {}),
        json_response(503, {"error": "temporarily_unavailable"}),
        html_page(502),
        html_page(400),
        HTTPResponse(400, {"content-type": "application/json"}, b'{"error": "authoriza'),
    ],
    ids=["429", "500", "503", "html-502", "html-400", "truncated-json"],
)
def test_poll_overload_or_unreadable_answer_is_temporary(response):
    with pytest.raises(OACTokenEndpointUnavailable):
        read_device_poll(response, STATE, NOW)


def test_approved_poll_returns_the_tokens():
    result = read_device_poll(token_answer(expires_in=100, refresh_token=REFRESH_TOKEN), STATE, NOW)
    assert isinstance(result, Granted)
    assert result.tokens.access_token_expires_at == NOW + 100
    assert result.tokens.refresh_token == REFRESH_TOKEN


def test_device_code_echoed_by_iam_never_reaches_the_message():
    answer = oauth_error(400, "invalid_grant", f"Device code {DEVICE_CODE} is invalid.")
    with pytest.raises(OACDeviceFlowError) as caught:
        read_device_poll(answer, STATE, NOW, device_code=DEVICE_CODE)
    assert DEVICE_CODE not in str(caught.value)
    assert DEVICE_CODE not in (caught.value.error_description or "")


# --- token responses -----------------------------------------------------------------------------


def test_expires_in_wins_over_the_jwt_exp():
    tokens = read_token_response(token_answer(access_token=jwt(exp=NOW + 3600), expires_in=100), NOW)
    assert tokens.access_token_expires_at == NOW + 100


def test_jwt_exp_is_used_when_expires_in_is_absent():
    tokens = read_token_response(token_answer(access_token=jwt(exp=NOW + 90)), NOW)
    assert tokens.access_token_expires_at == NOW + 90


def test_subject_comes_from_the_jwt():
    tokens = read_token_response(token_answer(), NOW)
    assert tokens.subject == "data.engineer@example.com"
    assert tokens.issued_at == NOW


def test_new_refresh_token_replaces_the_old_one():
    tokens = read_token_response(
        token_answer(expires_in=100, refresh_token="new-refresh-token"),
        NOW,
        previous_refresh_token=REFRESH_TOKEN,
    )
    assert tokens.refresh_token == "new-refresh-token"


def test_old_refresh_token_is_kept_when_iam_sends_none():
    tokens = read_token_response(token_answer(expires_in=100), NOW, previous_refresh_token=REFRESH_TOKEN)
    assert tokens.refresh_token == REFRESH_TOKEN


def test_refresh_token_lifetime_restarts_at_each_refresh():
    tokens = read_token_response(
        token_answer(refresh_token="new-refresh-token"), NOW, refresh_token_lifetime=86400
    )
    assert tokens.refresh_token_expires_at == NOW + 86400
    default = read_token_response(token_answer(), NOW, previous_refresh_token=REFRESH_TOKEN)
    assert default.refresh_token_expires_at == NOW + DEFAULT_REFRESH_TOKEN_LIFETIME


def test_no_refresh_token_at_all_means_no_refresh_expiry():
    tokens = read_token_response(token_answer(), NOW)
    assert (tokens.refresh_token, tokens.refresh_token_expires_at) == (None, None)


def test_tokens_are_hidden_from_repr():
    tokens = read_token_response(token_answer(refresh_token=REFRESH_TOKEN), NOW)
    assert isinstance(tokens, TokenSet)
    assert REFRESH_TOKEN not in repr(tokens)
    assert tokens.access_token not in repr(tokens)


@pytest.mark.parametrize("error", ["invalid_grant", "invalid_token", "unauthorized_client"])
def test_dead_refresh_token_means_login_required_with_iams_text(error):
    answer = oauth_error(400, error, "The refresh token has expired.")
    with pytest.raises(OACLoginRequired, match="expired or was revoked") as caught:
        read_token_response(answer, NOW, previous_refresh_token=REFRESH_TOKEN)
    assert caught.value.error == error
    assert caught.value.error_description == "The refresh token has expired."


def test_refresh_token_echoed_by_iam_never_reaches_the_message():
    answer = oauth_error(400, "invalid_grant", f"Refresh token {REFRESH_TOKEN} was revoked.")
    with pytest.raises(OACLoginRequired) as caught:
        read_token_response(answer, NOW, previous_refresh_token=REFRESH_TOKEN)
    assert REFRESH_TOKEN not in str(caught.value)
    assert REFRESH_TOKEN not in (caught.value.error_description or "")


def test_invalid_client_on_refresh_is_not_a_dead_login():
    with pytest.raises(OACAuthError, match="client id") as caught:
        read_token_response(oauth_error(401, "invalid_client"), NOW)
    assert not isinstance(caught.value, OACLoginRequired)


def test_other_oauth_errors_carry_iams_text():
    with pytest.raises(OACAuthError, match="Missing parameter") as caught:
        read_token_response(oauth_error(400, "invalid_request", "Missing parameter."), NOW)
    assert type(caught.value) is OACAuthError


def test_429_carries_retry_after_in_seconds():
    with pytest.raises(OACTokenEndpointUnavailable) as caught:
        read_token_response(oauth_error(429, "too_many_requests", retry_after="7"), NOW)
    assert caught.value.retry_after == 7.0
    assert caught.value.status == 429


def test_429_retry_after_as_http_date():
    when = email.utils.formatdate(NOW + 30, usegmt=True)
    with pytest.raises(OACTokenEndpointUnavailable) as caught:
        read_token_response(json_response(429, {}, {"retry-after": when}), NOW)
    assert caught.value.retry_after == 30.0


def test_429_without_retry_after():
    with pytest.raises(OACTokenEndpointUnavailable) as caught:
        read_token_response(HTTPResponse(429), NOW)
    assert caught.value.retry_after is None


@pytest.mark.parametrize(
    "response",
    [
        json_response(500, {"error": "server_error"}),
        oauth_error(503, "invalid_grant"),
        html_page(502),
        html_page(200),
        html_page(403),
        HTTPResponse(200, {"content-type": "application/json"}, b'{"access_token": "ey'),
        HTTPResponse(200, {}, b""),
        json_response(200, ["not", "an", "object"]),
        json_response(200, {"token_type": "Bearer"}),
    ],
    ids=[
        "500",
        "503-even-with-invalid_grant",
        "html-502",
        "html-200",
        "html-403",
        "truncated",
        "empty",
        "list",
        "no-token",
    ],
)
def test_overload_and_unreadable_answers_are_temporary_never_a_dead_login(response):
    with pytest.raises(OACTokenEndpointUnavailable) as caught:
        read_token_response(response, NOW, previous_refresh_token=REFRESH_TOKEN)
    assert not isinstance(caught.value, OACLoginRequired)


def test_missing_token_endpoint_is_a_configuration_problem():
    with pytest.raises(OACAuthError, match="no token endpoint"):
        read_token_response(json_response(404, {"detail": "Not Found"}), NOW)


# --- refresh and revoke requests -----------------------------------------------------------------


def test_refresh_request_form():
    request = refresh_request(ENDPOINTS, CLIENT_ID, REFRESH_TOKEN)
    assert (request.method, request.url) == ("POST", ENDPOINTS.token_url)
    assert request.form == {
        "grant_type": "refresh_token",
        "refresh_token": REFRESH_TOKEN,
        "client_id": CLIENT_ID,
    }
    assert REFRESH_TOKEN not in repr(request)


def test_refresh_request_with_scope():
    request = refresh_request(ENDPOINTS, CLIENT_ID, REFRESH_TOKEN, scope=SCOPE)
    assert request.form is not None and request.form["scope"] == SCOPE


@pytest.mark.parametrize("refresh_token", ["", "  padded  ", None])
def test_bad_refresh_token_fails_before_any_request(refresh_token):
    with pytest.raises(OACConfigError, match="refresh token") as caught:
        refresh_request(ENDPOINTS, CLIENT_ID, refresh_token)
    assert "padded" not in str(caught.value)


def test_revoke_request_is_rfc_7009():
    request = revoke_request(ENDPOINTS, CLIENT_ID, REFRESH_TOKEN)
    assert (request.method, request.url) == ("POST", ENDPOINTS.revoke_url)
    assert request.form == {
        "token": REFRESH_TOKEN,
        "token_type_hint": "refresh_token",
        "client_id": CLIENT_ID,
    }


@pytest.mark.parametrize(
    ("status", "revoked"), [(200, True), (204, True), (400, False), (401, False), (503, False)]
)
def test_revocation_result_is_a_bool_never_an_error(status, revoked):
    assert read_revoke_response(HTTPResponse(status)) is revoked


# --- retry rules ---------------------------------------------------------------------------------


def test_backoff_is_full_jitter_over_a_doubling_window():
    assert token_endpoint_backoff(1, rand=lambda: 1.0) == 1.0
    assert token_endpoint_backoff(3, rand=lambda: 1.0) == 4.0
    assert token_endpoint_backoff(3, rand=lambda: 0.5) == 2.0
    assert token_endpoint_backoff(3, rand=lambda: 0.0) == 0.0


def test_backoff_is_capped():
    assert token_endpoint_backoff(30, rand=lambda: 1.0, cap=60.0) == 60.0


def test_backoff_never_retries_before_retry_after():
    assert token_endpoint_backoff(1, 20.0, rand=lambda: 0.0) == 20.0
    assert 20.0 <= token_endpoint_backoff(1, 20.0, rand=lambda: 0.99) <= 21.0


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("12", 12.0), ("0", 0.0), (" 3 ", 3.0), ("-5", 0.0), ("soon", None), ("", None), (None, None)],
)
def test_retry_after_delay_seconds(value, seconds):
    assert parse_retry_after(value, NOW) == seconds


def test_retry_after_date_in_the_past_means_now():
    assert parse_retry_after(email.utils.formatdate(NOW - 60, usegmt=True), NOW) == 0.0


@pytest.mark.parametrize(
    ("status", "maybe_spent"),
    [(429, False), (503, False), (500, True), (502, True), (504, True), (200, True), (403, True)],
)
def test_only_429_and_503_prove_the_refresh_token_was_not_consumed(status, maybe_spent):
    error = refresh_failure(OACTokenEndpointUnavailable("IAM failed.", status=status))
    assert error.refresh_token_maybe_spent is maybe_spent


def test_connection_that_never_carried_the_request_leaves_the_refresh_token_unspent():
    error = refresh_failure(OACTransportError("Could not reach IAM: connection refused", request_sent=False))
    assert isinstance(error, OACTokenEndpointUnavailable)
    assert error.refresh_token_maybe_spent is False


def test_timeout_after_sending_may_have_spent_the_refresh_token():
    error = refresh_failure(OACTimeoutError("No answer within the timeout.", request_sent=True))
    assert isinstance(error, OACTokenEndpointUnavailable)
    assert error.refresh_token_maybe_spent is True


def test_unavailable_errors_default_to_not_spent():
    assert OACTokenEndpointUnavailable("x").refresh_token_maybe_spent is False


def test_device_authorization_seconds_left_never_negative():
    authorization = DeviceAuthorization(DEVICE_CODE, "ABCD", "https://x", None, expires_at=NOW + 10)
    assert authorization.seconds_left(NOW) == 10
    assert authorization.seconds_left(NOW + 20) == 0
