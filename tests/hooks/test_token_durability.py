"""Never lose a refresh token (issue 13, items 1, 2, 8, 9, 10): a login keeps the records of its
own login, a failed journal or store write keeps the token in the other, the new tokens are
persisted before they are masked, keys of one connection never match another's, the CLI does not
refresh beside the workers' state directory, and the journal is durable across a power loss.

Against the emulator (reuse detection on: a spent refresh token presented again revokes the login)
and the session's SQLite metadata DB.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from airflow_provider_oac.errors import OACError
from airflow_provider_oac.hooks import token_store
from airflow_provider_oac.hooks.config import login_key
from airflow_provider_oac.hooks.oac import OACHook
from airflow_provider_oac.hooks.token_manager import TokenManager, forget_process_cache
from airflow_provider_oac.hooks.token_store import HostJournal, TokenRecord, VariableTokenStore
from tests.helpers import cli, login

pytestmark = pytest.mark.usefixtures("airflow_db")


@pytest.fixture(autouse=True)
def state_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("AIRFLOW_PROVIDER_OAC_STATE_DIR", str(tmp_path / "state"))
    forget_process_cache()
    yield tmp_path / "state"
    forget_process_cache()


class Clock:
    def __init__(self) -> None:
        import time

        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def stored(conn_id: str) -> TokenRecord | None:
    config = OACHook(conn_id).config
    return VariableTokenStore(config.refresh_token).read(conn_id, config.login_key)


def journaled(conn_id: str) -> TokenRecord | None:
    return HostJournal().read(conn_id, OACHook(conn_id).config.login_key)


def refresh_again(conn_id: str) -> None:
    """A later task that finds the access token stale: it refreshes with the newest stored token."""
    forget_process_cache()
    clock = Clock()
    clock.now += 95  # past the stored access token's refresh margin
    config = OACHook(conn_id).config
    TokenManager(config, VariableTokenStore(config.refresh_token), clock=clock).get_access_token()


def assert_login_survived(emulator) -> None:
    counters = emulator.control.counters()
    assert counters["spent_refresh_token_presentations"] == 0
    assert counters["revoked_logins"] == 0


# --- item 1: a login forgets only the other logins' records -------------------------------------


def test_a_login_keeps_what_a_task_of_the_new_login_stored_meanwhile(emulator, monkeypatch):
    emulator.control.configure(reuse_detection=True)
    login(emulator, "oac_d_relogin")
    OACHook("oac_d_relogin").get_access_token()
    old_key = OACHook("oac_d_relogin").config.login_key
    forget = VariableTokenStore.forget_login

    def a_task_refreshes_first(self, conn_id, *args, **kwargs):
        # The connection already holds the new login: a task refreshes with it and stores the
        # rotated token (Variable and journal) before the login's clean-up runs.
        forget_process_cache()
        OACHook(conn_id).get_access_token()
        return forget(self, conn_id, *args, **kwargs)

    monkeypatch.setattr(VariableTokenStore, "forget_login", a_task_refreshes_first)
    result = login(emulator, "oac_d_relogin")
    monkeypatch.setattr(VariableTokenStore, "forget_login", forget)
    assert result.forgotten_records == 1  # the old login's Variable
    assert VariableTokenStore().read("oac_d_relogin", old_key) is None
    assert HostJournal().read("oac_d_relogin", old_key) is None
    assert stored("oac_d_relogin").generation == 1
    assert journaled("oac_d_relogin").generation == 1
    refresh_again("oac_d_relogin")
    assert stored("oac_d_relogin").generation == 2
    assert_login_survived(emulator)


# --- item 2: persist first, each of journal and store even if the other fails; mask after -------


@pytest.fixture
def journal_disk_full(monkeypatch, state_dir):
    """ENOSPC from ``os.write`` for journal files: an OSError injected at the os-level write
    (this test cannot fill a real disk without mount rights)."""
    real_write = os.write

    def write(fd, data):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            target = ""
        if target.startswith(str(state_dir)) and ".tmp" in Path(target).name:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", write)


def test_a_journal_write_that_fails_still_stores_the_new_refresh_token(
    emulator, journal_disk_full, state_dir, caplog
):
    emulator.control.configure(reuse_detection=True)
    login(emulator, "oac_d_disk_full")
    OACHook("oac_d_disk_full").get_access_token()  # no exception: the store has it
    assert stored("oac_d_disk_full").generation == 1
    assert not list(state_dir.glob("*.journal"))
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("journal" in w and "AIRFLOW_PROVIDER_OAC_STATE_DIR" in w for w in warnings), warnings
    refresh_again("oac_d_disk_full")
    assert stored("oac_d_disk_full").generation == 2
    assert_login_survived(emulator)


class FailingStore(VariableTokenStore):
    def write(self, conn_id, record):
        raise ConnectionError("the API server went away")


def test_a_store_write_that_fails_keeps_the_token_in_the_journal_and_warns(emulator, caplog):
    emulator.control.configure(reuse_detection=True)
    login(emulator, "oac_d_store_down")
    config = OACHook("oac_d_store_down").config
    TokenManager(config, FailingStore(), sleep=lambda s: None).get_access_token()
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("journal" in w and "recovers" in w for w in warnings), warnings
    assert stored("oac_d_store_down") is None
    assert journaled("oac_d_store_down").generation == 1
    refresh_again("oac_d_store_down")  # recovers the journal into the store, then refreshes
    assert stored("oac_d_store_down").generation == 2
    assert_login_survived(emulator)


def test_when_journal_and_store_both_fail_the_call_fails_loudly(emulator, journal_disk_full):
    login(emulator, "oac_d_both")
    config = OACHook("oac_d_both").config
    with pytest.raises(OACError) as excinfo:
        TokenManager(config, FailingStore(), sleep=lambda s: None).get_access_token()
    message = str(excinfo.value)
    assert "journal" in message and "store" in message
    assert "airflow-oac login --conn-id oac_d_both" in message
    assert "\n" not in message


KILLED_WHILE_MASKING = textwrap.dedent(
    """
    import os, signal
    from airflow_provider_oac.hooks import masking
    from airflow_provider_oac.hooks.oac import OACHook

    def killed(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGKILL)  # e.g. execution_timeout while the masker recompiles

    hook = OACHook({conn_id!r})
    manager = hook.token_manager  # masks the connection's own token: not the window
    masking.mask_generation = killed
    manager.get_access_token()
    """
)


def test_a_process_killed_while_masking_the_new_tokens_has_already_stored_them(emulator):
    emulator.control.configure(reuse_detection=True)
    login(emulator, "oac_d_killed")
    code = KILLED_WHILE_MASKING.format(conn_id="oac_d_killed")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == -9, result.stderr[-2000:]
    assert emulator.control.counters()["refreshes"] == 1  # IAM answered: the old token is spent
    assert stored("oac_d_killed") is not None
    refresh_again("oac_d_killed")
    assert_login_survived(emulator)


# --- item 8: keys of one connection never match another's ---------------------------------------


def test_forgetting_a_connection_leaves_connections_whose_ids_extend_it(emulator):
    emulator.control.configure(reuse_detection=True)
    for conn_id in ("oac_d_px", "oac_d_px.prod", "oac_d_px__x"):
        login(emulator, conn_id)
        OACHook(conn_id).get_access_token()
    login(emulator, "oac_d_px")  # a new login of oac_d_px forgets its old records only
    forget_process_cache()
    for conn_id in ("oac_d_px.prod", "oac_d_px__x"):
        assert stored(conn_id) is not None, conn_id
        assert journaled(conn_id) is not None, conn_id
    assert_login_survived(emulator)


def test_a_journal_written_under_the_old_file_name_is_still_recovered(emulator, state_dir):
    emulator.control.configure(reuse_detection=True)
    conn_id = "oac_d_old:name"
    login(emulator, conn_id)
    OACHook(conn_id).get_access_token()
    record = stored(conn_id)
    forget_process_cache()
    # A process of the previous release refreshed and died before its store write: its journal
    # has the old file name (characters outside [A-Za-z0-9-_.] replaced by "_").
    config = OACHook(conn_id).config
    manager = TokenManager(config, VariableTokenStore(config.refresh_token), clock=Clock())
    tokens = manager._refresh(record.refresh_token)
    newer = TokenRecord.from_token_set(record.login_key, tokens, record.generation + 1, Clock()())
    for path in state_dir.glob("*.journal"):
        path.unlink()
    (state_dir / f"oac_d_old_name.{record.login_key}.journal").write_text(newer.to_json())
    forget_process_cache()
    refresh_again(conn_id)  # recovers generation 2 from the old-named journal, refreshes with it
    assert stored(conn_id).generation == 3
    assert_login_survived(emulator)


def test_variable_keys_stay_within_airflows_250_characters_and_stay_exact():
    conn_id = "c" * 250
    own = login_key(conn_id, "token")
    key = token_store.variable_key(conn_id, own)
    assert len(key) <= 250
    record = TokenRecord(own, "refresh", None)
    assert token_store.login_key_of(key, conn_id, record.to_json()) == own
    assert token_store.login_key_of(key, conn_id[:-1], record.to_json()) is None
    short = token_store.variable_key("oac", "0123456789abcdef")
    assert token_store.login_key_of(short, "oac") == "0123456789abcdef"
    assert token_store.login_key_of(token_store.variable_key("oac__x", "0123456789abcdef"), "oac") is None


# --- item 9: the CLI and the workers on one host --------------------------------------------------


def test_the_cli_refuses_to_refresh_beside_another_users_state_directory(emulator, tmp_path):
    emulator.control.configure(reuse_detection=True)
    login(emulator, "oac_d_split")
    tmp = tmp_path / "host-tmp"
    tmp.mkdir()
    workers = tmp / "airflow-provider-oac-4242"  # what workers running as uid 4242 created
    workers.mkdir(mode=0o700)
    os.chown(workers, 4242, 4242)
    env = {"TMPDIR": str(tmp), "AIRFLOW_PROVIDER_OAC_STATE_DIR": ""}
    before = emulator.control.counters()["refreshes"]
    result = cli("status", "--conn-id", "oac_d_split", env=env)
    assert result.returncode == 1, result.stdout + result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("airflow-oac: error:")]
    assert len(errors) == 1, result.stderr
    assert "4242" in errors[0] and "AIRFLOW_PROVIDER_OAC_STATE_DIR" in errors[0]
    assert "Traceback" not in result.stderr
    assert emulator.control.counters()["refreshes"] == before  # refused before any refresh


# --- item 10: the journal survives a power loss ---------------------------------------------------


def test_the_journal_is_fsynced_before_and_its_directory_after_the_rename(monkeypatch, state_dir):
    """A spy on the os-level calls (the real calls still run, on the real filesystem): a power loss
    can only bring back the old journal if the new file's data or the rename is not on disk."""
    calls: list[tuple[str, str]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        calls.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        return real_fsync(fd)

    def replace(src, dst, **kwargs):
        calls.append(("replace", f"{src} -> {dst}"))
        return real_replace(src, dst, **kwargs)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    record = TokenRecord("0123456789abcdef", "refresh-1", None, generation=1)
    HostJournal().write("oac_d_fsync", record)
    journal = next(state_dir.glob("*.journal"))
    kinds = [kind for kind, _ in calls]
    assert kinds == ["fsync", "replace", "fsync"], calls
    assert ".tmp" in calls[0][1] and calls[1][1].endswith(f"-> {journal}")
    assert calls[2][1] == str(state_dir)
    assert HostJournal().read("oac_d_fsync", "0123456789abcdef").generation == 1
