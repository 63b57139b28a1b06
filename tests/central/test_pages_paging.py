"""A hospital-sized inventory (3,000 devices) in a real headless Chromium: the page shows
one page of rows filtered, sorted and paged by the database, counts every match, and its
links (next/previous, sort headers, the JSON twin) keep the filters; no script needed.
The JSON API pages the same way (limit/offset, X-Total-Count, Link) on SQLite and
PostgreSQL, and the OpenAPI document says so."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from sqlalchemy import Engine

from central.inventory.queries import CATEGORIES
from tests.central.conftest import FakeClock
from tests.central.many_devices import address_of, device_values, risk_of, seed_many_devices
from tests.central.test_pages import choose, click_and_wait, shown_device_ids, sign_in
from tests.support.browser import chromium
from tests.support.web_inventory import make_web_env, served

COUNT = 3000
NOW = datetime(2026, 12, 6, 6, 0, tzinfo=UTC)
PAGE_ROWS = 250


def _expected(**match: Any) -> list[int]:
    """Indexes of the seeded devices that pass `match` (site, wing, category, risk band)."""
    bands = {"low": (0, 25), "medium": (25, 50), "high": (50, 75), "critical": (75, 101)}
    out = []
    for index in range(COUNT):
        values = device_values(index, NOW)
        if "site" in match and values["site"] != match["site"]:
            continue
        if "wing" in match and match["wing"] not in values["wings"]:
            continue
        if "category" in match and values["category"] != match["category"]:
            continue
        low, high = bands[match.get("risk", "low")] if "risk" in match else (0, 101)
        if not low <= risk_of(index) < high:
            continue
        out.append(index)
    return out


def _by_risk(indexes: list[int]) -> list[str]:
    """The page's default order, as the database makes it for these seeded rows."""

    def key(index: int) -> tuple[Any, ...]:
        values = device_values(index, NOW)
        name = f"{values['vendor']} {values['model']}".lower()
        return (-risk_of(index), CATEGORIES.index(values["category"]), name, values["id"])

    return [device_values(index, NOW)["id"] for index in sorted(indexes, key=key)]


@pytest.fixture(scope="module")
def big_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, str]]:
    from central.db import open_database

    directory = tmp_path_factory.mktemp("big")
    engine = open_database(f"sqlite:///{directory / 'inventory.db'}")
    seed_many_devices(engine, COUNT, NOW)
    web = make_web_env(directory, engine, FakeClock(NOW), seed=False)
    with served(web.app) as base:
        yield web, base
    engine.dispose()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with chromium(tmp_path_factory.mktemp("chromium-profile")) as driver:
        yield driver


def _rows_in_order(driver: Any) -> list[str]:
    return list(
        driver.execute_script(
            "return Array.from(document.querySelectorAll('#devices tbody tr[data-device]'))"
            ".map(row => row.dataset.device)"
        )
    )


def _query(driver: Any) -> dict[str, list[str]]:
    return parse_qs(urlparse(driver.current_url).query)


def test_pages_of_a_site_walk_every_match_once_keeping_filters_and_sort(
    big_site: Any, browser: Any
) -> None:
    from selenium.webdriver.common.by import By

    web, base = big_site
    sign_in(browser, base, *web.viewer)
    browser.get(f"{base}/")
    assert browser.find_element(By.ID, "total-devices").text == str(COUNT)
    assert len(_rows_in_order(browser)) == PAGE_ROWS
    # Filter by site in the form (a plain GET form: no script), sorted by risk.
    choose(browser, "site", "st-mary")
    click_and_wait(browser, browser.find_element(By.CSS_SELECTOR, "#filters button[type=submit]"))
    expected = _by_risk(_expected(site="st-mary"))
    pages = -(-len(expected) // PAGE_ROWS)
    count_text = browser.find_element(By.ID, "device-count").text
    assert f"{len(expected)} devices match these filters" in count_text
    assert f"page 1 of {pages}" in count_text
    seen: list[str] = []
    for page in range(1, pages + 1):
        rows = _rows_in_order(browser)
        assert rows == expected[(page - 1) * PAGE_ROWS : page * PAGE_ROWS], page
        seen += rows
        if page < pages:
            click_and_wait(browser, browser.find_element(By.ID, "next-page"))
            query = _query(browser)
            assert query["site"] == ["st-mary"] and query["sort"] == ["risk"]
            assert query["page"] == [str(page + 1)]
    assert seen == expected  # every match once, in order, across the pages
    assert not browser.find_elements(By.ID, "next-page")
    click_and_wait(browser, browser.find_element(By.ID, "previous-page"))
    assert _query(browser)["page"] == [str(pages - 1)]

    # A sort header keeps the filters and starts again at page 1.
    click_and_wait(browser, browser.find_element(By.LINK_TEXT, "Category"))
    query = _query(browser)
    assert query["site"] == ["st-mary"] and query["sort"] == ["category"] and "page" not in query
    ranks = [
        CATEGORIES.index(device_values(int(i.split("-")[1]), NOW)["category"])
        for i in _rows_in_order(browser)
    ]
    assert ranks == sorted(ranks)

    # The JSON twin is this very page.
    twin = browser.find_element(By.ID, "json-twin").get_attribute("href")
    twin_query = parse_qs(urlparse(twin).query)
    assert twin_query["site"] == ["st-mary"] and twin_query["sort"] == ["category"]
    assert twin_query["limit"] == [str(PAGE_ROWS)] and twin_query["offset"] == ["0"]
    listed = httpx.get(twin, headers={"Authorization": f"Bearer {web.token}"}).json()
    assert [d["id"] for d in listed] == _rows_in_order(browser)


def test_filters_by_wing_category_risk_and_search_count_in_the_database(
    big_site: Any, browser: Any
) -> None:
    from selenium.webdriver.common.by import By

    web, base = big_site
    sign_in(browser, base, *web.viewer)
    browser.get(f"{base}/?wing=2b&category=infusion_pump")
    wanted = _expected(wing="2b", category="infusion_pump")
    assert 0 < len(wanted) < PAGE_ROWS
    assert shown_device_ids(browser) == {device_values(i, NOW)["id"] for i in wanted}
    assert browser.find_element(By.ID, "total-devices").text == str(len(wanted))

    browser.get(f"{base}/")
    choose(browser, "risk", "critical")
    click_and_wait(browser, browser.find_element(By.CSS_SELECTOR, "#filters button[type=submit]"))
    critical = _expected(risk="critical")
    assert browser.find_element(By.ID, "total-devices").text == str(len(critical))
    assert _rows_in_order(browser) == _by_risk(critical)[:PAGE_ROWS]
    click_and_wait(browser, browser.find_element(By.ID, "next-page"))
    assert _query(browser)["risk"] == ["critical"]
    assert _rows_in_order(browser) == _by_risk(critical)[PAGE_ROWS : 2 * PAGE_ROWS]

    # Search: a MAC, and part of an address (every device holding a matching address).
    mac = device_values(1234, NOW)["mac"]
    browser.get(f"{base}/?q={mac}")
    assert shown_device_ids(browser) == {"dev-01234"}
    browser.get(f"{base}/?q=10.0.11.7")
    holders = {device_values(i, NOW)["id"] for i in range(COUNT) if "10.0.11.7" in address_of(i)}
    assert shown_device_ids(browser) == holders and len(holders) > 1
    count_text = browser.find_element(By.ID, "device-count").text
    assert f"{len(holders)} devices match these filters" in count_text


@pytest.fixture
def api_engine(database_url: str) -> Iterator[Engine]:
    from central.db import open_database

    engine = open_database(database_url)
    seed_many_devices(engine, COUNT, NOW)
    yield engine
    engine.dispose()


def test_the_api_pages_with_limit_offset_a_total_and_links(
    api_engine: Engine, tmp_path: Path
) -> None:
    from fastapi.testclient import TestClient

    web = make_web_env(tmp_path, api_engine, FakeClock(NOW), seed=False)
    client = TestClient(web.app)
    auth = {"Authorization": f"Bearer {web.token}"}
    url = "/api/devices?site=st-luke&sort=risk&limit=400"
    expected = _expected(site="st-luke")
    ids: list[str] = []
    risks: list[int] = []
    while url:
        response = client.get(url, headers=auth)
        assert response.status_code == 200, response.text
        assert response.headers["X-Total-Count"] == str(len(expected))
        page = response.json()
        ids += [d["id"] for d in page]
        risks += [d["risk"] for d in page]
        found = re.search(r'<([^>]+)>; rel="next"', response.headers.get("Link", ""))
        url = found.group(1) if found else ""
    assert sorted(ids) == sorted(device_values(i, NOW)["id"] for i in expected)
    assert len(ids) == len(set(ids)) and risks == sorted(risks, reverse=True)
    last = client.get("/api/devices?site=st-luke&sort=risk&limit=400&offset=1200", headers=auth)
    assert 'rel="prev"' in last.headers["Link"] and 'rel="next"' not in last.headers["Link"]
    assert client.get("/api/devices?risk=bad", headers=auth).status_code == 400
    assert client.get("/api/devices?sort=bad", headers=auth).status_code == 400
    # Without limit: the whole list, as before (exports and scripts rely on it).
    assert len(client.get("/api/devices", headers=auth).json()) == COUNT

    document = client.get("/openapi.json", headers=auth).json()
    operation = document["paths"]["/api/devices"]["get"]
    parameters = {p["name"] for p in operation["parameters"]}
    assert {"limit", "offset", "sort", "risk", "site", "wing", "category", "q"} <= parameters
    headers = operation["responses"]["200"]["headers"]
    assert {"X-Total-Count", "Link"} <= set(headers)
