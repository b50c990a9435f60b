"""How OACHook keeps tokens: one-time refresh tokens stored before use, one refresh for everyone.

Against the emulator (real HTTP) and the session's SQLite metadata DB (the store's Variables).
"""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest

from airflow_provider_oac.errors import OACLoginRequired
from airflow_provider_oac.hooks.config import login_key
from airflow_provider_oac.hooks.oac import OACHook
from airflow_provider_oac.hooks.token_manager import TokenManager, forget_process_cache
from airflow_provider_oac.hooks.token_store import HostJournal, VariableTokenStore, variable_key
from tests.helpers import login

pytestmark = pytest.mark.usefixtures("airflow_db")


@pytest.fixture(autouse=True)
def state_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("AIRFLOW_PROVIDER_OAC_STATE_DIR", str(tmp_path / "state"))
    forget_process_cache()
    yield tmp_path / "state"
    forget_process_cache()


class Clock:
    def __init__(self):
        import time

        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def manager(conn_id: str, clock=None, store=None) -> TokenManager:
    hook = OACHook(conn_id)
    return TokenManager(
        hook.config, store or VariableTokenStore(hook.config.refresh_token), clock=clock or Clock()
    )


def stored(conn_id: str):
    config = OACHook(conn_id).config
    return VariableTokenStore(config.refresh_token).read(conn_id, config.login_key)


def test_first_use_refreshes_once_and_stores_the_new_refresh_token_before_returning(emulator):
    login(emulator, "oac_t_first")
    access_token = OACHook("oac_t_first").get_access_token()
    record = stored("oac_t_first")
    assert record is not None and record.generation == 1
    assert record.access_token == access_token
    assert record.refresh_token != OACHook("oac_t_first").config.refresh_token  # rotated
    assert emulator.control.counters()["refreshes"] == 1


def test_a_fresh_access_token_is_reused_without_calling_iam(emulator):
    login(emulator, "oac_t_reuse")
    first = OACHook("oac_t_reuse").get_access_token()
    forget_process_cache()  # a new process: only the store is shared
    assert OACHook("oac_t_reuse").get_access_token() == first
    assert emulator.control.counters()["refreshes"] == 1


def test_an_expiring_access_token_is_refreshed_and_the_generation_grows(emulator):
    login(emulator, "oac_t_expiry")
    clock = Clock()
    tokens = manager("oac_t_expiry", clock)
    first = tokens.get_access_token()
    clock.now += 95  # OAC tokens live 100 s; the margin refreshes before the end
    second = tokens.get_access_token()
    assert second != first
    assert stored("oac_t_expiry").generation == 2
    counters = emulator.control.counters()
    assert counters["refreshes"] == 2
    assert counters["spent_refresh_token_presentations"] == 0


def test_one_time_refresh_tokens_carry_over_across_three_separate_processes(emulator):
    emulator.control.configure(reuse_detection=True, access_token_ttl=1)
    login(emulator, "oac_t_procs")
    code = (
        "import time; from airflow_provider_oac.hooks.oac import OACHook; "
        "time.sleep(1.1); print(len(OACHook('oac_t_procs').get_access_token()))"
    )
    for _ in range(3):
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr[-2000:]
    counters = emulator.control.counters()
    assert counters["refreshes"] == 3
    assert counters["spent_refresh_token_presentations"] == 0
    assert counters["revoked_logins"] == 0
    assert stored("oac_t_procs").generation == 3


def test_a_401_from_oac_triggers_one_refresh_and_one_retry(emulator):
    login(emulator, "oac_t_401")
    hook = OACHook("oac_t_401")
    hook.list_snapshots()
    emulator.control.expire_access_tokens()
    assert hook.list_snapshots() == []
    counters = emulator.control.counters()
    assert counters["oac_unauthorized"] == 1
    assert counters["refreshes"] == 2


def test_twenty_threads_with_an_empty_cache_make_one_refresh(emulator):
    emulator.control.configure(reuse_detection=True)
    login(emulator, "oac_t_threads")
    tokens: list[str] = []
    barrier = threading.Barrier(20)

    def work():
        barrier.wait()
        tokens.append(OACHook("oac_t_threads").get_access_token())

    threads = [threading.Thread(target=work) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(tokens)) == 1
    assert emulator.control.counters()["refreshes"] == 1


def test_a_new_login_supersedes_tokens_stored_for_the_old_one(emulator):
    login(emulator, "oac_t_relogin")
    OACHook("oac_t_relogin").get_access_token()
    old_key = OACHook("oac_t_relogin").config.login_key
    result = login(emulator, "oac_t_relogin")
    assert result.forgotten_records == 1
    new_config = OACHook("oac_t_relogin").config
    assert new_config.login_key != old_key
    assert stored("oac_t_relogin") is None  # the new login starts from the connection's token
    OACHook("oac_t_relogin").get_access_token()
    assert stored("oac_t_relogin").generation == 1


def test_a_late_writer_of_an_old_login_cannot_overwrite_the_new_one(emulator):
    login(emulator, "oac_t_late")
    old_hook = OACHook("oac_t_late")
    old_config = old_hook.config
    old_hook.get_access_token()
    old_record = VariableTokenStore(old_config.refresh_token).read("oac_t_late", old_config.login_key)
    login(emulator, "oac_t_late")
    forget_process_cache()
    # The old login's process finishes a refresh after the new login and writes its record.
    VariableTokenStore(old_config.refresh_token).write("oac_t_late", old_record)
    new_token = OACHook("oac_t_late").get_access_token()
    assert new_token != old_record.access_token
    assert stored("oac_t_late").generation == 1
    assert variable_key("oac_t_late", old_config.login_key) != variable_key(
        "oac_t_late", OACHook("oac_t_late").config.login_key
    )


class FailingStore(VariableTokenStore):
    def write(self, conn_id, record):
        raise ConnectionError("the API server went away")


def test_a_refresh_whose_store_write_fails_is_recovered_from_the_host_journal(emulator):
    emulator.control.configure(reuse_detection=True)
    login(emulator, "oac_t_journal")
    config = OACHook("oac_t_journal").config
    crashed = TokenManager(config, FailingStore(), sleep=lambda s: None)
    crashed.get_access_token()  # a warning says the journal keeps it (issue 13: only both failing raises)
    forget_process_cache()
    clock = Clock()
    survivor = TokenManager(config, VariableTokenStore(config.refresh_token), clock=clock)
    survivor.get_access_token()  # recovers the journaled record into the store
    assert stored("oac_t_journal").generation == 1
    clock.now += 95
    survivor.get_access_token()  # refreshes with the recovered (newest) refresh token
    counters = emulator.control.counters()
    assert counters["spent_refresh_token_presentations"] == 0
    assert counters["refreshes"] == 2
    assert stored("oac_t_journal").generation == 2


def test_journal_files_are_private_to_the_user(emulator, state_dir: Path):
    login(emulator, "oac_t_private")
    OACHook("oac_t_private").get_access_token()
    journals = list(state_dir.glob("*.journal"))
    assert journals and all(p.stat().st_mode & 0o077 == 0 for p in journals)
    assert state_dir.stat().st_mode & 0o077 == 0


def test_an_expired_login_fails_with_the_command_to_run(emulator):
    login(emulator, "oac_t_dead")
    emulator.control.advance_clock(8 * 24 * 3600)  # past IAM's 7-day refresh-token lifetime
    with pytest.raises(OACLoginRequired) as excinfo:
        OACHook("oac_t_dead").get_access_token()
    message = str(excinfo.value)
    assert "oac_t_dead" in message
    assert "airflow-oac login --conn-id oac_t_dead" in message
    assert "\n" not in message


def test_the_login_expiry_is_known_and_warned_about_a_day_ahead(emulator):
    login(emulator, "oac_t_warn", refresh_token_lifetime=3600 * 30)
    hook = OACHook("oac_t_warn")
    assert hook.login_expiry_warning() is None
    import time

    warning = hook.login_expiry_warning(now=time.time() + 3600 * 10)
    assert warning is not None
    assert "airflow-oac login --conn-id oac_t_warn" in warning


def test_the_store_record_never_shows_tokens_in_repr(emulator):
    login(emulator, "oac_t_repr")
    OACHook("oac_t_repr").get_access_token()
    record = stored("oac_t_repr")
    assert record.refresh_token not in repr(record)
    assert record.access_token not in repr(record)
    assert login_key("oac_t_repr", record.refresh_token) not in repr(record)
    assert HostJournal().read("oac_t_repr", record.login_key).generation == 1
