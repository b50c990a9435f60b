"""The refresh as a step generator (``refresh_flow``) and the device-poll wait, without sockets.

``refresh_tokens`` (requests) only executes these steps; the emulator tests in
``test_auth_flows.py`` run the same rules over real HTTP.
"""

from __future__ import annotations

import pytest
from oac_auth_helpers import html_page, json_response, jwt, oauth_error

from airflow_provider_oac._http import Now, Send, Sleep, run_flow
from airflow_provider_oac.auth.protocol import (
    DEFAULT_POLL_INTERVAL,
    MAX_POLL_BACKOFF,
    IAMEndpoints,
    PollState,
    device_poll_delay,
    refresh_flow,
)
from airflow_provider_oac.errors import (
    OACConfigError,
    OACLoginRequired,
    OACTimeoutError,
    OACTokenEndpointUnavailable,
    OACTransportError,
)

ENDPOINTS = IAMEndpoints.for_domain("https://idcs-0123456789abcdef.identity.oraclecloud.com")
CLIENT_ID = "0a1b2c3d4e5f"
REFRESH_TOKEN = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyAhIiMkJSYnKCkqKywtLi8w"
START = 1_700_000_000.0


def granted(refresh_token: str = "the-next-refresh-token"):
    access_token = jwt(sub="alice@example.com", exp=START + 100)
    return json_response(
        200, {"access_token": access_token, "expires_in": 100, "refresh_token": refresh_token}
    )


class ScriptedIAM:
    """Executes the steps of a flow against scripted answers (an HTTPResponse or an exception)."""

    def __init__(self, answers):
        self.answers = list(answers)
        self.time = START
        self.sent = []
        self.sleeps: list[float] = []

    def execute(self, step):
        if isinstance(step, Send):
            self.sent.append(step.request)
            answer = self.answers.pop(0)
            if isinstance(answer, BaseException):
                raise answer
            return answer
        if isinstance(step, Now):
            return self.time
        assert isinstance(step, Sleep)
        self.sleeps.append(step.seconds)
        self.time += step.seconds
        return None

    def refresh(self, **kwargs):
        return run_flow(refresh_flow(ENDPOINTS, CLIENT_ID, REFRESH_TOKEN, **kwargs), self.execute)


def test_refresh_sends_one_request_and_returns_the_rotated_tokens():
    iam = ScriptedIAM([granted()])
    tokens = iam.refresh()
    assert tokens.refresh_token == "the-next-refresh-token"
    assert tokens.subject == "alice@example.com"
    assert [request.form["grant_type"] for request in iam.sent] == ["refresh_token"]


def test_refresh_dates_the_tokens_from_the_clock_read_before_sending():
    iam = ScriptedIAM([granted()])
    assert iam.refresh().issued_at == START


def test_refresh_retries_a_429_after_its_retry_after_and_does_not_replay_a_500():
    iam = ScriptedIAM([oauth_error(429, "slow_down", retry_after="2"), oauth_error(500, "server_error")])
    with pytest.raises(OACTokenEndpointUnavailable) as caught:
        iam.refresh()
    assert caught.value.refresh_token_maybe_spent is True
    assert len(iam.sent) == 2
    assert len(iam.sleeps) == 1 and 2.0 <= iam.sleeps[0] <= 3.0


def test_refresh_retries_a_connection_that_never_carried_the_request():
    iam = ScriptedIAM([OACTransportError("refused", request_sent=False), granted()])
    assert iam.refresh().refresh_token == "the-next-refresh-token"
    assert len(iam.sent) == 2


def test_refresh_never_resends_a_token_after_a_timeout_once_sent():
    iam = ScriptedIAM([OACTimeoutError("slow", request_sent=True), granted()])
    with pytest.raises(OACTokenEndpointUnavailable) as caught:
        iam.refresh()
    assert caught.value.refresh_token_maybe_spent is True
    assert isinstance(caught.value.__cause__, OACTimeoutError)
    assert len(iam.sent) == 1 and iam.sleeps == []


def test_refresh_never_resends_after_an_unreadable_answer():
    iam = ScriptedIAM([html_page(200), granted()])
    with pytest.raises(OACTokenEndpointUnavailable) as caught:
        iam.refresh()
    assert caught.value.refresh_token_maybe_spent is True
    assert len(iam.sent) == 1


def test_refresh_gives_up_rather_than_wait_longer_than_a_minute():
    iam = ScriptedIAM([oauth_error(503, "temporarily_unavailable", retry_after="3600"), granted()])
    with pytest.raises(OACTokenEndpointUnavailable) as caught:
        iam.refresh()
    assert caught.value.refresh_token_maybe_spent is False
    assert len(iam.sent) == 1 and iam.sleeps == []


def test_refresh_stops_after_max_attempts_unspent():
    iam = ScriptedIAM([oauth_error(503, "temporarily_unavailable")] * 3)
    with pytest.raises(OACTokenEndpointUnavailable) as caught:
        iam.refresh(max_attempts=3, rand=lambda: 0.0)
    assert caught.value.refresh_token_maybe_spent is False
    assert len(iam.sent) == 3 and len(iam.sleeps) == 2


def test_dead_login_is_final_at_once():
    iam = ScriptedIAM([oauth_error(400, "invalid_grant", "revoked"), granted()])
    with pytest.raises(OACLoginRequired):
        iam.refresh()
    assert len(iam.sent) == 1


def test_bad_refresh_token_is_refused_before_any_step():
    flow = refresh_flow(ENDPOINTS, CLIENT_ID, "   ")
    with pytest.raises(OACConfigError, match="refresh token"):
        next(flow)


# --- the wait between device polls ------------------------------------------------------------------


def test_device_poll_waits_the_interval_while_iam_answers():
    assert device_poll_delay(DEFAULT_POLL_INTERVAL) == 5.0


def test_device_poll_keeps_the_5_seconds_every_slow_down_added():
    state = PollState(interval=DEFAULT_POLL_INTERVAL, deadline=START + 300).slowed_down().slowed_down()
    assert device_poll_delay(state.interval) == 15.0
    assert device_poll_delay(state.interval, 1, rand=lambda: 0.0) == 15.0


def test_device_poll_backs_off_from_the_interval_while_iam_fails():
    delays = [device_poll_delay(5.0, failures, rand=lambda: 1.0) for failures in range(1, 7)]
    assert delays == [10.0, 15.0, 25.0, 45.0, 5.0 + MAX_POLL_BACKOFF, 5.0 + MAX_POLL_BACKOFF]


def test_device_poll_after_a_429_waits_at_least_its_retry_after():
    assert device_poll_delay(5.0, 1, 30.0, rand=lambda: 0.0) == 35.0
