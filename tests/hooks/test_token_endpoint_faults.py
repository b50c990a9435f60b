"""Token-endpoint outages through the hook: retried with backoff, never taken for a dead login.

IAM's ``POST /oauth2/v1/token`` is faulted in the emulator (429, 503, 500, an answer lost after
IAM spent the token) or pointed at a closed port. Sleeps are recorded instead of slept.
"""

from __future__ import annotations

import pytest

from airflow_provider_oac.errors import OACLoginRequired, OACTokenEndpointUnavailable
from airflow_provider_oac.hooks.oac import OACHook
from airflow_provider_oac.hooks.token_manager import TokenManager, forget_process_cache
from airflow_provider_oac.hooks.token_store import VariableTokenStore
from tests.deployment import free_port
from tests.helpers import login

pytestmark = pytest.mark.usefixtures("airflow_db")

TOKEN_ROUTE = "POST /iam/oauth2/v1/token"


@pytest.fixture(autouse=True)
def state_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("AIRFLOW_PROVIDER_OAC_STATE_DIR", str(tmp_path / "state"))
    forget_process_cache()
    yield
    forget_process_cache()


def hook_with_recorded_sleeps(conn_id: str) -> tuple[OACHook, list[float]]:
    """The hook of ``conn_id`` whose token refreshes record their backoff instead of sleeping."""
    sleeps: list[float] = []
    hook = OACHook(conn_id)
    hook.token_manager = TokenManager(
        hook.config, VariableTokenStore(hook.config.refresh_token), sleep=sleeps.append
    )
    return hook, sleeps


def test_429_with_retry_after_is_waited_out_and_the_refresh_succeeds(emulator):
    login(emulator, "oac_f_429")
    emulator.control.add_fault(TOKEN_ROUTE, "status", status=429, retry_after=2, times=2)
    hook, sleeps = hook_with_recorded_sleeps("oac_f_429")
    assert hook.list_snapshots() == []
    assert len(sleeps) == 2 and all(2 <= s <= 3 for s in sleeps)  # Retry-After is the floor
    counters = emulator.control.counters()
    assert counters["refreshes"] == 1
    assert counters["spent_refresh_token_presentations"] == 0


def test_503_is_retried_with_backoff_and_the_refresh_succeeds(emulator):
    login(emulator, "oac_f_503")
    emulator.control.add_fault(TOKEN_ROUTE, "status", status=503, times=3)
    hook, sleeps = hook_with_recorded_sleeps("oac_f_503")
    hook.get_access_token()
    assert len(sleeps) == 3
    assert emulator.control.counters()["refreshes"] == 1


def test_a_lasting_503_is_a_temporary_error_naming_the_connection_and_the_login_survives(emulator):
    login(emulator, "oac_f_503_long")
    emulator.control.add_fault(TOKEN_ROUTE, "status", status=503, times=5)
    hook, sleeps = hook_with_recorded_sleeps("oac_f_503_long")
    with pytest.raises(OACTokenEndpointUnavailable) as excinfo:
        hook.get_access_token()
    assert not isinstance(excinfo.value, OACLoginRequired)
    assert excinfo.value.refresh_token_maybe_spent is False
    message = str(excinfo.value)
    assert "'oac_f_503_long'" in message and "503" in message and "temporarily" in message
    assert len(sleeps) == 4  # five attempts, backing off between them
    # IAM is back: the same stored token works, nothing was spent.
    hook.get_access_token()
    assert emulator.control.counters()["refreshes"] == 1


def test_a_closed_port_is_retried_and_then_a_temporary_error_never_a_dead_login(emulator):
    closed = f"http://127.0.0.1:{free_port()}/iam/oauth2/v1/token"
    login(emulator, "oac_f_refused", token_url=closed)
    hook, sleeps = hook_with_recorded_sleeps("oac_f_refused")
    with pytest.raises(OACTokenEndpointUnavailable) as excinfo:
        hook.list_snapshots()
    assert not isinstance(excinfo.value, OACLoginRequired)
    assert excinfo.value.refresh_token_maybe_spent is False  # a refused connection carried nothing
    assert "connection refused" in str(excinfo.value)
    assert len(sleeps) == 4
    assert emulator.control.counters()["refreshes"] == 0


def test_a_500_is_not_replayed_and_says_the_token_may_be_spent(emulator):
    login(emulator, "oac_f_500")
    before = emulator.control.counters()["token_requests"]  # the login's device polls
    emulator.control.add_fault(TOKEN_ROUTE, "status", status=500, times=1)
    hook, sleeps = hook_with_recorded_sleeps("oac_f_500")
    with pytest.raises(OACTokenEndpointUnavailable) as excinfo:
        hook.get_access_token()
    assert not isinstance(excinfo.value, OACLoginRequired)
    assert excinfo.value.refresh_token_maybe_spent is True
    message = str(excinfo.value)
    assert "may have spent" in message and "airflow-oac login --conn-id oac_f_500" in message
    assert sleeps == []
    assert emulator.control.counters()["token_requests"] == before + 1
    # IAM had not taken it (the 500 came before any work): the next attempt presents it and works.
    hook.get_access_token()
    assert emulator.control.counters()["spent_refresh_token_presentations"] == 0


def test_an_answer_lost_after_iam_spent_the_token_fails_temporarily_then_the_login_is_dead(emulator):
    emulator.control.configure(reuse_detection=True)
    login(emulator, "oac_f_spent")
    emulator.control.add_fault(TOKEN_ROUTE, "accept_then_error", status=502, times=1)
    hook, _ = hook_with_recorded_sleeps("oac_f_spent")
    with pytest.raises(OACTokenEndpointUnavailable) as first:
        hook.get_access_token()
    assert first.value.refresh_token_maybe_spent is True
    # What docs/tokens.md describes: the retry presents the same (spent) token, and IAM with reuse
    # detection ends the login; the error then says to log in again, once, without retries.
    with pytest.raises(OACLoginRequired, match="airflow-oac login --conn-id oac_f_spent"):
        hook.get_access_token()
    assert emulator.control.counters()["spent_refresh_token_presentations"] == 1
