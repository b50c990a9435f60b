"""The login as one concept (airflow_provider_oac.login): the settings completed from the
connection it replaces, the "not an OAC connection" check, and what a printed login holds.
Plain data: no Airflow, no network."""

from __future__ import annotations

import pytest

from airflow_provider_oac.auth.tokens import TokenSet
from airflow_provider_oac.errors import OACAuthError, OACConfigError
from airflow_provider_oac.login import (
    MASKED,
    ExistingConnection,
    NewLogin,
    complete_settings,
    connection_without_login,
    not_oac_problem,
    printed_connection,
)

OAC = "https://myoac-abcd-ia.analytics.ocp.oraclecloud.com"
IAM = "https://idcs-0123abcd.identity.oraclecloud.com"
SCOPE = "https://0123456789abcdef0123456789abcdef.analytics.ocp.oraclecloud.comurn:opc:resource:consumer::all offline_access"


def existing(conn_type="oac", **extra) -> ExistingConnection:
    return ExistingConnection(
        conn_type=conn_type,
        host=OAC,
        login="client-id",
        extra={
            "iam_url": IAM,
            "scope": SCOPE,
            "login_at": "2026-01-01T00:00:00+00:00",
            "subject": "old",
            **extra,
        },
    )


def tokens(refresh_token: str | None = "new-refresh-token") -> TokenSet:
    return TokenSet(
        access_token="access",
        access_token_expires_at=2e9,
        issued_at=1e9,
        refresh_token=refresh_token,
        subject="someone",
    )


def test_settings_left_out_come_from_the_existing_connection():
    config = complete_settings("oac_x", existing(bucket="snaps"))

    assert (config.oac_url, config.iam_url, config.client_id, config.scope) == (OAC, IAM, "client-id", SCOPE)
    assert config.bucket == "snaps"
    assert config.subject is None and config.login_at is None  # the previous login's own fields


def test_settings_given_and_extra_updates_win_over_the_existing_connection():
    config = complete_settings(
        "oac_x",
        existing(bucket="old-bucket"),
        client_id="other-client",
        extra_updates={"bucket": "new-bucket", "refresh_token_lifetime": 3600.0},
    )

    assert config.client_id == "other-client"
    assert config.bucket == "new-bucket"
    assert config.refresh_token_lifetime == 3600.0


def test_extras_the_rest_api_masked_are_not_used_as_defaults():
    config = complete_settings("oac_x", existing(bucket=MASKED))

    assert config.bucket is None


def test_a_new_connection_needs_every_setting():
    with pytest.raises(OACConfigError):
        complete_settings("oac_new", None, oac_url=OAC, iam_url=IAM, client_id="client-id")


@pytest.mark.parametrize("conn_type", [None, "", "oac"])
def test_an_oac_or_untyped_connection_may_be_logged_in(conn_type):
    assert not_oac_problem("oac_x", conn_type) is None


def test_a_connection_of_another_type_is_refused_with_the_callers_fix():
    with pytest.raises(OACConfigError) as excinfo:
        complete_settings("pg", existing(conn_type="postgres"), fix="pick another --conn-id")

    assert str(excinfo.value) == (
        "Connection 'pg' is a 'postgres' connection, not an OAC one: pick another --conn-id."
    )


def test_a_printed_login_holds_the_refresh_token_only_when_asked():
    config = complete_settings("oac_x", existing(bucket="snaps"))
    login = NewLogin.of(config, tokens(), {"bucket": "snaps"})

    without = printed_connection(login)
    with_token = printed_connection(login, include_refresh_token=True)

    assert "password" not in without
    assert with_token["password"] == "new-refresh-token"
    assert with_token["extra"]["subject"] == "someone" and with_token["extra"]["bucket"] == "snaps"


def test_without_a_login_the_printed_connection_has_no_login_fields():
    config = complete_settings("oac_x", existing())

    connection = connection_without_login(config, {"bucket": "snaps", "bucket_region": None})

    assert connection == {
        "conn_type": "oac",
        "description": "Oracle Analytics Cloud (written by airflow-oac login)",
        "host": OAC,
        "login": "client-id",
        "extra": {"bucket": "snaps", "iam_url": IAM, "scope": SCOPE},
    }


def test_a_login_without_a_refresh_token_is_refused():
    config = complete_settings("oac_x", existing())

    with pytest.raises(OACAuthError, match="offline_access"):
        NewLogin.of(config, tokens(refresh_token=None))


def test_another_types_extras_are_not_read_so_the_refusal_names_the_type():
    class Row:  # a connection of another type whose Extra is not JSON
        conn_type, host, login, extra = "postgres", "db", "u", "not json"

    foreign = ExistingConnection.from_orm(Row(), "pg")

    with pytest.raises(OACConfigError, match="is a 'postgres' connection, not an OAC one"):
        complete_settings("pg", foreign)
