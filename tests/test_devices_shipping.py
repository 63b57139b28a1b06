"""Device observations through the whole pipeline: replay into a real mosquitto, decoded
by an independent `iomt-agent consume` as "type": "device" records."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from tests.support import broker as broker_support
from tests.support.agent_setup import Consumer, make_sensor, run_agent
from tools.wingcap import generate

mosquitto = broker_support.mosquitto

pytestmark = pytest.mark.skipif(
    not Path("/usr/sbin/mosquitto").exists(), reason="mosquitto is not installed"
)


@pytest.fixture(scope="module")
def wing_capture(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("capture") / "wing.pcap"
    generate(path, packets=20_000, seed=5, duration_s=700)
    return path


def _replay(
    tmp_path: Path, broker_url: str, capture: Path, extra_toml: str = "", *speed: str
) -> list[dict]:
    sensor = make_sensor(tmp_path, broker_url, extra_toml=extra_toml)
    consumer = Consumer(broker_url, sensor.trust)
    result = run_agent("replay", str(capture), "-c", str(sensor.config), *speed)
    assert result.returncode == 0, result.stderr
    return consumer.records()


def test_devices_arrive_signed_decoded_and_in_the_sequence(tmp_path, mosquitto, wing_capture):
    records = _replay(tmp_path, mosquitto.url, wing_capture)
    kinds = Counter(r["type"] for r in records)
    assert kinds["rejected"] == 0 and kinds["gap"] == 0, kinds
    devices = [r for r in records if r["type"] == "device"]
    assert devices, kinds
    assert all(r["topic"].endswith("/devices") for r in devices)
    # Changes: every device is "new" exactly once, later records are updates. "Later" in
    # the sensor's sequence: messages can arrive out of order (a spooled seq 0 overtaken
    # by a live seq 4), so the check walks them in seq order (stable: a message's own
    # records keep theirs).
    # A record is a MAC, or (router MAC, address) for a host behind a router.
    new = Counter((r["mac"], r.get("ip")) for r in devices if r["change"] == "new")
    assert new and max(new.values()) == 1
    seen_new: set[tuple[str, str | None]] = set()
    for r in sorted(devices, key=lambda r: r["seq"]):
        if r["change"] == "update":
            assert (r["mac"], r.get("ip")) in seen_new
        seen_new.add((r["mac"], r.get("ip")))
    # What the wing's devices say of themselves reaches the central side.
    kinds_found = {k for r in devices for k in r.get("fingerprints", {})}
    assert {"dicom_ae_title", "hl7_message_type", "dhcp_parameter_list", "tls_ja4"} <= kinds_found
    modalities = {v for r in devices for v in r.get("fingerprints", {}).get("dicom_modality", [])}
    assert modalities & {"CT", "MR", "US", "CR", "DX"}
    assert any("tcp/104" in r.get("services", []) for r in devices)
    # The data sequence runs over flows, devices and health without holes.
    seqs = sorted({r["seq"] for r in records if r["type"] in ("flow", "device", "health")})
    assert seqs == list(range(len(seqs)))
    # Flows carry the labels the extractors gave them.
    services = Counter(r.get("service") for r in records if r["type"] == "flow")
    assert services["dicom"] and services["hl7"] and services["ssl"] and services["dhcp"]
    health = [r for r in records if r["type"] == "health"]
    macs = {mac for mac, ip in new if ip is None}
    assert health[-1]["figures"]["devices_active"] == len(macs)  # every device was announced
    routed = {ip for mac, ip in new if ip is not None}
    assert routed, "the wing's servers behind its router get records of their own"


def test_a_periodic_snapshot_lists_every_device(tmp_path, mosquitto, wing_capture):
    # Paced (200x: 3.5 s), so the pipeline sees packet time pass as a live agent would.
    toml = "[devices]\nsnapshot_interval_s = 60\n"
    records = _replay(tmp_path, mosquitto.url, wing_capture, toml, "--speed", "200")
    devices = [r for r in records if r["type"] == "device"]
    snapshots = Counter(r["seq"] for r in devices if r["change"] == "snapshot")
    assert len(snapshots) >= 3  # 700 s of packets, one snapshot a minute
    last_snapshot_seq = max(snapshots)
    last = {r["mac"] for r in devices if r["seq"] == last_snapshot_seq}
    earlier_new = {
        r["mac"] for r in devices if r["change"] == "new" and r["seq"] < last_snapshot_seq
    }
    assert earlier_new and earlier_new <= last  # every device announced before is in it


def test_max_devices_zero_ships_no_devices(tmp_path, mosquitto, wing_capture):
    records = _replay(tmp_path, mosquitto.url, wing_capture, "[devices]\nmax_devices = 0\n")
    assert not [r for r in records if r["type"] == "device"]
    assert [r for r in records if r["type"] == "flow"]
