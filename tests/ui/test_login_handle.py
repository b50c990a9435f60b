"""The sealed login handle: what the browser carries between polls."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet as CryptoFernet

from airflow_provider_oac.errors import OACConfigError
from airflow_provider_oac.plugins.login_handle import LoginHandle, seal, unseal

DEVICE_CODE = "dc-secret-0123456789"


class _Fernet:
    is_encrypted = True

    def __init__(self, key: bytes | None = None):
        self._fernet = CryptoFernet(key or CryptoFernet.generate_key())

    def encrypt(self, msg: bytes) -> bytes:
        return self._fernet.encrypt(msg)

    def decrypt(self, msg, ttl=None) -> bytes:
        return self._fernet.decrypt(msg, ttl=ttl)


class _NullFernet:
    is_encrypted = False

    def encrypt(self, msg: bytes) -> bytes:
        return msg

    def decrypt(self, msg, ttl=None) -> bytes:
        return msg if isinstance(msg, bytes) else msg.encode()


def _handle(**changes) -> LoginHandle:
    fields = dict(
        conn_id="oac_default",
        user="admin",
        oac_url="https://oac.example.com",
        iam_url="https://idcs-0.identity.oraclecloud.com",
        client_id="client",
        scope="aud urn:opc:resource:consumer::all offline_access",
        token_url="https://idcs-0.identity.oraclecloud.com/oauth2/v1/token",
        ca_bundle=None,
        refresh_token_lifetime=604800.0,
        device_code=DEVICE_CODE,
        interval=5.0,
        deadline=1000.0,
        next_poll_at=905.0,
    )
    return LoginHandle(**{**fields, **changes})


def test_a_sealed_handle_opens_to_the_same_handle():
    fernet = _Fernet()

    assert unseal(seal(_handle(), fernet), fernet, conn_id="oac_default", user="admin") == _handle()


def test_the_device_code_is_not_readable_in_the_sealed_handle():
    sealed = seal(_handle(), _Fernet())

    assert DEVICE_CODE not in sealed
    assert DEVICE_CODE not in repr(_handle())


def test_without_a_fernet_key_nothing_is_sealed():
    with pytest.raises(OACConfigError, match="fernet_key"):
        seal(_handle(), _NullFernet())


def test_a_handle_sealed_with_another_key_is_refused():
    sealed = seal(_handle(), _Fernet())

    with pytest.raises(OACConfigError, match="another Fernet key"):
        unseal(sealed, _Fernet(), conn_id="oac_default", user="admin")


def test_another_users_handle_is_refused():
    fernet = _Fernet()

    with pytest.raises(OACConfigError, match="another Airflow user"):
        unseal(seal(_handle(), fernet), fernet, conn_id="oac_default", user="op")


def test_another_connections_handle_is_refused():
    fernet = _Fernet()

    with pytest.raises(OACConfigError, match="belongs to connection 'oac_default'"):
        unseal(seal(_handle(), fernet), fernet, conn_id="oac_other", user="admin")


def test_other_fernet_encrypted_values_are_not_handles():
    fernet = _Fernet()
    other = fernet.encrypt(b'{"conn_id": "oac_default"}').decode()

    with pytest.raises(OACConfigError, match="not an OAC login handle"):
        unseal(other, fernet, conn_id="oac_default", user="admin")


@pytest.mark.parametrize("value", [None, "", 42, "x" * 20000])
def test_a_missing_or_malformed_handle_is_refused(value):
    with pytest.raises(OACConfigError, match="missing or malformed"):
        unseal(value, _Fernet(), conn_id="oac_default", user="admin")


def test_next_poll_keeps_a_slowed_down_interval():
    handle = _handle()
    state = handle.poll_state().slowed_down()

    following = handle.next_poll(state, now=910.0)

    assert following.interval == 10.0
    assert following.next_poll_at == 920.0
    assert following.device_code == DEVICE_CODE
