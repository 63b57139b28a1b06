"""Hosts behind a router get records of their own (issue 12): a routed PACS's AE title and
an HL7 engine's name arrive with the router's MAC, and ship keyed (router MAC, address)
instead of folded into the router's record."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.devices import DeviceInventory, OuiRegistry
from agent.engine import Engine, EngineSettings
from agent.wire import BatchInfo, SensorIdentity, encode_devices
from tests.support import medical as m

ROUTER_MAC = "00:00:5e:00:01:01"
MODALITY = m.Host("00:0b:7e:00:00:05", "10.4.3.5")
MONITOR = m.Host("00:09:fb:00:00:07", "10.4.2.7")
PACS = m.Host(ROUTER_MAC, "10.9.0.99")  # behind the router: the router's MAC
HL7_ENGINE = m.Host(ROUTER_MAC, "10.9.0.42")
CDDL = Path(__file__).resolve().parent.parent / "docs" / "summary.cddl"


def _wing(path: Path) -> Path:
    cap = m.CaptureBuilder()
    cap.add(m.lldp_frame(ROUTER_MAC, b"core-gw-1", b"Routing switch"))
    for i in range(1, 6):  # the router forwards for many remote addresses
        cap.udp(m.Host(ROUTER_MAC, f"10.9.1.{i}"), MONITOR, 5000 + i, 9999, b"x")
    rq = m.dicom_associate(1, "PACS_MAIN", "CT_4B_01", ["1.2.840.10008.5.1.4.1.1.2"])
    ac = m.dicom_associate(2, "PACS_MAIN", "CT_4B_01", ["x"])
    cap.tcp_session(MODALITY, PACS, 40001, 104, [("c", rq), ("s", ac)])
    msh = m.mllp(m.hl7_message(sending_app="EPIC_ENGINE", sending_facility="STMARY"))
    cap.tcp_session(HL7_ENGINE, MONITOR, 50001, 2575, [("c", msh)])
    # Two hosts behind the router with the same SNI: each is sent for its own address.
    for port, host in ((50002, PACS), (50003, HL7_ENGINE)):
        cap.tcp_session(host, MONITOR, port, 443, [("c", m.tls_client_hello("api.example"))])
    return cap.write(path)


def _shipped(path: Path) -> list[dict]:
    inventory = DeviceInventory(64, oui=OuiRegistry(Path("/nonexistent")))
    with Engine(EngineSettings(max_devices=64)) as engine:
        engine.collect_device_events()
        engine.open_file(path)
        while not engine.exhausted:
            engine.poll()
        engine.flush()
        inventory.absorb(engine.take_device_events(), engine.devices(changed_only=True))
        return inventory.snapshot(engine.devices())


def _record(maps: list[dict], mac: str, ip: str | None = None) -> dict:
    [found] = [d for d in maps if d["mac"] == mac and d.get("ip") == ip]
    return found


def test_routed_servers_get_their_own_records_and_the_router_keeps_its_own(tmp_path):
    maps = _shipped(_wing(tmp_path / "routed.pcap"))
    router = _record(maps, ROUTER_MAC)
    assert router["fingerprints"] == {
        "lldp_system_description": ["Routing switch"],
        "lldp_system_name": [router["fingerprints"]["lldp_system_name"][0]],  # hashed
    }
    pacs = _record(maps, ROUTER_MAC, PACS.ip)["fingerprints"]
    assert pacs["dicom_ae_title"] == ["PACS_MAIN"]
    assert "hl7_sending_application" not in pacs
    engine = _record(maps, ROUTER_MAC, HL7_ENGINE.ip)["fingerprints"]
    assert engine["hl7_sending_application"] == ["EPIC_ENGINE"]
    assert "dicom_ae_title" not in engine
    # The same SNI from two hosts behind one router: each host has it.
    assert pacs["tls_sni"] == engine["tls_sni"] == ["api.example"]
    # A device on the segment keeps its fingerprints on its own record.
    assert _record(maps, MODALITY.mac)["fingerprints"]["dicom_ae_title"] == ["CT_4B_01"]


def test_routed_host_records_meet_the_cddl(tmp_path):
    pycddl = pytest.importorskip("pycddl", reason="pycddl (test extra) is not installed")
    maps = _shipped(_wing(tmp_path / "routed.pcap"))
    assert any("ip" in d for d in maps)
    identity = SensorIdentity("wing4b-01", "st-mary", "4b", bytes(16))
    pycddl.Schema(CDDL.read_text()).validate_cbor(
        encode_devices(maps, identity, BatchInfo(3, 1_000, 2_000))
    )


def test_a_device_with_few_addresses_ships_everything_on_its_own_record(tmp_path):
    cap = m.CaptureBuilder()
    server = m.Host("00:50:56:00:00:99", "10.9.0.99")
    rq = m.dicom_associate(1, "PACS_MAIN", "CT_4B_01", ["1.2.840.10008.5.1.4.1.1.2"])
    ac = m.dicom_associate(2, "PACS_MAIN", "CT_4B_01", ["x"])
    cap.tcp_session(MODALITY, server, 40001, 104, [("c", rq), ("s", ac)])
    maps = _shipped(cap.write(tmp_path / "flat.pcap"))
    assert not any("ip" in d for d in maps)
    assert _record(maps, server.mac)["fingerprints"]["dicom_ae_title"] == ["PACS_MAIN"]
