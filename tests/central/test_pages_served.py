"""The product as an analyst meets it: a wing's capture replayed by the real `iomt-agent
replay` into a real mosquitto, the real `iomt-central serve -c central.toml` ingesting it
and serving HTTPS with a certificate the test makes, and a real headless Chromium reading
the pages. The rows must be the wing's devices, as what they are."""

from __future__ import annotations

import signal
import ssl
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from central.web.auth.users import set_user
from tests.central.test_pages import (
    choose,
    full_page_screenshot,
    shown_device_ids,
    sign_in,
    submit_filters,
)
from tests.support.agent_setup import REPO, environment
from tests.support.browser import chromium
from tests.support.certs import make_pki
from tests.support.hospital import WING_DEVICES, write_wing_capture
from tests.support.web_inventory import free_port

TOKEN = "wing-token-" + "z" * 24


@pytest.fixture(scope="module")
def wing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A served, ingested wing: {"base", "ca", "token"}."""
    from tests.support.broker import MosquittoBroker
    from tests.support.central_env import CentralEnv

    tmp = tmp_path_factory.mktemp("served")
    pki = make_pki(tmp / "pki")
    users = tmp / "users"
    set_user(users, "dana", "viewer", "dana-analyst-pw")
    set_user(users, "erik", "editor", "erik-biomed-pw")
    (tmp / "api-token").write_text(TOKEN + "\n")
    port = free_port()
    broker = MosquittoBroker(tmp)
    broker.start()
    env = CentralEnv(
        tmp,
        broker.url,
        f"sqlite:///{tmp / 'inventory.db'}",
        extra_toml=f"""
[web]
listen = "127.0.0.1:{port}"
users_file = "{users}"
token_file = "{tmp / "api-token"}"
tls_cert = "{pki.server_cert}"
tls_key = "{pki.server_key}"
[risk]
evaluate_interval_s = 1
""",
    )
    sensor = env.add_sensor("mercy-4b-01", site="mercy-general")
    serve = subprocess.Popen(
        env.central_command("serve", "-c", str(env.config), "--instance", "web"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env=environment(),
    )
    base = f"https://127.0.0.1:{port}"
    context = ssl.create_default_context(cafile=str(pki.ca_cert))
    try:
        _wait_for(lambda: httpx.get(f"{base}/login", verify=context).status_code == 200, serve)
        env.replay(write_wing_capture(tmp / "wing.pcap"), sensor)
        auth = {"Authorization": f"Bearer {TOKEN}"}
        _wait_for(
            lambda: (
                len(httpx.get(f"{base}/api/devices", headers=auth, verify=context).json())
                >= len(WING_DEVICES)
            ),
            serve,
        )
        # serve evaluates risk every second: wait for the CT's clear-text DICOM finding.
        _wait_for(
            lambda: any(
                a["finding"] == "cleartext_phi"
                for a in httpx.get(f"{base}/api/alerts", headers=auth, verify=context).json()
            ),
            serve,
        )
        yield {"base": base, "ca": context, "token": TOKEN}
    finally:
        serve.send_signal(signal.SIGTERM)
        try:
            serve.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            serve.kill()
            serve.communicate()
        broker.kill()


def _wait_for(condition: Any, process: subprocess.Popen[str], timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"serve exited {process.returncode}: {process.stderr.read()}")  # type: ignore[union-attr]
        try:
            if condition():
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError("serve did not get there in time")


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with chromium(tmp_path_factory.mktemp("chromium-served")) as driver:
        yield driver


def _device_ids_by_key(wing: dict[str, Any]) -> dict[str, str]:
    devices = httpx.get(
        f"{wing['base']}/api/devices",
        headers={"Authorization": f"Bearer {wing['token']}"},
        verify=wing["ca"],
    ).json()
    return {(d["mac"] or d["ipv4"][0]): d["id"] for d in devices}


def _key(device: Any) -> str:
    return device.host.ip if device.behind_router else device.host.mac


def test_the_replayed_wing_shows_every_device_as_what_it_is(wing: Any, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    sign_in(browser, wing["base"], "dana", "dana-analyst-pw")
    browser.get(f"{wing['base']}/")
    ids = _device_ids_by_key(wing)
    expected = {ids[_key(d)] for d in WING_DEVICES}
    assert expected <= shown_device_ids(browser)
    for device in WING_DEVICES:
        row = browser.find_element(By.CSS_SELECTOR, f'tr[data-device="{ids[_key(device)]}"]')
        category = row.find_element(By.CSS_SELECTOR, "td.category").text
        assert category.startswith(device.category.replace("_", " ")), (device.role, category)
        assert ("PHI" in row.text) == device.handles_phi, device.role
    full_page_screenshot(browser, "inventory-wing")


def test_filters_on_the_replayed_wing(wing: Any, browser: Any) -> None:
    sign_in(browser, wing["base"], "dana", "dana-analyst-pw")
    ids = _device_ids_by_key(wing)
    browser.get(f"{wing['base']}/")
    choose(browser, "category", "infusion_pump")
    submit_filters(browser)
    assert shown_device_ids(browser) == {
        ids[_key(d)] for d in WING_DEVICES if d.category == "infusion_pump"
    }
    browser.get(f"{wing['base']}/")
    choose(browser, "handles_phi", "true")
    submit_filters(browser)
    assert shown_device_ids(browser) == {ids[_key(d)] for d in WING_DEVICES if d.handles_phi}


def test_the_ct_page_shows_the_dicom_evidence_that_decided(wing: Any, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    sign_in(browser, wing["base"], "dana", "dana-analyst-pw")
    ct = next(d for d in WING_DEVICES if d.role == "ct")
    browser.get(f"{wing['base']}/devices/{_device_ids_by_key(wing)[_key(ct)]}")
    assert "GE Healthcare" in browser.find_element(By.ID, "device-title").text
    evidence = browser.find_element(By.ID, "evidence").text
    assert "dicom_modality" in evidence and "CT" in evidence
    assert ct.host.ip in browser.find_element(By.ID, "addresses").text
    assert "clear text" in browser.find_element(By.ID, "risk-explanation").text.lower() or (
        "cleartext_phi" in browser.find_element(By.ID, "risk-explanation").text
    )
    assert "cleartext phi" in browser.find_element(By.ID, "findings").text
    full_page_screenshot(browser, "device-ct")


def test_served_api_refuses_a_write_without_the_token_and_takes_one_with_it(wing: Any) -> None:
    dns = next(d for d in WING_DEVICES if d.role == "dns server")
    device_id = _device_ids_by_key(wing)[_key(dns)]
    url = f"{wing['base']}/api/devices/{device_id}/label"
    body = {"category": "server", "vendor": "Infoblox", "note": "the wing's DNS"}
    refused = httpx.put(url, json=body, verify=wing["ca"])
    assert refused.status_code == 401
    accepted = httpx.put(
        url, json=body, verify=wing["ca"], headers={"Authorization": f"Bearer {wing['token']}"}
    )
    assert accepted.status_code == 200, accepted.text
    assert (accepted.json()["category"], accepted.json()["vendor"]) == ("server", "Infoblox")
