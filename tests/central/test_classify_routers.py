"""Routers recognised by behaviour, with evidence and confidence (rules file data): a
first-hop redundancy virtual MAC, internet addresses or addresses of several subnets on
one MAC. What such a MAC carries for the hosts behind it (an EHR's HL7, a PACS's
tcp/104) no longer decides its category. End to end: the demo's capture
(tools/wingcap, as `./build.sh demo` makes it) replayed by the real agent into ingest,
where its VRRP gateways used to come out as an EHR, a PACS and a server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from central.classify.classifier import DeviceFacts, classify
from central.classify.ruleset import RulesError, load_ruleset
from central.ingest.apply import IngestContext, store_message
from central.inventory.queries import list_devices
from central.inventory.store import address_behaviours
from tests.support.central_records import device, devices_message

# What a gateway's MAC carries: its own address, then the servers it routes to.
ROUTED = ["10.4.10.1", "10.20.0.20", "10.20.0.53", "10.20.0.114"]
CARRIED = {
    "fingerprints": {"hl7_sending_application": {"EHR"}, "dicom_ae_title": {"PACS_MAIN"}},
    "services": {"tcp/2575", "tcp/104", "tcp/11112", "udp/53"},
    "protocols": {"hl7", "dicom", "dns"},
}


def _facts(mac: str, addresses: list[str], **more: Any) -> DeviceFacts:
    return DeviceFacts(mac=mac, behaviours=address_behaviours(addresses), **more)


def test_a_plain_mac_carrying_routed_hosts_is_a_router_not_what_it_carries() -> None:
    label = classify(_facts("98:e7:43:10:00:01", ROUTED, **CARRIED), load_ruleset())
    assert label.category == "network_infrastructure" and label.confidence >= 0.8
    rules = {e["rule"] for e in label.evidence}
    assert rules == {"router-four-addresses", "router-two-subnets"}
    assert {e["kind"] for e in label.evidence} == {"behaviour"}
    assert "ipv4_addresses 4 (at least 4)" in {e["value"] for e in label.evidence}
    # The same host facts without the routing behaviour: the PACS it carried.
    host = classify(_facts("98:e7:43:10:00:01", ["10.20.0.10"], **CARRIED), load_ruleset())
    assert host.category == "pacs"


def test_virtual_router_macs_and_internet_addresses_are_evidence_of_a_router() -> None:
    ruleset = load_ruleset()
    for mac in ("00:00:5e:00:01:0a", "00:00:5e:00:02:01", "00:00:0c:07:ac:14", "00:00:0c:9f:f0:01"):
        label = classify(_facts(mac, ["10.4.10.1"], **CARRIED), ruleset)
        assert label.category == "network_infrastructure", mac
        assert label.evidence[0]["rule"] == "router-virtual-mac" and label.confidence >= 0.95
    internet = classify(_facts("98:e7:43:10:00:02", ["10.4.0.1", "93.184.216.34"]), ruleset)
    assert internet.category == "network_infrastructure"
    assert "router-public-addresses" in {e["rule"] for e in internet.evidence}


def test_a_laptop_that_moved_between_wings_stays_a_workstation() -> None:
    laptop = _facts(
        "3c:52:82:00:00:07",
        ["10.4.5.61", "10.5.5.17"],
        fingerprints={"dhcp_vendor_class": {"MSFT 5.0"}},
        oui_vendor="Hewlett Packard",
    )
    label = classify(laptop, load_ruleset())
    assert label.category == "workstation"
    assert address_behaviours(["10.4.5.61", "10.5.5.17"])["ipv4_subnets"] == 2


def test_behaviour_rules_are_checked_like_every_rule(tmp_path: Path) -> None:
    site = tmp_path / "site.toml"
    site.write_text(
        '[[rule]]\nid = "x"\nbehaviour = "ipv4_subnet"\nat_least = 2\n'
        'category = "network_infrastructure"\nconfidence = 0.5\n'
        '[[rule]]\nid = "y"\nservice = "udp/67"\nat_least = 2\n'
        'category = "network_infrastructure"\nconfidence = 0.5\n'
        "[routing]\nminimum = 0.5\n"
    )
    with pytest.raises(RulesError) as caught:
        load_ruleset([site])
    problems = "\n".join(caught.value.problems)
    assert "behaviour: 'ipv4_subnet' is not measured" in problems
    assert "did you mean ipv4_subnets?" in problems
    assert "rule #2 (y): at_least: only with behaviour" in problems
    assert "routing.minimum: unknown key" in problems


def test_ingest_relabels_a_mac_once_it_has_carried_routed_addresses(
    engine: Engine, clock: Any
) -> None:
    context = IngestContext(ruleset=load_ruleset(), clock=clock)
    mac = "98:e7:43:10:00:01"
    carried = {"hl7_sending_application": ["EHR"]}
    first = device(mac, ROUTED[:1], fingerprints=carried, services=["tcp/2575"])
    store_message(engine, devices_message("s1", "b1", 0, [first]), context)
    with engine.connect() as connection:
        assert list_devices(connection)[0]["category"] == "ehr_server"
    later = device(mac, ROUTED, fingerprints=carried, services=["tcp/2575"])
    store_message(engine, devices_message("s1", "b1", 1, [later]), context)
    with engine.connect() as connection:
        router = list_devices(connection)[0]
    assert router["category"] == "network_infrastructure"
    assert {e["rule"] for e in router["evidence"]} == {
        "router-four-addresses",
        "router-two-subnets",
    }


@pytest.mark.slow
def test_the_demo_gateways_are_network_infrastructure(central_env: Any, tmp_path: Path) -> None:
    from tools import wingcap

    capture = tmp_path / "ward4b.pcap"
    wingcap.generate(capture, 20_000, 4)  # what `./build.sh demo` replays (fewer frames)
    sensor = central_env.add_sensor("wing4b-demo", site="st-anne", wing="4b")
    ingest = central_env.start_ingest("a", idle_exit_s=10)
    central_env.replay(capture, sensor)
    central_env.finish(ingest)
    engine = central_env.engine()
    with engine.connect() as connection:
        devices = list_devices(connection)
    engine.dispose()
    gateways = [d for d in devices if (d["mac"] or "").startswith("00:00:5e:00:01:")]
    assert len(gateways) >= 3, [d["mac"] for d in devices]
    for gateway in gateways:
        rules = {e["rule"] for e in gateway["evidence"]}
        assert gateway["category"] == "network_infrastructure", (gateway["mac"], gateway)
        assert "router-virtual-mac" in rules and gateway["confidence"] >= 0.95
    # What they carried is still the hosts': an EHR, a PACS are devices of their own.
    categories = {d["category"] for d in devices}
    assert {"patient_monitor", "imaging"} <= categories
