"""The IntelliVue monitor's model (issue 12): read from the MDS Create event report it
sends after its association; bed label and serial number never leave."""

from __future__ import annotations

from tests.support import medical as m
from tests.support.devicerun import run_devices

MONITOR = m.Host("00:09:fb:00:00:07", "10.4.2.7")
GATEWAY = m.Host("00:50:56:00:00:42", "10.9.0.42")


def _session(cap: m.CaptureBuilder, create: bytes) -> None:
    cap.udp(GATEWAY, MONITOR, 24105, 24105, b"\x0d\x00\x00\x10" + bytes(16))  # association
    cap.udp(MONITOR, GATEWAY, 24105, 24105, b"\x0e\x00\x00\x10" + bytes(16))  # its answer
    cap.udp(MONITOR, GATEWAY, 24105, 24105, create)


def test_model_from_the_mds_create_report_never_bed_label_or_serial(tmp_path):
    cap = m.CaptureBuilder()
    create = m.intellivue_mds_create(b"M8007A", bed_label=b"DOE^JANE BED4", serial=b"DE1234")
    _session(cap, create)
    run = run_devices(cap.write(tmp_path / "intellivue.pcap"))
    assert run.of(MONITOR.mac)["intellivue_model"] == [b"M8007A"]
    for never in (b"DOE", b"BED4", b"DE1234", b"Philips"):
        assert never not in run.all_event_bytes
    assert run.services() == ["intellivue"]


def test_an_attribute_running_past_the_report_gives_nothing(tmp_path):
    create = bytearray(m.intellivue_mds_create())
    create[40:42] = (4000).to_bytes(2, "big")  # the bed label claims 4000 bytes
    cap = m.CaptureBuilder()
    _session(cap, bytes(create))
    run = run_devices(cap.write(tmp_path / "intellivue_lying.pcap"))
    assert "intellivue_model" not in run.of(MONITOR.mac)


def test_the_model_is_sent_once_however_often_the_report_comes(tmp_path):
    cap = m.CaptureBuilder()
    _session(cap, m.intellivue_mds_create(b"M8007A"))
    for _ in range(5):
        cap.udp(MONITOR, GATEWAY, 24105, 24105, m.intellivue_mds_create(b"M8007A"))
    run = run_devices(cap.write(tmp_path / "intellivue_repeat.pcap"))
    assert run.of(MONITOR.mac)["intellivue_model"] == [b"M8007A"]
