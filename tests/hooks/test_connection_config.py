"""The oac connection's fields: each mistake gets one line naming the field and the fix."""

from __future__ import annotations

import json

import pytest

from airflow_provider_oac.cli.main import build_parser, main
from airflow_provider_oac.errors import OACConfigError
from airflow_provider_oac.get_provider_info import get_provider_info
from airflow_provider_oac.hooks.config import connection_config, login_key
from airflow_provider_oac.hooks.oac import OACHook

AUDIENCE = "https://abc123def456.analytics.ocp.oraclecloud.com"
SCOPE = f"{AUDIENCE}urn:opc:resource:consumer::all offline_access"
GOOD = {
    "host": "https://myoac-abcd-ia.analytics.ocp.oraclecloud.com",
    "login": "0123456789abcdef0123456789abcdef",
    "password": "refresh-token-value",
    "extra": json.dumps(
        {"iam_url": "https://idcs-0123.identity.oraclecloud.com", "scope": SCOPE, "bucket": "snaps"}
    ),
}


def config(**changes):
    return connection_config("oac_test", **{**GOOD, **changes})


def extra(**changes):
    return json.dumps({**json.loads(GOOD["extra"]), **changes})


def test_a_complete_connection_is_read_with_its_storage_defaults():
    cfg = config()
    assert cfg.oac_url == GOOD["host"]
    assert cfg.iam_url == "https://idcs-0123.identity.oraclecloud.com"
    assert cfg.scope == SCOPE
    assert cfg.bucket == "snaps"
    assert cfg.storage_auth_type == "OCI_RESOURCE_PRINCIPAL"
    assert "refresh-token-value" not in repr(cfg)


def test_the_iam_endpoints_are_the_domains_own_paths_by_default():
    endpoints = config().iam_endpoints
    assert endpoints.device_url == "https://idcs-0123.identity.oraclecloud.com/oauth2/v1/device"
    assert endpoints.token_url == "https://idcs-0123.identity.oraclecloud.com/oauth2/v1/token"
    assert endpoints.revoke_url == "https://idcs-0123.identity.oraclecloud.com/oauth2/v1/revoke"


def test_the_iam_endpoints_carry_the_connections_overrides():
    cfg = config(extra=extra(token_url="https://proxy.example.com/iam/token"))
    assert cfg.iam_endpoints.token_url == "https://proxy.example.com/iam/token"
    assert cfg.iam_endpoints.device_url.endswith("/oauth2/v1/device")
    assert "iam_endpoints" not in repr(cfg)


def test_offline_access_is_added_to_a_scope_that_lacks_it():
    cfg = config(extra=extra(scope=f"{AUDIENCE}urn:opc:resource:consumer::all"))
    assert cfg.scope.endswith(" offline_access")


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"host": ""}, "Host (OAC URL) is empty"),
        ({"host": "http://oac.example.com"}, "use https://"),
        ({"host": "https://oac.example.com/api/20210901"}, "without /api/20210901"),
        ({"host": " https://oac.example.com"}, "leading or trailing spaces"),
        ({"login": ""}, "Login (IAM client id) is empty"),
        ({"password": ""}, "airflow-oac login --conn-id oac_test"),
        ({"extra": "{not json"}, "Extra is not valid JSON"),
        ({"extra": "[1, 2]"}, "must be a JSON object"),
        ({"extra": extra(iam_url=None)}, "Extra 'iam_url' (IAM identity domain URL) is empty"),
        ({"extra": extra(iam_url="https://idcs-1.identity.oraclecloud.com/oauth2/v1/token")}, "OAuth path"),
        ({"extra": extra(scope=None)}, "primary audience is on the OAC application"),
        ({"extra": extra(scope=f"{AUDIENCE} offline_access")}, "does not name the OAC resource"),
        ({"extra": extra(storage_auth_type="API_KEY")}, "use OCI_RESOURCE_PRINCIPAL (the default"),
        ({"extra": extra(refresh_token_lifetime=-5)}, "greater than 0"),
        ({"extra": extra(buckett="x")}, "unknown Extra field(s) buckett"),
    ],
)
def test_each_bad_field_gets_one_line_naming_it(changes, expected):
    with pytest.raises(OACConfigError) as excinfo:
        config(**changes)
    message = str(excinfo.value)
    assert expected in message
    assert "\n" not in message
    assert message.startswith("Connection 'oac_test':")
    assert "refresh-token-value" not in message


@pytest.mark.parametrize(
    ("scope", "warning"),
    [
        # IAM joins the audience as stored: one ending in a slash or a port is legitimate.
        (f"{AUDIENCE}/urn:opc:resource:consumer::all", "has a slash before urn:opc:resource:consumer::all"),
        (f"{AUDIENCE}:443urn:opc:resource:consumer::all", None),
        (f"{AUDIENCE}:443/urn:opc:resource:consumer::all", "has a slash before"),
        ("urn:opc:resource:consumer::all", "has no primary audience"),
        ("abc123urn:opc:resource:consumer::all", "does not start with https://"),
        (SCOPE, None),
    ],
)
def test_a_scope_naming_the_resource_is_accepted_with_a_warning_where_it_looks_off(scope, warning):
    cfg = config(extra=extra(scope=scope))

    assert cfg.scope == f"{scope.removesuffix(' offline_access')} offline_access"
    if warning is None:
        assert cfg.warnings == ()
    else:
        [line] = cfg.warnings
        assert warning in line
        assert line.startswith("Connection 'oac_test': Extra 'scope'")
        assert "usually https://" in line and "\n" not in line


def test_an_unusual_client_id_is_accepted_with_a_warning_since_iam_decides():
    # Which characters IAM allows in client ids is not documented.
    cfg = config(login="client id with spaces")

    assert cfg.client_id == "client id with spaces"
    [line] = cfg.warnings
    assert line.startswith(
        "Connection 'oac_test': Login (IAM client id) 'client id with spaces' has characters"
    )
    assert config().warnings == ()


def test_plain_http_is_allowed_for_loopback_only():
    assert config(host="http://127.0.0.1:8080").oac_url == "http://127.0.0.1:8080"
    assert config(host="http://localhost:8080/").oac_url == "http://localhost:8080"
    with pytest.raises(OACConfigError, match="plain http"):
        config(host="http://10.0.0.5:8080")


def test_a_new_refresh_token_means_a_new_login_key():
    assert config().login_key == login_key("oac_test", "refresh-token-value")
    assert config(password="another-token").login_key != config().login_key
    assert "refresh-token-value" not in config().login_key


# --- OSS_AUTH_OCI_USER_ID: API-key storage auth that no field can carry ------------------------------


def test_api_key_storage_auth_is_still_read_but_a_snapshot_with_it_stops_with_its_caveat():
    cfg = config(extra=extra(storage_auth_type="OSS_AUTH_OCI_USER_ID"))  # list, delete, keep-alive work
    hook = OACHook("oac_test", config=cfg)

    with pytest.raises(OACConfigError) as excinfo:
        hook.storage_spec()

    assert str(excinfo.value) == (
        "Connection 'oac_test': Extra 'storage_auth_type' is OSS_AUTH_OCI_USER_ID (API-key auth, deprecated "
        "by Oracle), which needs API-key fields this provider cannot pass, so every snapshot with it fails: "
        "use OCI_RESOURCE_PRINCIPAL (the default) with an OCI policy for OAC's resource principal."
    )
    with pytest.raises(OACConfigError, match="^storage_auth_type is OSS_AUTH_OCI_USER_ID"):
        _spec(config(), "OSS_AUTH_OCI_USER_ID")  # the operators' argument


def _spec(cfg, auth_type):
    return OACHook("oac_test", config=cfg).storage_spec(storage_auth_type=auth_type)


def test_neither_the_form_nor_login_offers_api_key_storage_auth_without_its_caveat():
    fields = get_provider_info()["connection-types"][0]["conn-fields"]
    form = fields["storage_auth_type"]["description"]
    login = build_parser()._subparsers._group_actions[0].choices["login"]
    flag = next(a for a in login._actions if "--storage-auth-type" in a.option_strings)
    for text in (form, flag.help):
        assert "OCI_RESOURCE_PRINCIPAL" in text
        assert "OSS_AUTH_OCI_USER_ID" not in text or "cannot pass" in text


def test_login_refuses_api_key_storage_auth_in_one_line_before_any_call(capsys):
    code = main(
        [
            "login",
            "--conn-id",
            "oac_test",
            "--oac-url",
            "http://127.0.0.1:9",  # loopback, closed: the old code would have tried it
            "--iam-url",
            "http://127.0.0.1:9",
            "--storage-auth-type",
            "OSS_AUTH_OCI_USER_ID",
            "--no-browser",
        ]
    )

    err = capsys.readouterr().err
    assert code == 2
    assert err.splitlines() == [
        "airflow-oac: error: --storage-auth-type is OSS_AUTH_OCI_USER_ID (API-key auth, deprecated by Oracle), "
        "which needs API-key fields this provider cannot pass, so every snapshot with it fails: use "
        "OCI_RESOURCE_PRINCIPAL (the default) with an OCI policy for OAC's resource principal."
    ]


def test_the_hook_logs_the_warning_of_an_accepted_scope(monkeypatch, caplog, capfd):
    slash_scope = f"{AUDIENCE}/urn:opc:resource:consumer::all offline_access"
    connection = {
        "conn_type": "oac",
        "host": GOOD["host"],
        "login": GOOD["login"],
        "password": "refresh-token-value",
        "extra": {"iam_url": "https://idcs-0123.identity.oraclecloud.com", "scope": slash_scope},
    }
    monkeypatch.setenv("AIRFLOW_CONN_OAC_HOOK_SLASH", json.dumps(connection))

    config = OACHook("oac_hook_slash").config
    logged = caplog.text + "".join(capfd.readouterr())  # structlog (3.1+) writes to the stream

    assert config.scope == slash_scope
    assert "Connection 'oac_hook_slash': Extra 'scope' has a slash before" in logged
    assert "refresh-token-value" not in logged


def test_a_hook_given_its_config_reads_no_connection_and_refuses_another_connections():
    cfg = config()  # "oac_test" exists nowhere: reading it from Airflow would fail
    hook = OACHook("oac_test", config=cfg, refuse_state_split=True)

    assert hook.config is cfg
    assert hook.refuse_state_split is True
    with pytest.raises(ValueError, match="'oac_test', not 'oac_other'"):
        OACHook("oac_other", config=cfg)
