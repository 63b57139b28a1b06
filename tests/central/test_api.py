"""The JSON API over a seeded inventory: contract fields, filters, auth, label writes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support.web_inventory import DEVICES, WebEnv, by_category, make_web_env


@pytest.fixture
def web(tmp_path: Path, engine: Any, clock: Any) -> WebEnv:
    return make_web_env(tmp_path, engine, clock)


@pytest.fixture
def client(web: WebEnv) -> TestClient:
    return TestClient(web.app)


def bearer(web: WebEnv) -> dict[str, str]:
    return {"Authorization": f"Bearer {web.token}"}


CONTRACT_FIELDS = {
    "id",
    "mac",
    "site",
    "wings",
    "sensors",
    "ipv4",
    "ipv6",
    "vlans",
    "vendor",
    "model",
    "category",
    "modality",
    "confidence",
    "evidence",
    "handles_phi",
    "phi_reason",
    "criticality",
    "first_seen",
    "last_seen",
    "risk",
    "findings",
}


def test_devices_list_carries_every_contract_field(client: TestClient, web: WebEnv) -> None:
    response = client.get("/api/devices", headers=bearer(web))
    assert response.status_code == 200
    devices = response.json()
    assert sorted(d["id"] for d in devices) == sorted(d.id for d in DEVICES)
    for device in devices:
        assert set(device) >= CONTRACT_FIELDS, CONTRACT_FIELDS - set(device)
        assert device["first_seen"].endswith("Z")
    ct = next(d for d in devices if d["category"] == "imaging")
    assert (ct["vendor"], ct["modality"], ct["handles_phi"]) == ("Siemens", "CT", True)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("category=infusion_pump", {d.id for d in by_category("infusion_pump")}),
        ("wing=3a", {d.id for d in DEVICES if d.wing == "3a"}),
        ("handles_phi=false", {d.id for d in DEVICES if not d.handles_phi}),
        ("handles_phi=true&wing=4b", {d.id for d in DEVICES if d.handles_phi and d.wing == "4b"}),
        ("criticality=life-sustaining", {d.id for d in by_category("infusion_pump")}),
        ("since=7d", {d.id for d in DEVICES if d.age_days < 7}),
        ("q=zebra", {d.id for d in by_category("label_printer")}),
        ("q=10.9.0.", {d.id for d in DEVICES if d.address.startswith("10.9.0.")}),
        ("site=elsewhere", set()),
    ],
)
def test_device_filters_select_exactly_the_matching_devices(
    client: TestClient, web: WebEnv, query: str, expected: set[str]
) -> None:
    response = client.get(f"/api/devices?{query}", headers=bearer(web))
    assert response.status_code == 200
    assert {d["id"] for d in response.json()} == expected


def test_a_bad_filter_value_is_a_400_naming_it(client: TestClient, web: WebEnv) -> None:
    for query, name in (("handles_phi=maybe", "handles_phi"), ("since=yesterdayish", "since")):
        response = client.get(f"/api/devices?{query}", headers=bearer(web))
        assert response.status_code == 400
        assert name in response.json()["detail"]


def test_one_device_comes_with_its_history_and_evidence(client: TestClient, web: WebEnv) -> None:
    pump = by_category("infusion_pump")[0]
    body = client.get(f"/api/devices/{pump.id}", headers=bearer(web)).json()
    assert body["history"][0]["change"] == "new_device"
    assert body["evidence"][0]["value"] == "CareFusion Alaris PC"
    assert client.get("/api/devices/nope", headers=bearer(web)).status_code == 404


def test_sensors_flag_the_silent_one_and_filter_like_devices(
    client: TestClient, web: WebEnv
) -> None:
    fleet = client.get("/api/sensors", headers=bearer(web)).json()
    assert {s["id"]: s["silent"] for s in fleet} == {"wing4b-01": False, "wing3a-01": True}
    only = client.get("/api/sensors?wing=3a", headers=bearer(web)).json()
    assert [s["id"] for s in only] == ["wing3a-01"]
    assert only[0]["drops"] == 17 and only[0]["clock_skew_s"] == -2.5


def test_summary_counts_per_site_and_wing(client: TestClient, web: WebEnv) -> None:
    body = client.get("/api/summary", headers=bearer(web)).json()
    site = body["sites"]["st-mary"]
    assert site["devices"] == len(DEVICES)
    assert site["wings"]["4b"]["by_category"]["infusion_pump"] == 2
    assert site["wings"]["3a"]["handles_phi"] == 3


def test_reads_without_credentials_are_refused(client: TestClient) -> None:
    for path in ("/api/devices", "/api/summary", "/api/sensors", "/api/alerts", "/api/audit"):
        assert client.get(path).status_code == 401, path
    wrong = {"Authorization": "Bearer not-the-token-at-all"}
    assert client.get("/api/devices", headers=wrong).status_code == 401


def test_label_write_without_token_is_refused_and_changes_nothing(
    client: TestClient, web: WebEnv
) -> None:
    unknown = by_category("unknown")[0]
    response = client.put(f"/api/devices/{unknown.id}/label", json={"category": "ip_camera"})
    assert response.status_code == 401
    body = client.get(f"/api/devices/{unknown.id}", headers=bearer(web)).json()
    assert body["category"] == "unknown"


def test_label_write_with_token_wins_and_is_audited(client: TestClient, web: WebEnv) -> None:
    unknown = by_category("unknown")[0]
    response = client.put(
        f"/api/devices/{unknown.id}/label",
        json={"category": "ip_camera", "vendor": "Axis", "note": "asset tag 4B-CAM-2"},
        headers=bearer(web),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["category"], body["vendor"], body["confidence"]) == ("ip_camera", "Axis", 1.0)
    assert body["history"][-1]["change"] == "label_override"
    assert body["history"][-1]["actor"] == "api-token"
    listed = client.get("/api/devices?category=ip_camera", headers=bearer(web)).json()
    assert [d["id"] for d in listed] == [unknown.id]
    audit = client.get("/api/audit", headers=bearer(web)).json()
    assert audit[0]["action"] == "label.set" and audit[0]["target"] == unknown.id
    assert audit[0]["detail"]["note"] == "asset tag 4B-CAM-2"


def test_label_with_a_category_the_product_does_not_know_is_a_422(
    client: TestClient, web: WebEnv
) -> None:
    pump = by_category("infusion_pump")[0]
    response = client.put(
        f"/api/devices/{pump.id}/label", json={"category": "toaster"}, headers=bearer(web)
    )
    assert response.status_code == 422
    assert "category" in response.text


def test_openapi_document_lists_the_contract_endpoints(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path in (
        "/api/devices",
        "/api/devices/{device_id}",
        "/api/summary",
        "/api/alerts",
        "/api/sensors",
        "/api/devices/{device_id}/label",
    ):
        assert path in paths, path
    assert "put" in paths["/api/devices/{device_id}/label"]


def test_device_list_pages_with_limit_and_offset(client: TestClient, web: WebEnv) -> None:
    everything = [d["id"] for d in client.get("/api/devices", headers=bearer(web)).json()]
    first = client.get("/api/devices?limit=4", headers=bearer(web)).json()
    rest = client.get("/api/devices?offset=4", headers=bearer(web)).json()
    assert [d["id"] for d in first + rest] == everything and len(first) == 4
    assert client.get("/api/devices?limit=0", headers=bearer(web)).status_code == 422
