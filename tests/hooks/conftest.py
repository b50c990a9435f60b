"""Fixtures of the hook tests."""

from __future__ import annotations

import pytest

from airflow_provider_oac.hooks import masking
from airflow_provider_oac.hooks.token_manager import forget_process_cache


@pytest.fixture
def fresh_token_state(tmp_path, monkeypatch):
    """A state directory of the test's own, and no token cache or masked generations before or after."""
    monkeypatch.setenv("AIRFLOW_PROVIDER_OAC_STATE_DIR", str(tmp_path / "state"))
    forget_process_cache()
    masking.forget()
    yield
    forget_process_cache()
    masking.forget()
