"""Rotating tokens stay masked without Airflow's secrets masker growing with every refresh.

A real TokenManager refreshes against the emulator (real HTTP, SQLite Variables) through many
access-token lifetimes on an injected clock; the assertions read Airflow's own masker.
"""

from __future__ import annotations

import re

import pytest

from airflow_provider_oac.hooks import masking
from airflow_provider_oac.hooks._airflow import mask_secret
from airflow_provider_oac.hooks.oac import OACHook
from airflow_provider_oac.hooks.token_manager import TokenManager, forget_process_cache
from airflow_provider_oac.hooks.token_store import VariableTokenStore
from tests.helpers import login

pytestmark = pytest.mark.usefixtures("airflow_db")


@pytest.fixture(autouse=True)
def state_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("AIRFLOW_PROVIDER_OAC_STATE_DIR", str(tmp_path / "state"))
    forget_process_cache()
    masking.forget()
    yield
    forget_process_cache()
    masking.forget()


class Clock:
    def __init__(self):
        import time

        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def masker():
    found = masking._masker(masking._masker_modules()[0])
    assert found is not None, "Airflow's secrets masker no longer has the shape masking.py knows"
    return found


def is_masked(value: str) -> bool:
    return value not in str(masker().redact(f"leaked: {value}"))


def refresh_many_times(conn_id: str, lifetimes: int) -> tuple[list[str], list[str], TokenManager]:
    clock = Clock()
    tokens = TokenManager(OACHook(conn_id).config, VariableTokenStore(), clock=clock)
    access_tokens, refresh_tokens = [], []
    for _ in range(lifetimes):
        access_tokens.append(tokens.get_access_token())
        refresh_tokens.append(tokens.stored_record().refresh_token)
        clock.now += 95  # 100-second access tokens: each step needs a refresh
    return access_tokens, refresh_tokens, tokens


def test_a_long_running_process_masks_only_the_recent_token_generations(emulator):
    login(emulator, "oac_mask_long")
    # Fed by the ORM when it loads the token Variable (3.0: the SDK's masker is core's too).
    core = masking._masker(masking._masker_modules()[1]) or masker()
    patterns_before, core_before = len(masker().patterns), len(core.patterns)
    access_tokens, refresh_tokens, tokens = refresh_many_times("oac_mask_long", 30)
    assert tokens.refresh_count == 30

    assert is_masked(access_tokens[-1]) and is_masked(refresh_tokens[-1])
    assert is_masked(access_tokens[-2]) and is_masked(refresh_tokens[-2])  # still within its lifetime
    # Spent and expired for minutes: no longer held (nor recompiled into every regex).
    assert not is_masked(access_tokens[0]) and not is_masked(refresh_tokens[0])
    assert masking.masked_generations(tokens._key) <= masking.KEEP_GENERATIONS + 1 + 4
    # 30 refreshes without retiring would add 90 patterns (2 tokens + the stored record's text each).
    assert len(masker().patterns) - patterns_before <= 3 * (masking.KEEP_GENERATIONS + 1 + 4)
    assert len(core.patterns) - core_before <= masking.KEEP_GENERATIONS + 1 + 4


def test_the_logins_own_refresh_token_stays_masked(emulator):
    login(emulator, "oac_mask_login")
    login_refresh_token = OACHook("oac_mask_login").config.refresh_token
    refresh_many_times("oac_mask_login", 12)
    assert is_masked(login_refresh_token)


def test_retiring_tokens_leaves_every_other_secret_masked(emulator):
    other = "a-password-of-somebody-else-0123456789"
    mask_secret(other)
    login(emulator, "oac_mask_other")
    refresh_many_times("oac_mask_other", 12)
    assert is_masked(other)
    assert re.escape(other) in masker().patterns


def test_unmasking_only_removes_what_it_is_given():
    kept, dropped = "kept-secret-value-98765", "dropped-secret-value-43210"
    mask_secret(kept)
    mask_secret(dropped)
    assert masking.unmask_secrets([dropped, "never-masked-value-111"]) == 1
    assert is_masked(kept) and not is_masked(dropped)
    assert masking.unmask_secrets([dropped]) == 0
