"""The login page's routes on a real ``airflow api-server`` (the installed version) with SimpleAuthManager users,
and the emulator as IAM: who may log in, CSRF, the device flow outcomes, and what gets written."""

from __future__ import annotations

import time

import pytest
import requests
from airflow.providers.common.compat.version_compat import AIRFLOW_V_3_1_PLUS, AIRFLOW_V_3_3_PLUS

from tests.ui.conftest import SHADOWED_CONN_ID, UIServer

pytestmark = pytest.mark.scheduler


def _started(ui: UIServer, conn_id: str, username: str = "admin") -> tuple[object, dict]:
    client = ui.client(username)
    response = client.start(conn_id, ui.emulator_fields())
    assert response.status_code == 200, response.text
    return client, response.json()


# --- the plugin is there ---------------------------------------------------------------------------


def test_page_is_served_under_oac_login(ui):
    response = requests.get(ui.page_url, timeout=30)

    assert response.status_code == 200
    assert "Log in to Oracle Analytics Cloud" in response.text
    assert "frame-ancestors 'self'" in response.headers["content-security-policy"]


@pytest.mark.skipif(not AIRFLOW_V_3_1_PLUS, reason="Airflow 3.0 has no external views (open /oac-login/)")
def test_admin_menu_lists_the_page_as_an_external_view(ui):
    response = requests.get(
        f"{ui.base_url}/api/v2/plugins", headers={"Authorization": f"Bearer {ui.token('admin')}"}, timeout=30
    )

    plugin = next(p for p in response.json()["plugins"] if p["name"] == "airflow-provider-oac")
    expected = {
        "name": "Log in to OAC",
        "href": "oac-login/",
        "url_route": "oac-login",
        "destination": "nav",
        "category": "admin",
        "icon": None,
        "icon_dark_mode": None,
    }
    if AIRFLOW_V_3_3_PLUS:  # the field is new in 3.3
        expected["nav_top_level"] = False
    assert plugin["external_views"] == [expected]
    assert requests.get(f"{ui.base_url}/plugin/oac-login", timeout=30).status_code == 200


# --- who may log in --------------------------------------------------------------------------------


def test_anonymous_caller_gets_401(ui):
    client = ui.client(None)

    assert client.start("oac_ui_anon", ui.emulator_fields()).status_code == 401
    assert client.get("connections").status_code == 401


def test_viewer_gets_403_on_every_route(ui):
    viewer = ui.client("viewer")

    assert viewer.get("connections").status_code == 403
    assert viewer.get("connections/oac_ui_viewer").status_code == 403
    assert viewer.start("oac_ui_viewer", ui.emulator_fields()).status_code == 403
    assert viewer.poll("oac_ui_viewer", "x").status_code == 403
    assert ui.emulator.control.counters().get("device_authorizations", 0) == 0


def test_op_role_may_log_in(ui):
    _, started = _started(ui, "oac_ui_op", username="op")

    assert started["user_code"]


# --- CSRF ------------------------------------------------------------------------------------------


def test_post_without_the_custom_header_is_rejected_before_iam_is_asked(ui):
    admin = ui.client("admin")

    response = admin.post("connections/oac_ui_csrf/start", ui.emulator_fields(), csrf=False)

    assert response.status_code == 403
    assert "X-OAC-Login" in response.json()["detail"]
    assert ui.emulator.control.pending_user_codes() == []


def test_form_encoded_post_is_rejected(ui):
    admin = ui.client("admin")

    response = admin.session.post(
        admin.page_url + "connections/oac_ui_csrf/start",
        data=ui.emulator_fields(),
        headers={"X-OAC-Login": "1"},
        timeout=30,
    )

    assert response.status_code == 415
    assert ui.emulator.control.pending_user_codes() == []


# --- the device flow -------------------------------------------------------------------------------


def test_start_returns_the_code_and_an_opaque_handle_without_the_device_code(ui):
    _, started = _started(ui, "oac_ui_start")

    assert started["user_code"] == ui.emulator.control.wait_for_user_code()
    assert started["verification_uri"].startswith(ui.emulator.iam_url)
    assert started["interval"] == 1
    assert 290 <= started["expires_in"] <= 300
    device_codes = [d for d in ui.emulator.state.iam._devices]  # noqa: SLF001 - the secret to look for
    assert device_codes and not any(code in started["handle"] for code in device_codes)
    assert "device_code" not in started


def test_admin_login_writes_a_connection_that_a_hook_can_use(ui):
    client, started = _started(ui, "oac_ui_admin")
    ui.emulator.control.approve(started["user_code"])

    answer = client.poll_until_terminal("oac_ui_admin", started["handle"])

    assert answer["status"] == "done"
    assert answer["subject"] == ui.emulator.config.username
    assert answer["message"].startswith(f"Logged in as {ui.emulator.config.username} until ")
    assert answer["created"] is True
    listed = ui.deployment.python(
        "from airflow_provider_oac.hooks.oac import OACHook\n"
        "print('snapshots:', len(OACHook('oac_ui_admin').list_snapshots()))"
    )
    assert "snapshots: 0" in listed.stdout


def test_a_poll_before_the_interval_asks_iam_nothing(ui):
    client, started = _started(ui, "oac_ui_early")
    polls_before = ui.emulator.control.counters().get("device_polls", 0)

    answer = client.poll("oac_ui_early", started["handle"]).json()

    assert answer["status"] == "pending"
    assert 0 < answer["retry_in"] <= 1
    assert ui.emulator.control.counters().get("device_polls", 0) == polls_before


def test_each_poll_makes_one_iam_call(ui):
    client, started = _started(ui, "oac_ui_once")
    time.sleep(started["interval"])

    answer = client.poll("oac_ui_once", started["handle"]).json()

    assert answer["status"] == "pending"
    assert ui.emulator.control.counters()["device_polls"] == 1


def test_slow_down_lengthens_the_interval_for_later_polls(ui):
    client, started = _started(ui, "oac_ui_slow")
    ui.emulator.control.add_fault("POST /iam/oauth2/v1/token", "status", status=400, code="slow_down")
    time.sleep(started["interval"])

    answer = client.poll("oac_ui_slow", started["handle"]).json()
    early = client.poll("oac_ui_slow", answer["handle"]).json()

    assert answer["slowed_down"] is True
    assert answer["retry_in"] == started["interval"] + 5
    assert early["status"] == "pending"
    assert ui.emulator.control.counters()["device_polls"] == 0  # the fault answered; no second call


def test_denied_login_says_so_and_writes_nothing(ui):
    client, started = _started(ui, "oac_ui_denied")
    ui.emulator.control.deny(started["user_code"])

    answer = client.poll_until_terminal("oac_ui_denied", started["handle"])

    assert answer["status"] == "denied"
    assert "declined" in answer["message"]
    assert client.get("connections/oac_ui_denied").status_code == 404


def test_expired_code_says_so(ui):
    client, started = _started(ui, "oac_ui_expired")
    ui.emulator.control.advance_clock(400)

    answer = client.poll_until_terminal("oac_ui_expired", started["handle"])

    assert answer["status"] == "expired"
    assert "expired" in answer["message"]


def test_unreachable_iam_is_explained_with_what_to_do(ui):
    from tests.deployment import free_port

    admin = ui.client("admin")
    fields = {**ui.emulator_fields(), "iam_url": f"http://127.0.0.1:{free_port()}"}

    response = admin.start("oac_ui_noiam", fields)

    assert response.status_code == 502
    assert "Could not reach" in response.json()["detail"]
    assert "airflow-oac login" in response.json()["detail"]


def test_bad_settings_are_refused_before_iam_is_asked(ui):
    admin = ui.client("admin")

    response = admin.start("oac_ui_bad", {**ui.emulator_fields(), "oac_url": "not a url"})

    assert response.status_code == 400
    assert "OAC URL" in response.json()["detail"]
    assert ui.emulator.control.pending_user_codes() == []


AUDIENCE = "https://emulator0audience00000000000000000.analytics.ocp.oraclecloud.com"


@pytest.mark.parametrize(("ending", "warning"), [("/", "has a slash before urn:"), (":443", None)])
def test_an_audience_ending_in_a_slash_or_a_port_is_accepted_and_a_slash_is_warned_about(ui, ending, warning):
    # IAM joins the audience and the resource exactly as the audience is stored.
    ui.emulator.control.configure(audience=AUDIENCE + ending)

    response = ui.client("admin").start(f"oac_ui_audience_{len(ending)}", ui.emulator_fields())

    assert response.status_code == 200, response.text
    assert response.json()["user_code"]
    if warning is None:
        assert response.json()["warning"] is None
    else:
        assert warning in response.json()["warning"]
        assert "usually https://" in response.json()["warning"]


def test_a_scope_iam_refuses_is_explained_with_how_the_scope_is_built(ui):
    ui.emulator.control.configure(audience=AUDIENCE + "/")
    fields = {**ui.emulator_fields(), "scope": f"{AUDIENCE}urn:opc:resource:consumer::all offline_access"}

    response = ui.client("admin").start("oac_ui_invalid_scope", fields)

    assert response.status_code == 502
    detail = response.json()["detail"]
    assert "IAM rejected the scope" in detail and "invalid_scope" in detail
    assert "primary audience exactly as IAM stores it" in detail
    assert ui.emulator.control.pending_user_codes() == []


# --- handles ---------------------------------------------------------------------------------------


def test_a_handle_is_bound_to_the_user_who_started_the_login(ui):
    _, started = _started(ui, "oac_ui_bound", username="admin")
    time.sleep(started["interval"])

    response = ui.client("op").poll("oac_ui_bound", started["handle"])

    assert response.status_code == 400
    assert "another Airflow user" in response.json()["detail"]


def test_a_handle_is_bound_to_its_connection(ui):
    client, started = _started(ui, "oac_ui_conn_a")

    response = client.poll("oac_ui_conn_b", started["handle"])

    assert response.status_code == 400
    assert "oac_ui_conn_a" in response.json()["detail"]


def test_a_tampered_handle_is_rejected(ui):
    client, started = _started(ui, "oac_ui_tamper")
    handle = started["handle"]
    tampered = handle[:40] + ("A" if handle[40] != "A" else "B") + handle[41:]

    response = client.poll("oac_ui_tamper", tampered)

    assert response.status_code == 400
    assert "start a new login" in response.json()["detail"]


# --- status, supersession, shadowing, audit --------------------------------------------------------


def test_status_shows_who_and_until_when_without_tokens(ui):
    client, started = _started(ui, "oac_ui_status")
    ui.emulator.control.approve(started["user_code"])
    client.poll_until_terminal("oac_ui_status", started["handle"])

    status = client.get("connections/oac_ui_status").json()

    assert status["logged_in"] is True
    assert status["subject"] == ui.emulator.config.username
    assert status["refresh_token_lifetime"] == 604800.0
    assert status["login_expires_at"] == pytest.approx(time.time() + 604800, abs=120)
    stored = ui.deployment.python(
        "from airflow.models.connection import Connection\n"
        "print(Connection.get_connection_from_secrets('oac_ui_status').password)"
    ).stdout.strip()
    assert stored and stored not in str(status)
    assert "oac_ui_status" in client.get("connections").json()["connection_ids"]


def test_a_second_login_supersedes_the_first(ui):
    read_password = (
        "from airflow.models.connection import Connection\n"
        "print(Connection.get_connection_from_secrets('oac_ui_again').password)"
    )
    client, first = _started(ui, "oac_ui_again")
    ui.emulator.control.approve(first["user_code"])
    client.poll_until_terminal("oac_ui_again", first["handle"])
    first_password = ui.deployment.python(read_password).stdout.strip()
    _, second = _started(ui, "oac_ui_again")
    ui.emulator.control.approve(second["user_code"])

    answer = client.poll_until_terminal("oac_ui_again", second["handle"])

    assert answer["status"] == "done"
    assert answer["created"] is False
    assert ui.deployment.python(read_password).stdout.strip() not in ("", first_password)


def test_a_connection_hidden_by_an_environment_variable_is_warned_about(ui):
    client, started = _started(ui, SHADOWED_CONN_ID)
    ui.emulator.control.approve(started["user_code"])

    answer = client.poll_until_terminal(SHADOWED_CONN_ID, started["handle"])

    assert answer["status"] == "done"
    assert "AIRFLOW_CONN_OAC_SHADOWED" in answer["shadowed_by"]
    assert "hides the connection" in answer["warning"]


def test_the_outcome_is_logged_with_the_airflow_user_and_no_secret(ui):
    client, started = _started(ui, "oac_ui_audit", username="op")
    ui.emulator.control.approve(started["user_code"])
    client.poll_until_terminal("oac_ui_audit", started["handle"])
    device_codes = list(ui.emulator.state.iam._devices)  # noqa: SLF001

    log = ui.deployment.component_log("api-server")

    assert "OAC UI login succeeded: Airflow user 'op' created connection 'oac_ui_audit'" in log
    assert not any(code in log for code in device_codes)


def test_a_connection_of_another_type_is_not_overwritten(ui):
    ui.deployment.airflow("connections", "add", "oac_ui_pg", "--conn-uri", "postgres://u:p@db:5432/x")
    admin = ui.client("admin")

    response = admin.start("oac_ui_pg", ui.emulator_fields())

    assert response.status_code == 400
    assert "'postgres' connection" in response.json()["detail"]
