"""The token record's Variable name: one that Airflow's supervisors do not mask by name.

Every supervisor (a task's, and the triggerer's, which lives for weeks) answers a Variable read
with ``mask_secret(value, key)``: Airflow keeps the value for good when the key's name looks
sensitive ("token", "secret", ...). The record changes at every refresh, so a record named
``oac_token__...`` taught the triggerer's supervisor one new value per refresh, which it can never
forget (issue 15's soak: 261 -> 1102 MB over 270 generations). Records of new logins are named
``oac_login__...`` and are always sealed (no token readable in them); records of logins made by
an older release keep their name until the next ``airflow-oac login``.

The supervisor here is a recording fake that keeps Variables in a dict and applies Airflow's own
masker class to each Variable it answers, with the key as the name, as the real ones do.
"""

from __future__ import annotations

import json
import logging

import pytest

from airflow_provider_oac import version_compat
from airflow_provider_oac.hooks import masking, token_store
from airflow_provider_oac.hooks.oac import OACHook
from airflow_provider_oac.hooks.token_manager import forget_process_cache
from airflow_provider_oac.hooks.token_store import (
    LEGACY_VARIABLE_PREFIX,
    VARIABLE_PREFIX,
    TokenRecord,
    VariableTokenStore,
    sealed_login_key,
    variable_key,
)
from tests.helpers import login
from tests.hooks.test_token_sealing import RecordingVariableComms, issued_tokens, supervised

pytestmark = pytest.mark.usefixtures("airflow_db", "fresh_token_state")


class MaskingSupervisor(RecordingVariableComms):
    """Answers GetVariable as a real supervisor does: ``mask_secret(value, key)`` into its masker."""

    def __init__(self, variables: dict[str, str] | None = None):
        super().__init__(variables)
        masker = masking._masker(masking._masker_modules()[0])
        assert masker is not None, "Airflow's masker is not of the shape the provider knows"
        self.masker = type(masker)()  # the supervisor's own, empty, configured as Airflow's
        for setting in ("sensitive_variables_fields", "hide_sensitive_var_conn_fields"):  # SDK 1.1+
            if hasattr(masker, setting):
                setattr(self.masker, setting, getattr(masker, setting))

    def send(self, msg):
        answer = super().send(msg)
        if type(msg).__name__ == "GetVariable" and msg.key in self.variables:
            self.masker.add_mask(self.variables[msg.key], msg.key)
        return answer


def logged_in_and_refreshed(emulator, conn_id: str) -> tuple[OACHook, TokenRecord]:
    """A new login of ``conn_id`` and its first refresh, done the CLI's way (the metadata DB)."""
    login(emulator, conn_id)
    hook = OACHook(conn_id)
    hook.get_access_token()
    record = VariableTokenStore(hook.config.refresh_token).read(conn_id, hook.config.login_key)
    assert record is not None
    return hook, record


def refresh(hook: OACHook) -> str:
    hook.token_manager.invalidate_current()
    return hook.get_access_token()


def test_the_supervisor_learns_no_value_from_reading_the_record_at_each_refresh(emulator, monkeypatch):
    login(emulator, "oac_n_sup")
    hook = OACHook("oac_n_sup")
    hook.config  # noqa: B018 - read now, before the fake supervisor is in place
    supervisor = MaskingSupervisor()
    supervised(monkeypatch, supervisor, airflow_3_1_plus=version_compat.AIRFLOW_V_3_1_PLUS)

    for _ in range(20):
        refresh(hook)

    assert emulator.control.counters()["refreshes"] == 20
    # The supervisor's masker hides what Airflow's does: a value under the old name is kept.
    probe = MaskingSupervisor().masker
    probe.add_mask(
        "a-value-of-forty-characters-0123456789ab", variable_key("oac_n_sup", "0" * 16, legacy=True)
    )
    assert len(probe.patterns) == 1
    assert len(supervisor.masker.patterns) == 0, (
        f"the supervisor keeps {len(supervisor.masker.patterns)} values from 20 refreshes"
    )
    # ... and still no token travels readable to it (on 3.0 its messages are printed).
    logged = "\n".join(supervisor.logged())
    assert not [t for t in issued_tokens(emulator) if t in logged]


def test_a_new_login_s_record_has_a_name_that_is_not_masked_and_is_always_sealed(emulator):
    login(emulator, "oac_n_new")
    hook = OACHook("oac_n_new")
    hook.get_access_token()  # the CLI's way: the metadata database, no supervisor

    from airflow.models import Variable

    key = variable_key("oac_n_new", hook.config.login_key)
    assert key.startswith(VARIABLE_PREFIX) and "token" not in VARIABLE_PREFIX
    text = Variable.get(key)
    assert sealed_login_key(text) == hook.config.login_key
    assert not [t for t in issued_tokens(emulator) if t in text]
    visible = json.loads(text)
    assert visible["generation"] == 1 and visible["updated_at"] > 0  # for status --api-url
    assert (
        Variable.get(variable_key("oac_n_new", hook.config.login_key, legacy=True), default_var=None) is None
    )


def test_a_login_of_an_older_release_keeps_its_record_name_and_warns_once(emulator, monkeypatch, caplog):
    hook, record = logged_in_and_refreshed(emulator, "oac_n_old")
    new_key = variable_key("oac_n_old", hook.config.login_key)
    legacy_key = variable_key("oac_n_old", hook.config.login_key, legacy=True)

    from airflow.models import Variable

    # What an older release left: a plain record under the old name, none under the new one.
    Variable.delete(new_key)
    Variable.set(legacy_key, record.to_json())
    forget_process_cache()
    token_store._legacy_warned.clear()
    token_store._names_checked.clear()

    with caplog.at_level(logging.WARNING):
        assert hook.get_access_token() == record.access_token  # read, no refresh
        assert emulator.control.counters()["refreshes"] == 1
        refresh(hook)  # refreshes with the old record's refresh token
        refresh(hook)

    counters = emulator.control.counters()
    assert counters["refreshes"] == 3 and counters["spent_refresh_token_presentations"] == 0, counters
    assert Variable.get(new_key, default_var=None) is None
    newest = TokenRecord.from_json(Variable.get(legacy_key))
    assert newest is not None and newest.generation == record.generation + 2
    warnings = [r.getMessage() for r in caplog.records if LEGACY_VARIABLE_PREFIX in r.getMessage()]
    assert len(warnings) == 1 and "airflow-oac login" in warnings[0], warnings


def test_forgetting_a_login_deletes_its_records_under_both_names(emulator):
    hook, record = logged_in_and_refreshed(emulator, "oac_n_forget")

    from airflow.models import Variable

    Variable.set(variable_key("oac_n_forget", "0123456789abcdef", legacy=True), "{}")
    Variable.set(variable_key("oac_n_forget__x", "0123456789abcdef", legacy=True), "{}")  # another id's

    assert VariableTokenStore().forget_login("oac_n_forget") == 2
    assert Variable.get(variable_key("oac_n_forget", hook.config.login_key), default_var=None) is None
    assert Variable.get(variable_key("oac_n_forget__x", "0123456789abcdef", legacy=True), default_var=None)


def test_a_store_without_the_login_cannot_read_or_write_a_new_login_s_record(emulator):
    hook, record = logged_in_and_refreshed(emulator, "oac_n_nologin")

    from airflow_provider_oac.hooks._airflow import OACVariableError

    with pytest.raises(OACVariableError, match="was not given"):
        VariableTokenStore().read("oac_n_nologin", hook.config.login_key)  # never "no record"
    with pytest.raises(OACVariableError, match="sealed"):
        VariableTokenStore().write("oac_n_nologin", record)


def test_a_connection_id_that_airflow_takes_for_a_secret_s_name_is_warned_about(emulator, caplog):
    login(emulator, "oac_secret_n")  # "secret" is one of Airflow's sensitive names
    token_store._names_checked.clear()

    with caplog.at_level(logging.WARNING):
        OACHook("oac_secret_n").get_access_token()
        OACHook("oac_secret_n").get_access_token()

    warnings = [r.getMessage() for r in caplog.records if "takes for a secret's name" in r.getMessage()]
    assert len(warnings) == 1 and "oac_secret_n" in warnings[0], warnings


def test_a_record_under_the_new_name_that_is_not_sealed_is_an_error_never_no_record(emulator):
    hook, record = logged_in_and_refreshed(emulator, "oac_n_altered")
    store = VariableTokenStore(hook.config.refresh_token)

    from airflow.models import Variable

    from airflow_provider_oac.hooks._airflow import OACVariableError

    Variable.set(variable_key("oac_n_altered", hook.config.login_key), record.to_json())
    with pytest.raises(OACVariableError, match="not an OAC token record"):
        store.read("oac_n_altered", hook.config.login_key)


def test_a_new_login_s_clean_up_keeps_its_own_record_under_either_name(emulator):
    login(emulator, "oac_n_keep")
    hook = OACHook("oac_n_keep")
    hook.get_access_token()
    own = hook.config.login_key

    from airflow.models import Variable

    Variable.set(variable_key("oac_n_keep", "0123456789abcdef", legacy=True), "{}")  # an older login's
    Variable.set(variable_key("oac_n_keep", "fedcba9876543210"), "{}")  # another older login's

    assert VariableTokenStore().forget_login("oac_n_keep", keep=own) == 2
    assert Variable.get(variable_key("oac_n_keep", own), default_var=None) is not None
