"""Device login, refresh and revocation over real HTTP against the emulated identity domain.

Waits run on a fake clock (``FakeClock``) unless a test is about real concurrency, so the module
takes seconds. The emulator's own clock is real time; ``enforce_poll_interval=False`` keeps it from
judging polls that only the fake clock spaced out.
"""

from __future__ import annotations

import socket
import threading
import time
from urllib.parse import urlsplit

import pytest
import requests
from oac_auth_helpers import FakeClock

from airflow_provider_oac.auth.flows import (
    poll_device_login,
    poll_once,
    refresh_tokens,
    revoke_refresh_token,
    start_device_login,
)
from airflow_provider_oac.auth.protocol import IAMEndpoints, Pending
from airflow_provider_oac.errors import (
    OACAccessDenied,
    OACAuthError,
    OACConfigError,
    OACDeviceCodeExpired,
    OACDeviceFlowError,
    OACLoginRequired,
    OACTimeoutError,
    OACTokenEndpointUnavailable,
)

TOKEN_ROUTE = "POST /iam/oauth2/v1/token"


class RecordingSession(requests.Session):
    """A real session that notes the (fake) time and path of every request it sends."""

    def __init__(self, clock: FakeClock | None = None):
        super().__init__()
        self.trust_env = False  # loopback only: no proxy from the environment
        self.clock = clock
        self.sent: list[tuple[float, str]] = []

    def request(self, method, url, *args, **kwargs):
        self.sent.append((self.clock.now() if self.clock else time.time(), urlsplit(url).path))
        return super().request(method, url, *args, **kwargs)

    def poll_times(self) -> list[float]:
        return [at for at, path in self.sent if path.endswith("/oauth2/v1/token")]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=float(int(time.time())))


@pytest.fixture
def session(clock):
    with RecordingSession(clock) as recording:
        yield recording


@pytest.fixture
def endpoints(emulator) -> IAMEndpoints:
    return IAMEndpoints.for_domain(emulator.iam_url)


def start(emulator, session, endpoints, clock):
    return start_device_login(
        session, endpoints, emulator.config.client_id, emulator.config.scope, now=clock.now
    )


def login(emulator, session, endpoints, clock):
    """A completed device login (auto-approved), on the fake clock."""
    emulator.control.configure(auto_approve=True, enforce_poll_interval=False)
    authorization = start(emulator, session, endpoints, clock)
    return poll_device_login(
        session, endpoints, emulator.config.client_id, authorization, sleep=clock.sleep, now=clock.now
    )


def gaps(times: list[float]) -> list[float]:
    return [round(later - earlier, 6) for earlier, later in zip(times, times[1:])]


# --- device login --------------------------------------------------------------------------------


def test_login_completes_when_approved_from_another_thread_after_the_first_poll(emulator, endpoints):
    emulator.control.configure(device_interval=1)
    control = emulator.control
    with RecordingSession() as session:
        authorization = start_device_login(
            session, endpoints, emulator.config.client_id, emulator.config.scope
        )

        def approve_after_first_poll():
            deadline = time.monotonic() + 10
            while control.counters()["device_polls"] < 1 and time.monotonic() < deadline:
                time.sleep(0.02)
            control.approve(authorization.user_code)

        approver = threading.Thread(target=approve_after_first_poll)
        approver.start()
        tokens = poll_device_login(session, endpoints, emulator.config.client_id, authorization)
        approver.join()

    assert tokens.subject == emulator.config.username
    assert tokens.refresh_token
    assert control.counters()["device_polls"] >= 2
    assert control.counters()["device_grants"] == 1


def test_denied_login_raises_access_denied(emulator, session, endpoints, clock):
    emulator.control.configure(enforce_poll_interval=False)
    authorization = start(emulator, session, endpoints, clock)
    emulator.control.deny(authorization.user_code)
    with pytest.raises(OACAccessDenied):
        poll_device_login(
            session, endpoints, emulator.config.client_id, authorization, sleep=clock.sleep, now=clock.now
        )
    assert emulator.control.counters()["device_polls"] == 1


def test_code_expired_at_iam_raises_device_code_expired(emulator, session, endpoints, clock):
    emulator.control.configure(enforce_poll_interval=False)
    authorization = start(emulator, session, endpoints, clock)
    emulator.control.advance_clock(301)
    with pytest.raises(OACDeviceCodeExpired):
        poll_device_login(
            session, endpoints, emulator.config.client_id, authorization, sleep=clock.sleep, now=clock.now
        )


def test_polling_stops_at_the_codes_expiry_without_a_late_poll(emulator, session, endpoints, clock):
    emulator.control.configure(enforce_poll_interval=False, device_code_ttl=12)
    authorization = start(emulator, session, endpoints, clock)
    with pytest.raises(OACDeviceCodeExpired):
        poll_device_login(
            session, endpoints, emulator.config.client_id, authorization, sleep=clock.sleep, now=clock.now
        )
    started = authorization.expires_at - 12
    assert [round(at - started, 6) for at in session.poll_times()] == [5.0, 10.0]
    assert clock.now() == pytest.approx(authorization.expires_at)


def test_no_interval_from_iam_means_polling_every_five_seconds(emulator, session, endpoints, clock):
    emulator.control.configure(enforce_poll_interval=False)
    authorization = start(emulator, session, endpoints, clock)
    assert (authorization.interval, authorization.interval_was_sent) == (5.0, False)
    started = clock.now()

    def approve_after_twelve_seconds(seconds_left):
        if clock.now() - started >= 12 and emulator.control.pending_user_codes():
            emulator.control.approve(authorization.user_code)

    tokens = poll_device_login(
        session,
        endpoints,
        emulator.config.client_id,
        authorization,
        sleep=clock.sleep,
        now=clock.now,
        on_tick=approve_after_twelve_seconds,
    )
    assert tokens.access_token
    assert [round(at - started, 6) for at in session.poll_times()] == [5.0, 10.0, 15.0]


def test_interval_sent_by_iam_is_used_for_every_poll(emulator, session, endpoints, clock):
    emulator.control.configure(device_interval=2, enforce_poll_interval=False, device_code_ttl=7)
    authorization = start(emulator, session, endpoints, clock)
    assert (authorization.interval, authorization.interval_was_sent) == (2.0, True)
    with pytest.raises(OACDeviceCodeExpired):
        poll_device_login(
            session, endpoints, emulator.config.client_id, authorization, sleep=clock.sleep, now=clock.now
        )
    assert gaps([authorization.expires_at - 7, *session.poll_times()]) == [2.0, 2.0, 2.0]


def test_slow_down_from_iam_adds_five_seconds_to_every_later_wait(emulator, session, endpoints, clock):
    # The fake clock waits, the emulator's real clock does not: every poll after the first is
    # "too soon" for it, so each one answers slow_down and the interval must keep growing.
    emulator.control.configure(device_interval=1, device_code_ttl=60)
    authorization = start(emulator, session, endpoints, clock)
    with pytest.raises(OACDeviceCodeExpired):
        poll_device_login(
            session, endpoints, emulator.config.client_id, authorization, sleep=clock.sleep, now=clock.now
        )
    # First poll pending after 1 s; the second gets slow_down; each later wait is 5 s longer.
    assert gaps([authorization.expires_at - 60, *session.poll_times()]) == [1.0, 1.0, 6.0, 11.0, 16.0, 21.0]


def test_countdown_ticks_at_least_once_a_second(emulator, session, endpoints, clock):
    emulator.control.configure(auto_approve=True, enforce_poll_interval=False)
    authorization = start(emulator, session, endpoints, clock)
    ticks: list[float] = []
    poll_device_login(
        session,
        endpoints,
        emulator.config.client_id,
        authorization,
        sleep=clock.sleep,
        now=clock.now,
        on_tick=ticks.append,
    )
    assert ticks == [300.0, 299.0, 298.0, 297.0, 296.0]
    assert max(clock.sleeps) <= 1.0


def test_cancel_stops_waiting_before_the_next_poll(emulator, session, endpoints, clock):
    authorization = start(emulator, session, endpoints, clock)
    cancel = threading.Event()
    with pytest.raises(OACDeviceFlowError, match="cancelled"):
        poll_device_login(
            session,
            endpoints,
            emulator.config.client_id,
            authorization,
            sleep=clock.sleep,
            now=clock.now,
            on_tick=lambda seconds_left: cancel.set(),
            cancel=cancel,
        )
    assert session.poll_times() == []


def test_overloaded_token_endpoint_makes_polling_back_off(emulator, session, endpoints, clock):
    emulator.control.configure(auto_approve=True, enforce_poll_interval=False)
    emulator.control.add_fault(TOKEN_ROUTE, "status", status=429, retry_after=30)
    emulator.control.add_fault(TOKEN_ROUTE, "status", status=503)
    authorization = start(emulator, session, endpoints, clock)
    tokens = poll_device_login(
        session, endpoints, emulator.config.client_id, authorization, sleep=clock.sleep, now=clock.now
    )
    assert tokens.access_token
    poll_gaps = gaps(session.poll_times())
    assert poll_gaps[0] >= 5.0 + 30.0  # interval + Retry-After
    assert poll_gaps[1] >= 5.0
    assert emulator.control.counters()["token_requests"] == 3


def test_poll_once_sends_exactly_one_poll(emulator, session, endpoints, clock):
    authorization = start(emulator, session, endpoints, clock)
    state = authorization.poll_state()
    result = poll_once(
        session, endpoints, emulator.config.client_id, authorization.device_code, state, now=clock.now
    )
    assert result == Pending(state)
    assert emulator.control.counters()["device_polls"] == 1


def test_unknown_client_id_is_rejected_with_the_client_hint(emulator, session, endpoints, clock):
    with pytest.raises(OACAuthError, match="client id") as caught:
        start_device_login(session, endpoints, "someone-else", emulator.config.scope, now=clock.now)
    assert caught.value.error == "invalid_client"


def test_wrong_audience_is_rejected_with_the_primary_audience_hint(emulator, session, endpoints, clock):
    scope = "https://myoac-abcd-ia.analytics.ocp.oraclecloud.comurn:opc:resource:consumer::all"
    with pytest.raises(OACAuthError, match="primary audience") as caught:
        start_device_login(session, endpoints, emulator.config.client_id, scope, now=clock.now)
    assert caught.value.error == "invalid_scope"


def test_bad_scope_fails_before_any_request(emulator, session, endpoints, clock):
    with pytest.raises(OACConfigError):
        start_device_login(session, endpoints, emulator.config.client_id, "openid", now=clock.now)
    assert session.sent == []


def test_access_token_expiry_follows_iams_expires_in(emulator, session, endpoints, clock):
    emulator.control.configure(access_token_ttl=30)
    tokens = login(emulator, session, endpoints, clock)
    assert tokens.access_token_expires_at - tokens.issued_at == 30.0


# --- refresh -------------------------------------------------------------------------------------


def test_refresh_rotates_and_the_old_refresh_token_is_spent(emulator, session, endpoints, clock):
    first = login(emulator, session, endpoints, clock)
    second = refresh_tokens(
        session, endpoints, emulator.config.client_id, first.refresh_token, sleep=clock.sleep, now=clock.now
    )
    assert second.refresh_token not in (None, first.refresh_token)
    assert second.subject == emulator.config.username
    assert second.refresh_token_expires_at == pytest.approx(second.issued_at + 7 * 24 * 3600)

    with pytest.raises(OACLoginRequired) as caught:
        refresh_tokens(session, endpoints, emulator.config.client_id, first.refresh_token, sleep=clock.sleep)
    assert caught.value.error == "invalid_grant"
    assert emulator.control.counters()["spent_refresh_token_presentations"] == 1


def test_without_rotation_the_same_refresh_token_keeps_working(emulator, session, endpoints, clock):
    first = login(emulator, session, endpoints, clock)
    emulator.control.configure(rotate_refresh_tokens=False, return_refresh_token_on_refresh=False)
    client_id = emulator.config.client_id
    second = refresh_tokens(session, endpoints, client_id, first.refresh_token, sleep=clock.sleep)
    third = refresh_tokens(session, endpoints, client_id, second.refresh_token, sleep=clock.sleep)
    assert first.refresh_token == second.refresh_token == third.refresh_token
    assert emulator.control.counters()["refreshes"] == 2


def test_rate_limited_refresh_waits_for_retry_after_then_succeeds(emulator, session, endpoints, clock):
    first = login(emulator, session, endpoints, clock)
    emulator.control.add_fault(TOKEN_ROUTE, "status", status=429, retry_after=3)
    clock.sleeps.clear()
    tokens = refresh_tokens(
        session, endpoints, emulator.config.client_id, first.refresh_token, sleep=clock.sleep, now=clock.now
    )
    assert tokens.refresh_token != first.refresh_token
    assert len(clock.sleeps) == 1 and 3.0 <= clock.sleeps[0] <= 4.0
    assert emulator.control.counters()["refreshes"] == 1


def test_overloaded_iam_503_is_retried(emulator, session, endpoints, clock):
    first = login(emulator, session, endpoints, clock)
    emulator.control.add_fault(TOKEN_ROUTE, "status", status=503, times=2)
    tokens = refresh_tokens(
        session, endpoints, emulator.config.client_id, first.refresh_token, sleep=clock.sleep
    )
    assert tokens.access_token
    assert emulator.control.counters()["refreshes"] == 1


def test_refresh_gives_up_after_max_attempts_with_the_token_unspent(emulator, session, endpoints, clock):
    first = login(emulator, session, endpoints, clock)
    emulator.control.add_fault(TOKEN_ROUTE, "status", status=503, times=10)
    before = emulator.control.counters()["token_requests"]
    with pytest.raises(OACTokenEndpointUnavailable) as caught:
        refresh_tokens(
            session,
            endpoints,
            emulator.config.client_id,
            first.refresh_token,
            max_attempts=3,
            sleep=clock.sleep,
        )
    assert caught.value.refresh_token_maybe_spent is False
    assert emulator.control.counters()["token_requests"] - before == 3


def test_retry_after_longer_than_a_minute_is_left_to_the_caller(emulator, session, endpoints, clock):
    first = login(emulator, session, endpoints, clock)
    emulator.control.add_fault(TOKEN_ROUTE, "status", status=429, retry_after=600)
    before = emulator.control.counters()["token_requests"]
    clock.sleeps.clear()
    with pytest.raises(OACTokenEndpointUnavailable) as caught:
        refresh_tokens(session, endpoints, emulator.config.client_id, first.refresh_token, sleep=clock.sleep)
    assert caught.value.retry_after == 600
    assert caught.value.refresh_token_maybe_spent is False
    assert clock.sleeps == []
    assert emulator.control.counters()["token_requests"] - before == 1


@pytest.mark.parametrize(
    ("action", "status"),
    [
        ("status", 500),
        ("status", 502),
        ("status", 504),
        ("accept_then_error", 502),
        ("html", 200),
        ("malformed", 200),
    ],
)
def test_refresh_failure_that_may_have_spent_the_token_is_not_replayed(
    emulator, session, endpoints, clock, action, status
):
    first = login(emulator, session, endpoints, clock)
    emulator.control.add_fault(TOKEN_ROUTE, action, status=status)
    before = emulator.control.counters()["token_requests"]
    with pytest.raises(OACTokenEndpointUnavailable) as caught:
        refresh_tokens(session, endpoints, emulator.config.client_id, first.refresh_token, sleep=clock.sleep)
    assert caught.value.refresh_token_maybe_spent is True
    assert not isinstance(caught.value, OACLoginRequired)
    assert emulator.control.counters()["token_requests"] - before == 1
    assert emulator.control.counters()["spent_refresh_token_presentations"] == 0


def test_timeout_after_sending_marks_the_refresh_token_maybe_spent(emulator, session, endpoints, clock):
    first = login(emulator, session, endpoints, clock)
    emulator.control.add_fault(TOKEN_ROUTE, "accept_then_hang", delay=5)
    with pytest.raises(OACTokenEndpointUnavailable) as caught:
        refresh_tokens(
            session,
            endpoints,
            emulator.config.client_id,
            first.refresh_token,
            sleep=clock.sleep,
            timeout=(2.0, 0.3),
        )
    assert caught.value.refresh_token_maybe_spent is True
    assert isinstance(caught.value.__cause__, OACTimeoutError)
    # IAM did take it: the emulator counted the refresh, and the answer never arrived.
    assert emulator.control.counters()["refreshes"] == 1
    assert emulator.control.counters()["token_requests"] == 2  # the device grant, the one refresh


def test_unreachable_iam_is_retried_because_nothing_was_sent(session, clock):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    endpoints = IAMEndpoints.for_domain(f"http://127.0.0.1:{closed_port}/iam")
    with pytest.raises(OACTokenEndpointUnavailable) as caught:
        refresh_tokens(session, endpoints, "a-client", "a-refresh-token", max_attempts=3, sleep=clock.sleep)
    assert caught.value.refresh_token_maybe_spent is False
    assert len(session.sent) == 3
    assert len(clock.sleeps) == 2
    assert "a-refresh-token" not in str(caught.value)


def test_revoked_login_needs_a_new_login(emulator, session, endpoints, clock):
    first = login(emulator, session, endpoints, clock)
    assert revoke_refresh_token(session, endpoints, emulator.config.client_id, first.refresh_token) is True
    with pytest.raises(OACLoginRequired, match="expired or was revoked"):
        refresh_tokens(session, endpoints, emulator.config.client_id, first.refresh_token, sleep=clock.sleep)


def test_revocation_failure_is_reported_not_raised(emulator, session, endpoints, clock):
    emulator.control.add_fault("POST /iam/oauth2/v1/revoke", "status", status=500)
    assert revoke_refresh_token(session, endpoints, emulator.config.client_id, "some-refresh-token") is False
