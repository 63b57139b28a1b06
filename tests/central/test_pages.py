"""The pages in a real headless Chromium against a real served app: which rows show, what
each filter changes, the device page's evidence, who may edit, the fleet, the audit log.
Screenshots go to a temporary folder; to refresh the ones kept in docs/screenshots/, run
`IOMT_SCREENSHOTS_DIR=docs/screenshots .venv/bin/python -m pytest tests/central/test_pages*.py`."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.central.conftest import FakeClock
from tests.central.test_web_risk import policy
from tests.support.browser import chromium
from tests.support.web_inventory import (
    DEVICES,
    WebEnv,
    by_category,
    evaluate_risk,
    make_web_env,
    served,
)

# A test run must not rewrite tracked files: screenshots land in docs/ only when asked.
SCREENSHOTS = Path(
    os.environ.get("IOMT_SCREENSHOTS_DIR") or Path(tempfile.gettempdir()) / "iomt-screenshots"
)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[WebEnv, str]]:
    from central.db import open_database

    directory = tmp_path_factory.mktemp("web")
    engine = open_database(f"sqlite:///{directory / 'inventory.db'}")
    clock = FakeClock()
    web = make_web_env(directory, engine, clock, risk=True, policy=policy())
    clock.advance(seconds=61)  # a second evaluation a snapshot interval later: a trend
    evaluate_risk(engine, clock(), policy())
    with served(web.app) as base:
        yield web, base
    engine.dispose()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with chromium(tmp_path_factory.mktemp("chromium-profile")) as driver:
        yield driver


def sign_in(driver: Any, base: str, name: str, password: str) -> None:
    from selenium.webdriver.common.by import By

    driver.delete_all_cookies()
    driver.get(f"{base}/login")
    driver.find_element(By.ID, "username").send_keys(name)
    driver.find_element(By.ID, "password").send_keys(password)
    click_and_wait(driver, driver.find_element(By.ID, "sign-in"))
    assert driver.find_element(By.ID, "who").text == name


def full_page_screenshot(driver: Any, name: str) -> None:
    """Save the whole page (not just the window) as <SCREENSHOTS>/<name>.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1440, max(900, int(height) + 20))
    driver.save_screenshot(str(SCREENSHOTS / f"{name}.png"))
    driver.set_window_size(1440, 900)


def shown_device_ids(driver: Any) -> set[str]:
    # Read in one script call: element handles can go stale between two WebDriver calls.
    ids = driver.execute_script(
        "return Array.from(document.querySelectorAll('#devices tbody tr[data-device]'))"
        ".map(row => row.dataset.device)"
    )
    return set(ids)


def choose(driver: Any, name: str, value: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    Select(driver.find_element(By.NAME, name)).select_by_value(value)


def click_and_wait(driver: Any, element: Any) -> None:
    """Click, then wait until the browser shows a new, fully loaded document (a form post
    or a link), so the next look is at the new page and not the old one. A document is
    told apart by its performance.timeOrigin; errors while the page is being replaced
    are retried (chromedriver answers some with a generic error, not a stale element)."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.support.ui import WebDriverWait

    def origin(d: Any) -> Any:
        return d.execute_script("return [performance.timeOrigin, document.readyState]")

    before = origin(driver)[0]
    element.click()

    def loaded(d: Any) -> bool:
        now, state = origin(d)
        return bool(now != before and state == "complete")

    WebDriverWait(driver, 15, ignored_exceptions=(WebDriverException,)).until(loaded)


def submit_filters(driver: Any) -> None:
    from selenium.webdriver.common.by import By

    click_and_wait(driver, driver.find_element(By.CSS_SELECTOR, "#filters button[type=submit]"))


def test_inventory_shows_every_device_and_a_screenshot_is_kept(site: Any, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    web, base = site
    sign_in(browser, base, *web.viewer)
    browser.get(f"{base}/")
    assert shown_device_ids(browser) == {d.id for d in DEVICES}
    pump_row = browser.find_element(By.CSS_SELECTOR, f'tr[data-device="{DEVICES[0].id}"]')
    assert "BD Alaris 8015" in pump_row.text and "PHI" in pump_row.text
    assert "infusion pump" in pump_row.text
    full_page_screenshot(browser, "inventory")


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("category", "infusion_pump", {d.id for d in by_category("infusion_pump")}),
        ("wing", "3a", {d.id for d in DEVICES if d.wing == "3a"}),
        ("handles_phi", "false", {d.id for d in DEVICES if not d.handles_phi}),
        ("criticality", "life-sustaining", {d.id for d in by_category("infusion_pump")}),
        ("since", "7d", {d.id for d in DEVICES if d.age_days < 7}),
        ("site", "st-mary", {d.id for d in DEVICES}),
    ],
)
def test_each_filter_narrows_the_rows_to_the_matching_devices(
    site: Any, browser: Any, field: str, value: str, expected: set[str]
) -> None:
    web, base = site
    sign_in(browser, base, *web.viewer)
    browser.get(f"{base}/")
    choose(browser, field, value)
    submit_filters(browser)
    assert shown_device_ids(browser) == expected
    assert f"{field}={value}" in browser.current_url


def test_search_and_filters_combine_and_clear(site: Any, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    web, base = site
    sign_in(browser, base, *web.viewer)
    browser.get(f"{base}/")
    browser.find_element(By.NAME, "q").send_keys("alaris")
    choose(browser, "wing", "4b")
    submit_filters(browser)
    assert shown_device_ids(browser) == {d.id for d in by_category("infusion_pump")}
    choose(browser, "wing", "3a")
    submit_filters(browser)
    assert shown_device_ids(browser) == set()
    assert "No device matches" in browser.find_element(By.ID, "devices").text
    click_and_wait(browser, browser.find_element(By.LINK_TEXT, "Clear"))
    assert shown_device_ids(browser) == {d.id for d in DEVICES}


def test_device_page_shows_identity_evidence_addresses_peers_and_history(
    site: Any, browser: Any
) -> None:
    from selenium.webdriver.common.by import By

    web, base = site
    sign_in(browser, base, *web.viewer)
    ct = by_category("imaging")[0]
    browser.get(f"{base}/")
    click_and_wait(browser, browser.find_element(By.CSS_SELECTOR, f'tr[data-device="{ct.id}"] a'))
    assert browser.current_url.endswith(f"/devices/{ct.id}")
    assert "Siemens SOMATOM go.Up" in browser.find_element(By.ID, "device-title").text
    evidence = browser.find_element(By.ID, "evidence").text
    assert "CT_SOMATOM_3A" in evidence and "dicom-modality-ct" in evidence
    assert browser.find_element(By.ID, "confidence").text == "90%"
    assert ct.address in browser.find_element(By.ID, "addresses").text
    peers = browser.find_element(By.ID, "peers").text
    assert "10.9.0.10" in peers and "dicom" in peers
    assert "new device" in browser.find_element(By.ID, "history").text
    assert not browser.find_elements(By.ID, "label-form")  # a viewer gets no form
    full_page_screenshot(browser, "device")


def test_fleet_flags_the_silent_sensor_and_counts_rejected_messages(
    site: Any, browser: Any
) -> None:
    from selenium.webdriver.common.by import By

    web, base = site
    sign_in(browser, base, *web.viewer)
    browser.get(f"{base}/sensors")
    silent = browser.find_element(By.CSS_SELECTOR, 'tr[data-sensor="wing3a-01"]').text
    live = browser.find_element(By.CSS_SELECTOR, 'tr[data-sensor="wing4b-01"]').text
    assert "silent" in silent and "0.8.2" in silent and "17" in silent
    assert "silent" not in live
    assert browser.find_element(By.ID, "silent-count").text == "1"
    assert browser.find_element(By.ID, "rejected-total").text == "3"
    assert "unknown key" in browser.find_element(By.ID, "rejected").text
    full_page_screenshot(browser, "sensors")


def test_overview_counts_each_wing_and_whats_new_this_week(site: Any, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    web, base = site
    sign_in(browser, base, *web.viewer)
    browser.get(f"{base}/overview")
    assert browser.find_element(By.ID, "total-devices").text == str(len(DEVICES))
    new = sum(1 for d in DEVICES if d.age_days < 7)
    assert browser.find_element(By.ID, "new-this-week").text == str(new)
    wing = browser.find_element(By.CSS_SELECTOR, 'tr[data-wing="4b"]')
    assert wing.text.split()[:2] == ["4b", str(sum(1 for d in DEVICES if d.wing == "4b"))]


def test_editor_relabels_a_device_and_the_audit_log_page_shows_who(site: Any, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    web, base = site
    sign_in(browser, base, *web.editor)
    unknown = by_category("unknown")[0]
    browser.get(f"{base}/devices/{unknown.id}")
    choose(browser, "category", "ip_camera")
    browser.find_element(By.ID, "vendor").send_keys("Axis")
    browser.find_element(By.ID, "note").send_keys("asset tag 4B-CAM-2 checked on the ward")
    click_and_wait(browser, browser.find_element(By.ID, "save-label"))
    assert browser.find_element(By.ID, "saved").is_displayed()
    assert "ip camera" in browser.find_element(By.ID, "device-title").text
    assert "label override" in browser.find_element(By.ID, "history").text
    browser.get(f"{base}/?category=ip_camera")
    assert shown_device_ids(browser) == {unknown.id}
    browser.get(f"{base}/audit")
    audit = browser.find_element(By.ID, "audit").text
    assert "alice" in audit and "label.set" in audit and "4B-CAM-2" in audit


def test_risk_page_ranks_what_to_fix_first(site: Any, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    web, base = site
    sign_in(browser, base, *web.viewer)
    browser.get(f"{base}/risk")
    first = browser.find_element(By.CSS_SELECTOR, "#fix-first tbody tr")
    assert first.get_attribute("data-device") == by_category("infusion_pump")[0].id
    assert "internet" in first.text.lower()
    assert browser.find_elements(By.CSS_SELECTOR, "#rollups svg.sparkline")
    full_page_screenshot(browser, "risk")


def test_editor_acknowledges_an_alert_and_a_viewer_has_no_button(site: Any, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    web, base = site
    sign_in(browser, base, *web.viewer)
    browser.get(f"{base}/alerts")
    assert browser.find_elements(By.CSS_SELECTOR, "#alerts tr[data-alert]")
    assert not browser.find_elements(By.CSS_SELECTOR, "#alerts button.ack")
    sign_in(browser, base, *web.editor)
    browser.get(f"{base}/alerts")
    full_page_screenshot(browser, "alerts")
    browser.get(f"{base}/alerts?q=telnet+management")
    row = browser.find_element(By.CSS_SELECTOR, "#alerts tr[data-alert]")
    alert_id = row.get_attribute("data-alert")
    click_and_wait(browser, row.find_element(By.CSS_SELECTOR, "button.ack"))
    state = browser.find_element(By.CSS_SELECTOR, f'tr[data-alert="{alert_id}"] td.state').text
    assert state.startswith("acknowledged") and "alice" in state


def test_segmentation_page_shows_the_matrix_and_the_simulation(site: Any, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    web, base = site
    sign_in(browser, base, *web.viewer)
    browser.get(f"{base}/policy")
    assert browser.find_elements(By.CSS_SELECTOR, "#matrix .svc.deny")
    assert browser.find_elements(By.CSS_SELECTOR, "#matrix .svc.allow")
    summary = browser.find_element(By.ID, "simulation-summary").text
    assert summary.startswith("would block 126 flows")
    full_page_screenshot(browser, "segmentation")
