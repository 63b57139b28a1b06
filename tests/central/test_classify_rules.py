"""Classification is data: the shipped rules decide with evidence and confidence, a
site's file adds or replaces rules, and the fleet view flags a silent sensor."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from central.classify.classifier import DeviceFacts, classify
from central.classify.ruleset import load_ruleset, shipped_rules_text
from central.ingest.apply import IngestContext, store_message
from central.inventory.queries import list_sensors
from tests.support.central_records import device, devices_message


def test_every_shipped_rule_is_documented_and_every_category_has_a_criticality() -> None:
    ruleset = load_ruleset()
    assert all(rule.description for rule in ruleset.rules)
    assert set(ruleset.criticality) == set(ruleset.categories)
    kinds_voting = {rule.fingerprint for rule in ruleset.rules if rule.fingerprint}
    assert {"dhcp_vendor_class", "dicom_modality", "hl7_sending_application", "poct1_model",
            "intellivue", "lldp_system_description", "cdp_platform", "mdns_service",
            "ssdp_server", "http_server"} <= kinds_voting  # fmt: skip
    assert "[[rule]]" in shipped_rules_text()


def test_votes_for_one_category_combine_and_the_label_lists_them() -> None:
    facts = DeviceFacts(
        oui_vendor="Carefusion",
        fingerprints={"dhcp_vendor_class": {"CareFusion Alaris 8015"}},
    )
    label = classify(facts, load_ruleset())
    assert label.category == "infusion_pump" and label.confidence == 0.98  # 1 - 0.05 * 0.4
    assert [(e["rule"], e["kind"]) for e in label.evidence] == [
        ("pump-dhcp-alaris", "dhcp_vendor_class"),
        ("pump-oui", "oui"),
    ]


def test_without_enough_evidence_a_device_is_unknown_and_keeps_its_votes() -> None:
    facts = DeviceFacts(oui_vendor="Raspberry Pi Trading Ltd", services={"tcp/22"})
    label = classify(facts, load_ruleset())
    assert label.category == "unknown" and label.criticality == "administrative"
    assert label.vendor == "Raspberry Pi Trading Ltd" and label.evidence == []


def test_a_site_file_adds_a_rule_and_replaces_a_shipped_one(tmp_path: Path) -> None:
    site = tmp_path / "site.toml"
    site.write_text(
        """
[[rule]]
id = "st-luke-dialysis"
description = "Our dialysis machines name themselves in DHCP"
fingerprint = "dhcp_vendor_class"
pattern = '^FMC 5008'
category = "lab_analyzer"
vendor = "Fresenius"
model = "5008S"
confidence = 0.9

[[rule]]
id = "workstation-dhcp-windows"
description = "Here Windows boxes on this VLAN are servers"
fingerprint = "dhcp_vendor_class"
pattern = '^MSFT 5\\.0'
category = "server"
confidence = 0.7
"""
    )
    ruleset = load_ruleset([site])
    dialysis = classify(DeviceFacts(fingerprints={"dhcp_vendor_class": {"FMC 5008S v4"}}), ruleset)
    assert (dialysis.category, dialysis.vendor, dialysis.model) == (
        "lab_analyzer",
        "Fresenius",
        "5008S",
    )
    assert dialysis.evidence[0]["rule"] == "st-luke-dialysis"
    windows = classify(DeviceFacts(fingerprints={"dhcp_vendor_class": {"MSFT 5.0"}}), ruleset)
    assert windows.category == "server"
    assert len(ruleset.rules) == len(load_ruleset().rules) + 1


def test_a_sensor_without_messages_for_longer_than_silent_after_is_silent(
    engine: Engine, clock: Any
) -> None:
    context = IngestContext(ruleset=load_ruleset(), clock=clock)
    store_message(engine, devices_message("s1", "b1", 0, [device("00:11:22:33:44:55")]), context)
    store_message(
        engine, devices_message("s2", "b2", 0, [device("00:11:22:33:44:66")], wing="5a"), context
    )
    clock.advance(minutes=10)
    store_message(
        engine, devices_message("s2", "b2", 1, [device("00:11:22:33:44:66")], wing="5a"), context
    )
    with engine.connect() as connection:
        fleet = {s["id"]: s for s in list_sensors(connection, clock(), silent_after_s=300)}
    assert (
        fleet["s1"]["silent"] is True
        and fleet["s1"]["silent_for_s"] == timedelta(minutes=10).total_seconds()
    )
    assert (
        fleet["s2"]["silent"] is False
        and fleet["s2"]["messages"] == 2
        and fleet["s2"]["wing"] == "5a"
    )


def test_reclassifying_after_a_rules_change_relabels_and_records_it(
    engine: Engine, clock: Any, tmp_path: Path
) -> None:
    from central.inventory.queries import get_device, list_devices
    from central.inventory.store import reclassify_all

    context = IngestContext(ruleset=load_ruleset(), clock=clock)
    windows = device(
        "98:e7:43:00:00:61", ["10.4.5.61"], fingerprints={"dhcp_vendor_class": ["MSFT 5.0"]}
    )
    store_message(engine, devices_message("s1", "b1", 0, [windows]), context)
    site = tmp_path / "site.toml"
    site.write_text(
        '[[rule]]\nid = "workstation-dhcp-windows"\ndescription = "servers here"\n'
        'fingerprint = "dhcp_vendor_class"\npattern = "^MSFT"\n'
        'category = "server"\nconfidence = 0.7\n'
    )
    clock.advance(days=1)
    with engine.begin() as connection:
        assert reclassify_all(connection, load_ruleset([site]), clock()) == 1
        assert reclassify_all(connection, load_ruleset([site]), clock()) == 0
        one = get_device(connection, list_devices(connection)[0]["id"])
    assert one is not None and one["category"] == "server"
    change = one["history"][-1]
    assert change["change"] == "classification_changed"
    assert (change["detail"]["from"]["category"], change["detail"]["to"]["category"]) == (
        "workstation",
        "server",
    )


def test_what_newer_sensors_send_decides_too_hl7_prt_sip_and_rtsp() -> None:
    ruleset = load_ruleset()
    cases = {
        "hl7_device_model": ("Alaris 8100", "infusion_pump", "Alaris 8100"),
        "sip_user_agent": ("Ascom i63 7.2", "nurse_call", "Ascom i63"),
        "rtsp_server": ("AXIS P3245-LV", "ip_camera", "AXIS P3245-LV"),
    }
    for kind, (value, category, model) in cases.items():
        label = classify(DeviceFacts(fingerprints={kind: {value}}), ruleset)
        assert (label.category, label.model) == (category, model), kind
        assert label.evidence[0]["kind"] == kind
