"""End to end: the real iomt-agent replay of a wing into a real mosquitto, the real
iomt-central ingest into SQLite and PostgreSQL; every device of the wing is in the
inventory as what it is."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from central.db.tables import communications, flows, ingested_messages, sensors
from central.inventory.queries import DeviceFilter, get_device, list_devices
from tests.support.hospital import WING_DEVICES, write_wing_capture


def _by_identity(devices: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out = {}
    for device in devices:
        key = device["mac"] if device["mac"] else device["ipv4"][0]
        out[key] = device
    return out


def test_every_device_of_the_wing_is_in_the_inventory_as_what_it_is(
    central_env: Any, tmp_path: Path
) -> None:
    capture = write_wing_capture(tmp_path / "wing.pcap")
    sensor = central_env.add_sensor("luke-4b-01")
    ingest = central_env.start_ingest("a")
    central_env.replay(capture, sensor)
    summary = central_env.finish(ingest)
    assert "0 rejected" in summary and "0 database retries" in summary, summary
    engine = central_env.engine()
    with engine.connect() as connection:
        devices = _by_identity(list_devices(connection))
        wrong = []
        for expected in WING_DEVICES:
            key = expected.host.ip if expected.behind_router else expected.host.mac
            device = devices.get(key)
            if device is None:
                wrong.append(f"{expected.role} {key}: missing")
                continue
            got = (
                device["category"],
                device["vendor"],
                device["model"],
                device["modality"],
                device["handles_phi"],
            )
            want = (
                expected.category,
                expected.vendor,
                expected.model,
                expected.modality,
                expected.handles_phi,
            )
            if got != want:
                wrong.append(
                    f"{expected.role} {key}: got {got}, want {want}; evidence {device['evidence']}"
                )
        assert wrong == [], "\n".join(wrong)
        # The internet peer is a peer, not a device.
        assert "93.184.216.34" not in devices
        ct = devices["44:4b:5d:00:00:31"]
        assert ct["wings"] == ["4b"] and ct["sensors"] == ["luke-4b-01"]
        assert ct["ipv4"] == ["10.4.3.31"]
        assert ct["criticality"] == "diagnostic" and "DICOM" in ct["phi_reason"]
        assert {e["kind"] for e in ct["evidence"]} >= {"dicom_modality"}
        pump = devices["f8:c6:78:00:00:11"]
        assert pump["criticality"] == "life-sustaining"
        assert {"kind": "dhcp_vendor_class", "value": "CareFusion Alaris 8015"}.items() <= pump[
            "evidence"
        ][0].items()
        detail = get_device(connection, pump["id"])
        assert detail is not None
        assert [h["change"] for h in detail["history"]] == ["new_device"]
        assert any(peer["peer"] == "10.20.0.5" and peer["port"] == 443 for peer in detail["peers"])
        dns = get_device(connection, devices["10.20.0.8"]["id"])
        assert dns is not None and dns["category"] == "unknown" and dns["mac"] is None
        phi = list_devices(connection, DeviceFilter(handles_phi=True))
        assert {d["category"] for d in phi} >= {
            "imaging",
            "pacs",
            "hl7_interface",
            "patient_monitor",
        }
        fleet = connection.execute(select(sensors)).mappings().one()
        assert fleet["sensor_id"] == "luke-4b-01" and fleet["flows"] > 0
        raw = connection.execute(select(func.count()).select_from(flows)).scalar_one()
        assert raw == fleet["flows"]
        assert connection.execute(select(func.count()).select_from(communications)).scalar_one() > 0
        data_messages = connection.execute(select(func.count()).select_from(ingested_messages))
        assert 0 < data_messages.scalar_one() < fleet["messages"]  # status is outside seq
        assert fleet["status"] in ("online", "offline") and fleet["agent_version"]
    engine.dispose()


def test_a_sensor_restart_replaying_the_wing_makes_nothing_new(
    central_env: Any, tmp_path: Path
) -> None:
    from central.db.tables import device_history

    capture = write_wing_capture(tmp_path / "wing.pcap")
    sensor = central_env.add_sensor("luke-4b-01")
    for run in ("first", "after-restart"):  # each replay is a new boot of the sensor
        ingest = central_env.start_ingest(run)
        central_env.replay(capture, sensor)
        central_env.finish(ingest)
    engine = central_env.engine()
    with engine.connect() as connection:
        devices = list_devices(connection)
        changes = connection.execute(select(device_history.c.change)).scalars().all()
        boots = connection.execute(select(ingested_messages.c.boot).distinct()).scalars().all()
    engine.dispose()
    assert len(boots) == 2
    assert len(devices) == len(WING_DEVICES)
    assert sorted(set(changes)) == ["new_device"] and len(changes) == len(WING_DEVICES)
