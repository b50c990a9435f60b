"""The login page in headless Chromium, opened as a signed-in user opens it on the installed
Airflow, against the emulator's IAM: on 3.1+ inside the Airflow UI's frame (Admin > "Log in to
OAC", an external view); on 3.0, which has no external views, by its URL ``/oac-login/`` after
3.0's own UI has moved the user's token into ``localStorage`` (what 3.0 and 3.1.0 do).

Needs Debian's ``chromium`` and ``chromium-driver`` (``make browser-deps`` installs them) and
selenium; skipped, saying which is missing, where they cannot be installed. Screenshots go to
``docs/_static/ui-login-*.png`` when ``OAC_UPDATE_SCREENSHOTS=1``, else to a temporary folder.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest
from airflow.providers.common.compat.version_compat import AIRFLOW_V_3_1_PLUS

from tests.conftest import REPO
from tests.ui.conftest import UIServer

pytestmark = pytest.mark.scheduler

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
WAIT = 30


def _missing() -> str | None:
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (requirements/dev.lock has it: make venv)"
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not path.exists():
            return f"{path} is missing: install Debian's {package} (make browser-deps, as root)"
    return None


@pytest.fixture
def screenshots(tmp_path) -> Path:
    if os.environ.get("OAC_UPDATE_SCREENSHOTS") == "1":
        folder = REPO / "docs" / "_static"
        folder.mkdir(exist_ok=True)
        return folder
    return tmp_path


@pytest.fixture
def browser(tmp_path):
    reason = _missing()
    if reason:
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=1280,960",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
    ):
        options.add_argument(flag)
    # The driver is Debian's: Selenium Manager must never download one.
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


class Page:
    """The login page as a user signed in to the Airflow UI sees it: in the UI's frame on 3.1+,
    on its own on 3.0."""

    def __init__(self, driver, ui: UIServer, username: str):
        self.driver = driver
        self.ui = ui
        # Any same-origin page first: a cookie can only be set for the page's origin. The cookie is
        # what each version's sign-in leaves: HttpOnly from 3.1.1; on 3.0 readable by the UI's
        # JavaScript, which moves it to localStorage["token"] and deletes it.
        driver.get(f"{ui.base_url}/api/v2/monitor/health")
        driver.add_cookie(
            {"name": "_token", "value": ui.token(username), "path": "/", "httpOnly": AIRFLOW_V_3_1_PLUS}
        )

    def open(self) -> Page:
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions as ec
        from selenium.webdriver.support.ui import WebDriverWait

        if AIRFLOW_V_3_1_PLUS:
            self.driver.get(f"{self.ui.base_url}/plugin/oac-login")
            frame = WebDriverWait(self.driver, WAIT).until(
                ec.presence_of_element_located((By.CSS_SELECTOR, "iframe[title='Log in to OAC']"))
            )
            self.driver.switch_to.frame(frame)
        else:
            # Airflow 3.0 has no external views (no /plugin/<route>, no nav entry): the user opens
            # the Airflow UI, whose first API call moves the sign-in cookie into localStorage, and
            # then the page by its URL (docs/ui-login.md).
            self.driver.get(f"{self.ui.base_url}/")
            WebDriverWait(self.driver, WAIT).until(
                lambda driver: driver.execute_script("return window.localStorage.getItem('token')")
            )
            self.driver.get(self.ui.page_url)
        WebDriverWait(self.driver, WAIT).until(ec.presence_of_element_located((By.ID, "login-form")))
        return self

    def element(self, element_id: str):
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.ID, element_id)

    def wait_for_text(self, element_id: str, text: str, timeout: float = WAIT) -> str:
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions as ec
        from selenium.webdriver.support.ui import WebDriverWait

        WebDriverWait(self.driver, timeout).until(ec.text_to_be_present_in_element((By.ID, element_id), text))
        return self.element(element_id).text

    def fill(self, conn_id: str, fields: dict[str, str]) -> None:
        from selenium.webdriver.common.keys import Keys
        from selenium.webdriver.support.ui import WebDriverWait

        # The status of the default id comes first; then the one typed here replaces it.
        WebDriverWait(self.driver, WAIT).until(lambda _: self.element("status").text)
        before = self.element("status").text
        box = self.element("conn_id")
        box.clear()
        box.send_keys(conn_id, Keys.TAB)  # "change" loads the connection's status
        WebDriverWait(self.driver, WAIT).until(lambda _: self.element("status").text not in ("", before))
        for name, value in fields.items():
            self.element(name).clear()
            self.element(name).send_keys(value)

    def log_in(self) -> str:
        """Press "Log in"; the user code the page shows."""
        self.element("login-button").click()
        from selenium.webdriver.support.ui import WebDriverWait

        WebDriverWait(self.driver, WAIT).until(lambda _: self.element("user-code").text.strip())
        return self.element("user-code").text.strip()

    def screenshot(self, folder: Path, name: str) -> None:
        assert self.driver.save_screenshot(str(folder / f"ui-login-{name}.png"))


def test_admin_logs_in_through_the_page_in_the_airflow_ui(browser, ui, screenshots):
    ui.emulator.control.configure(include_verification_uri_complete=True)
    page = Page(browser, ui, "admin").open()
    page.fill("oac_browser", ui.emulator_fields())

    user_code = page.log_in()
    assert user_code == ui.emulator.control.wait_for_user_code()
    assert page.element("verification-uri").text == f"{ui.emulator.iam_url}/ui/v1/device"
    if importlib.util.find_spec("segno") is not None:  # the qr extra; without it the link stands alone
        assert page.element("qr").find_element("css selector", "svg")
    else:
        assert not page.element("qr").is_displayed()
    page.wait_for_text("countdown", "The code expires in 4:")
    page.screenshot(screenshots, "code")
    ui.emulator.control.approve(user_code)

    page.wait_for_text("result-title", "Logged in")
    message = page.element("result-message").text
    page.screenshot(screenshots, "done")

    assert message.startswith(f"Logged in as {ui.emulator.config.username} until ")
    assert "Created connection oac_browser" in page.element("result-advice").text
    listed = ui.deployment.python(
        "from airflow_provider_oac.hooks.oac import OACHook\n"
        "print('snapshots:', len(OACHook('oac_browser').list_snapshots()))"
    )
    assert "snapshots: 0" in listed.stdout


def test_the_page_shows_an_existing_connections_login(browser, ui, screenshots):
    from tests.ui.test_login_routes import _started

    client, started = _started(ui, "oac_browser_status")
    ui.emulator.control.approve(started["user_code"])
    client.poll_until_terminal("oac_browser_status", started["handle"])
    page = Page(browser, ui, "admin").open()

    page.fill("oac_browser_status", {})

    status = page.wait_for_text("status", "Logged in as")
    assert ui.emulator.config.username in status
    assert "refresh-token lifetime 7 days" in status
    assert page.element("oac_url").get_attribute("value") == ui.emulator.url
    page.screenshot(screenshots, "status")


def test_viewer_is_told_they_may_not_edit_connections(browser, ui, screenshots):
    page = Page(browser, ui, "viewer").open()

    alert = page.wait_for_text("alert", "not allowed to edit connections")
    page.screenshot(screenshots, "forbidden")

    assert "Op or Admin role" in alert
    assert not page.element("login-button").is_enabled()


def test_a_declined_login_says_so(browser, ui, screenshots):
    page = Page(browser, ui, "admin").open()
    page.fill("oac_browser_denied", ui.emulator_fields())
    ui.emulator.control.deny(page.log_in())

    page.wait_for_text("result-title", "declined")
    page.screenshot(screenshots, "denied")

    assert "press Log in to get a new code" in page.element("result-message").text


def test_an_expired_code_says_so(browser, ui, screenshots):
    page = Page(browser, ui, "admin").open()
    page.fill("oac_browser_expired", ui.emulator_fields())
    page.log_in()
    ui.emulator.control.advance_clock(400)

    page.wait_for_text("result-title", "expired")
    page.screenshot(screenshots, "expired")

    assert "enter it within its lifetime" in page.element("result-message").text


def test_the_page_works_on_its_own_with_a_bearer_token_as_on_airflow_3_0(browser, ui):
    # 3.0 and 3.1.0 keep the UI's JWT in localStorage["token"] and send no cookie.
    browser.get(ui.page_url)
    browser.execute_script("window.localStorage.setItem('token', arguments[0])", ui.token("admin"))
    browser.get(ui.page_url)
    page = Page.__new__(Page)
    page.driver, page.ui = browser, ui

    page.fill("oac_browser_bearer", ui.emulator_fields())
    ui.emulator.control.approve(page.log_in())

    assert page.wait_for_text("result-title", "Logged in")
