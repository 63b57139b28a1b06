"""Risk, alerts and containment through the API and the pages, over an inventory that
h-risk's evaluation has scored: what shows, how lists filter, who may acknowledge."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from agent.config.problems import Problems
from central.policy.config import parse_containment
from tests.central.test_web_access import page_csrf, sign_in
from tests.support.web_inventory import WebEnv, by_category, evaluate_risk, make_web_env

POLICY = """
[zones.bedside]
medical = true
categories = ["infusion_pump", "patient_monitor"]
[zones.imaging]
medical = true
cidrs = ["10.3.1.0/24"]
[zones.servers]
cidrs = ["10.9.0.0/24"]
[zones.office]
categories = ["workstation", "label_printer"]

[policy]
default_action = "deny"

[[policy.rules]]
name = "imaging to PACS"
from = "imaging"
to = "servers"
services = ["dicom"]
action = "allow"

[[policy.rules]]
name = "HL7 to the bedside"
from = "servers"
to = "bedside"
services = ["hl7"]
action = "allow"

[[policy.rules]]
name = "office printing"
from = "office"
to = "office"
services = ["tcp/9100"]
action = "allow"
"""

PUMP = by_category("infusion_pump")[0]
PRINTER = by_category("label_printer")[0]


def policy() -> Any:
    problems = Problems()
    parsed = parse_containment(__import__("tomllib").loads(POLICY), Path("central.toml"), problems)
    assert problems.errors == []
    return parsed


@pytest.fixture
def web(tmp_path: Path, sqlite_url: str, clock: Any) -> WebEnv:
    from central.db import open_database

    return make_web_env(tmp_path, open_database(sqlite_url), clock, risk=True, policy=policy())


@pytest.fixture
def api(web: WebEnv) -> TestClient:
    client = TestClient(web.app)
    client.headers["Authorization"] = f"Bearer {web.token}"
    return client


def test_alerts_list_one_per_finding_device_and_peer(api: TestClient) -> None:
    alerts = api.get("/api/alerts").json()
    keys = {(a["finding"], a["device_id"], a["peer"]) for a in alerts}
    assert ("internet_communication", PUMP.id, "93.184.216.34") in keys
    assert ("telnet", PRINTER.id, "10.4.2.101") in keys
    assert all(a["state"] == "open" for a in alerts)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("category=infusion_pump", {"internet_communication", "policy_violation"}),
        ("q=telnet", {"telnet", "policy_violation"}),  # the violation's detail names telnet
        ("wing=3a", {"cleartext_phi"}),
        ("handles_phi=false", {"telnet", "policy_violation"}),
    ],
)
def test_alerts_filter_like_every_list(api: TestClient, query: str, expected: set[str]) -> None:
    assert {a["finding"] for a in api.get(f"/api/alerts?{query}").json()} == expected


def test_acknowledge_needs_an_editor_and_is_audited(web: WebEnv, api: TestClient) -> None:
    alert = next(a for a in api.get("/api/alerts?q=telnet").json() if a["finding"] == "telnet")
    viewer = TestClient(web.app)
    sign_in(viewer, *web.viewer)
    csrf = page_csrf(viewer, "/alerts")
    refused = viewer.post(
        f"/alerts/{alert['id']}/acknowledge", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert refused.status_code == 403
    assert (
        viewer.post(
            f"/api/alerts/{alert['id']}/acknowledge", headers={"X-CSRF-Token": csrf}
        ).status_code
        == 403
    )
    assert TestClient(web.app).post(f"/api/alerts/{alert['id']}/acknowledge").status_code == 401
    done = api.post(f"/api/alerts/{alert['id']}/acknowledge", json={"note": "biomed informed"})
    assert done.status_code == 200 and done.json()["state"] == "acknowledged"
    assert done.json()["acknowledged_by"] == "api-token"
    audit = api.get("/api/audit?action=alert.acknowledge").json()
    assert audit[0]["target"] == f"alert:{alert['id']}" and audit[0]["actor"] == "api-token"


def test_editor_closes_an_alert_from_the_page_and_it_leaves_the_open_list(web: WebEnv) -> None:
    editor = TestClient(web.app)
    sign_in(editor, *web.editor)
    page = editor.get("/alerts?q=talks+to+the+internet").text
    found = re.search(r'data-alert="(\d+)"', page)
    assert found is not None and "quiet ack" in page
    alert_id = found.group(1)
    closed = editor.post(
        f"/alerts/{alert_id}/close",
        data={"csrf_token": page_csrf(editor, "/alerts")},
        follow_redirects=False,
    )
    assert closed.status_code == 303
    assert f'data-alert="{alert_id}"' not in editor.get("/alerts").text
    assert f'data-alert="{alert_id}"' in editor.get("/alerts?state=closed").text
    again = editor.post(
        f"/api/alerts/{alert_id}/acknowledge",
        headers={"X-CSRF-Token": page_csrf(editor, "/alerts")},
    )
    assert again.status_code == 409  # a closed alert cannot be acknowledged


def test_fix_first_ranks_the_pump_on_the_internet_first(api: TestClient) -> None:
    items = api.get("/api/risk/fix-first").json()
    assert (items[0]["device_id"], items[0]["finding"]) == (PUMP.id, "internet_communication")
    assert [item["rank"] for item in items] == list(range(1, len(items) + 1))
    wing3a = api.get("/api/risk/fix-first?wing=3a").json()
    assert wing3a and all(item["wings"] == ["3a"] for item in wing3a)
    assert wing3a[0]["rank"] == 1


def test_rollups_per_site_and_wing_carry_a_trend(api: TestClient) -> None:
    rollups = api.get("/api/risk/rollups").json()
    site = next(r for r in rollups if r["wing"] is None)
    assert site["devices"] == 9 and site["max_risk"] == max(r["max_risk"] for r in rollups)
    assert len(site["trend"]) == 1  # one evaluation, one snapshot
    only = api.get("/api/risk/rollups?wing=3a").json()
    assert {r["wing"] for r in only} == {None, "3a"}


def test_device_page_explains_its_risk(web: WebEnv, api: TestClient) -> None:
    explained = api.get(f"/api/devices/{PUMP.id}/risk").json()
    assert explained["risk"] > 0 and "internet_communication" in explained["explanation"]
    viewer = TestClient(web.app)
    sign_in(viewer, *web.viewer)
    page = viewer.get(f"/devices/{PUMP.id}").text
    assert 'id="risk-explanation"' in page and "internet_communication" in page
    assert 'id="risk-terms"' in page and "93.184.216.34" in page


def test_matrix_shows_zones_services_and_the_policys_decision(api: TestClient) -> None:
    matrix = api.get("/api/policy/matrix").json()
    cells = {(c["from"], c["to"], c["port"]): c["decision"] for c in matrix["cells"]}
    assert cells[("imaging", "servers", 104)] == "allow"
    assert cells[("bedside", "internet", 443)] == "deny"
    assert cells[("office", "office", 23)] == "deny"
    by_category = api.get("/api/policy/matrix?axis=category").json()
    assert "infusion_pump" in by_category["sources"]


def test_simulation_counts_what_the_configured_policy_would_block(api: TestClient) -> None:
    result = api.get("/api/policy/simulation").json()
    # Blocked: pump to the internet, pump to the workstation, telnet to the printer.
    assert result["flows_blocked"] == 3 * 42
    assert PUMP.id in result["device_ids"] and PRINTER.id in result["device_ids"]
    assert result["summary"].startswith("would block 126 flows of")


def test_a_proposed_policy_is_simulated_without_being_stored(api: TestClient) -> None:
    allow_all = POLICY.replace('default_action = "deny"', 'default_action = "allow"')
    result = api.post("/api/policy/simulation", json={"policy": allow_all}).json()
    assert result["flows_blocked"] == 42  # only the medical zone's internet traffic
    bad = api.post(
        "/api/policy/simulation",
        json={"policy": POLICY.replace('to = "servers"', 'to = "nowhere"', 1)},
    )
    assert bad.status_code == 422 and "policy.rules[0]" in bad.text
    assert api.get("/api/policy/simulation").json()["flows_blocked"] == 126  # unchanged


def test_risk_alerts_and_policy_pages_render_for_a_viewer(web: WebEnv, clock: Any) -> None:
    clock.advance(hours=2)
    evaluate_risk(web.app.state.backend.engine, clock(), policy())  # a second trend point
    viewer = TestClient(web.app)
    sign_in(viewer, *web.viewer)
    risk = viewer.get("/risk").text
    assert 'id="fix-first"' in risk and "Medical device talks to the internet" in risk
    assert "<svg" in risk  # the trend
    alerts = viewer.get("/alerts").text
    assert 'id="alerts"' in alerts and "quiet ack" not in alerts  # a viewer gets no buttons
    policy_page = viewer.get("/policy").text
    assert 'id="matrix"' in policy_page and "would block 126 flows" in policy_page
    proposed = viewer.post(
        "/policy/simulate",
        data={"csrf_token": page_csrf(viewer, "/policy"), "policy": "[zones.x]\nmedical = 3"},
    )
    assert proposed.status_code == 422 and 'id="policy-errors"' in proposed.text
