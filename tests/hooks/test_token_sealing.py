"""The token record on Airflow 3.0: sealed before it travels to the supervisor.

Task SDK 1.0's supervisor prints every message a task sends it, body included, to the scheduler's
or worker's output (measured on 3.0.6; the compat deployment check greps that output for every
token the emulator issued). So on 3.0 a task or trigger writes the record sealed with a key
derived from the connection's login refresh token, which no message carries. Plain records (3.1+,
the CLI, older releases) and sealed ones are read on every version.

The supervisor's side of the comms is a recording fake here: what counts is what the task sends.
"""

from __future__ import annotations

import json

import pytest

from airflow_provider_oac import version_compat
from airflow_provider_oac.hooks._airflow import OACVariableError
from airflow_provider_oac.hooks.config import login_key
from airflow_provider_oac.hooks.oac import OACHook
from airflow_provider_oac.hooks.token_manager import forget_process_cache
from airflow_provider_oac.hooks.token_store import (
    TokenRecord,
    VariableTokenStore,
    open_sealed_record,
    seal_record,
    sealed_login_key,
    variable_key,
)
from tests.helpers import login

pytestmark = pytest.mark.usefixtures("airflow_db")


@pytest.fixture(autouse=True)
def state_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("AIRFLOW_PROVIDER_OAC_STATE_DIR", str(tmp_path / "state"))
    forget_process_cache()
    yield
    forget_process_cache()


class RecordingVariableComms:
    """A supervisor that keeps Variables in a dict and records every message it receives."""

    def __init__(self, variables: dict[str, str] | None = None):
        self.variables = dict(variables or {})
        self.received: list = []

    def send(self, msg):
        from airflow.sdk.exceptions import ErrorType
        from airflow.sdk.execution_time.comms import ErrorResponse, VariableResult

        self.received.append(msg)
        kind = type(msg).__name__
        if kind == "GetVariable":
            if msg.key in self.variables:
                return VariableResult(key=msg.key, value=self.variables[msg.key])
            return ErrorResponse(error=ErrorType.VARIABLE_NOT_FOUND, detail={"key": msg.key})
        if kind == "PutVariable":
            self.variables[msg.key] = msg.value
        if kind == "DeleteVariable":
            self.variables.pop(msg.key, None)
        return None

    def logged(self) -> list[str]:
        """What a supervisor that logs each message (Task SDK 1.0) would print; MaskSecret is logged
        without its body."""
        return [
            f"{msg!r} {msg.model_dump_json()}" for msg in self.received if type(msg).__name__ != "MaskSecret"
        ]

    def puts(self) -> list:
        return [msg for msg in self.received if type(msg).__name__ == "PutVariable"]


def issued_tokens(emulator) -> list[str]:
    issued = emulator.control.issued_tokens()
    tokens = [*issued["access_tokens"], *issued["refresh_tokens"]]
    assert tokens
    return tokens


def supervised(monkeypatch, comms: RecordingVariableComms, *, airflow_3_1_plus: bool) -> None:
    from airflow.sdk.execution_time import task_runner

    monkeypatch.setattr(version_compat, "AIRFLOW_V_3_1_PLUS", airflow_3_1_plus)
    monkeypatch.setattr(task_runner, "SUPERVISOR_COMMS", comms, raising=False)


def test_on_airflow_3_0_no_message_to_the_supervisor_carries_a_token(emulator, tmp_path, monkeypatch):
    login(emulator, "oac_s_seal")
    worker, triggerer = OACHook("oac_s_seal"), OACHook("oac_s_seal")
    worker.config, triggerer.config  # noqa: B018 - read now, before the fake supervisor is in place
    comms = RecordingVariableComms()
    supervised(monkeypatch, comms, airflow_3_1_plus=False)

    access_token = worker.get_access_token()  # refreshes: the one-time login token is spent

    assert comms.puts(), "the rotated tokens were not stored"
    logged = "\n".join(comms.logged())
    leaked = [i for i, token in enumerate(issued_tokens(emulator)) if token in logged]
    assert not leaked, f"tokens {leaked} (of the emulator's issued ones) travel in a message"
    # Another host (no journal of that refresh) reads the sealed record and uses it: no refresh.
    monkeypatch.setenv("AIRFLOW_PROVIDER_OAC_STATE_DIR", str(tmp_path / "other-host"))
    forget_process_cache()
    assert triggerer.get_access_token() == access_token
    counters = emulator.control.counters()
    assert counters["refreshes"] == 1, counters
    assert counters["spent_refresh_token_presentations"] == 0, counters


def test_on_airflow_3_1_and_later_the_record_is_written_sealed_too(emulator, monkeypatch):
    login(emulator, "oac_s_plain")
    hook = OACHook("oac_s_plain")
    hook.config  # noqa: B018 - read now, before the fake supervisor is in place
    comms = RecordingVariableComms()
    supervised(monkeypatch, comms, airflow_3_1_plus=True)

    access_token = hook.get_access_token()

    text = comms.puts()[-1].value
    assert access_token not in text
    assert open_sealed_record("oac_s_plain", text, hook.config.refresh_token).access_token == access_token


def test_on_airflow_3_0_a_plain_record_of_an_older_release_is_read_then_superseded_sealed(
    emulator, monkeypatch
):
    login(emulator, "oac_s_old")
    OACHook("oac_s_old").get_access_token()  # the CLI's way: a record in the metadata DB
    hook = OACHook("oac_s_old")
    key = variable_key("oac_s_old", hook.config.login_key, legacy=True)  # an older release's name
    old = VariableTokenStore(hook.config.refresh_token).read("oac_s_old", hook.config.login_key)
    assert old is not None
    forget_process_cache()
    comms = RecordingVariableComms({key: old.to_json()})
    supervised(monkeypatch, comms, airflow_3_1_plus=False)

    assert hook.get_access_token() == old.access_token  # read, no refresh
    assert emulator.control.counters()["refreshes"] == 1
    emulator.control.expire_access_tokens()
    hook.token_manager.invalidate(old.access_token)
    hook.get_access_token()  # refreshes with the plain record's refresh token

    assert sealed_login_key(comms.variables[key]) == hook.config.login_key
    counters = emulator.control.counters()
    assert counters["refreshes"] == 2, counters
    assert counters["spent_refresh_token_presentations"] == 0, counters


def record_of(conn_id: str, login_refresh_token: str, generation: int = 1) -> TokenRecord:
    return TokenRecord(
        login_key=login_key(conn_id, login_refresh_token),
        refresh_token=f"rotated-refresh-{generation}-of-{conn_id}",
        refresh_token_expires_at=None,
        access_token=f"access-{generation}-of-{conn_id}",
        access_token_expires_at=2_000_000_000.0,
        generation=generation,
        updated_at=1_900_000_000.0,
    )


def test_a_sealed_record_keeps_only_the_login_key_readable_and_opens_with_the_login():
    record = record_of("oac_s_unit", "login-refresh-token")

    text = seal_record("oac_s_unit", record, "login-refresh-token")

    assert "rotated-refresh" not in text and "access-1" not in text and "login-refresh" not in text
    assert json.loads(text)["login_key"] == record.login_key
    assert open_sealed_record("oac_s_unit", text, "login-refresh-token") == record
    # Bound to the connection, too: the same login token under another id does not open it.
    with pytest.raises(OACVariableError):
        open_sealed_record("oac_s_other", text, "login-refresh-token")


def test_a_sealed_record_that_does_not_open_is_an_error_never_no_record():
    record = record_of("oac_s_bad", "login-refresh-token")
    text = seal_record("oac_s_bad", record, "login-refresh-token")
    data = json.loads(text)
    data["sealed"] = data["sealed"][:-8] + "AAAAAAA="
    tampered = json.dumps(data)

    with pytest.raises(OACVariableError, match="does not open"):
        open_sealed_record("oac_s_bad", tampered, "login-refresh-token")
    with pytest.raises(OACVariableError, match="was not given"):
        open_sealed_record("oac_s_bad", text, None)
    with pytest.raises(OACVariableError, match="another login"):
        seal_record("oac_s_bad", record, "someone-elses-login-token")


def test_sealed_records_are_read_written_and_forgotten_through_the_metadata_database():
    # What the CLI sees after a 3.0 deployment's tasks wrote (or after an upgrade to 3.1+).
    conn_id = "s" * 250  # a hashed key: its login is known only from the record's text
    token = "login-refresh-token"
    record = record_of(conn_id, token)
    VariableTokenStore(token).write(conn_id, record)

    from airflow.models import Variable

    stored = Variable.get(variable_key(conn_id, record.login_key))
    assert sealed_login_key(stored) == record.login_key and "rotated-refresh" not in stored
    assert VariableTokenStore(token).read(conn_id, record.login_key) == record
    assert VariableTokenStore(token).read(conn_id, "0123456789abcdef") is None  # another login's key
    with pytest.raises(OACVariableError):
        VariableTokenStore().read(conn_id, record.login_key)  # never "no record"
    assert VariableTokenStore().forget_login(conn_id) == 1
    assert VariableTokenStore(token).read(conn_id, record.login_key) is None


def test_a_store_without_the_login_refuses_to_write_in_the_clear_where_it_must_seal():
    record = record_of("oac_s_nokey", "login-refresh-token")

    with pytest.raises(OACVariableError, match="sealed"):
        VariableTokenStore(seal=True).write("oac_s_nokey", record)
    assert VariableTokenStore("login-refresh-token").read("oac_s_nokey", record.login_key) is None


def test_by_default_the_store_seals_exactly_inside_a_task_or_trigger_on_airflow_3_0(monkeypatch):
    store = VariableTokenStore("login-refresh-token")
    monkeypatch.setattr(version_compat, "AIRFLOW_V_3_1_PLUS", False)
    assert not store.seals()  # the CLI: the metadata DB, no supervisor in between
    supervised(monkeypatch, RecordingVariableComms(), airflow_3_1_plus=False)
    assert store.seals()
    monkeypatch.setattr(version_compat, "AIRFLOW_V_3_1_PLUS", True)
    assert not store.seals()
    assert "login-refresh-token" not in repr(store)
