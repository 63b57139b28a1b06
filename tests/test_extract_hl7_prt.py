"""HL7 PRT device fields (issue 12): a device's model text (PRT-10), its UDI's GTIN
(PRT-16, the (01) part only) and its type (PRT-22) leave; the clinician (PRT-5), the
lot and serial (PRT-19/20) and the rest of the UDI never do."""

from __future__ import annotations

from tests.support import medical as m
from tests.support.devicerun import run_devices

GATEWAY = m.Host("00:09:fb:00:00:07", "10.4.2.7")
EHR = m.Host("00:50:56:00:00:42", "10.9.0.42")
UDI = "(01)00884521164321(17)270131(10)LOT20261129(21)SN9988776655"
DEVICE_PRT = m.prt_segment(
    {
        1: "1",
        2: "UC",
        4: "EQUIP^Equipment^HL70912",
        5: "1234^DOE^JOHN^^^DR",  # the clinician
        10: "IntelliVue MX800^PHILIPS",
        16: UDI,
        19: "LOT20261129",
        20: "SN9988776655",
        22: "69837^MDC_DEV_METER_PHYSIO_MULTI_PARAM_MDS^MDC^^^^2^^Patient monitor",
    }
)
PERSON_PRT = m.prt_segment(
    {1: "2", 4: "OP^Ordering provider^HL70912", 5: "77^ROE^RICHARD", 10: "Pager 12"}
)
NEVER = [b"DOE", b"JOHN", b"1234", b"LOT2026", b"SN99887", b"270131", b"ROE", b"Pager", b"MRN55"]


def _message(*segments: str, version: str = "2.8") -> bytes:
    return m.mllp(
        m.hl7_message(
            sending_app="PCD_GATEWAY",
            message_type="ORU^R01^ORU_R01",
            segments=list(segments),
            version=version,
        )
    )


def test_prt_of_a_device_gives_model_gtin_and_type_and_nothing_of_people_or_serials(tmp_path):
    message = _message("PID|1||MRN55^^^STMARY||ROE^JANE", PERSON_PRT, DEVICE_PRT, "OBX|1|NM|x")
    cap = m.CaptureBuilder()
    cap.tcp_session(GATEWAY, EHR, 50001, 2575, [("c", message)])
    run = run_devices(cap.write(tmp_path / "prt.pcap"))
    seen = run.of(GATEWAY.mac)
    assert seen["hl7_device_model"] == [b"IntelliVue MX800"]
    assert seen["hl7_device_udi_di"] == [b"00884521164321"]
    assert seen["hl7_device_type"] == [b"69837^MDC_DEV_METER_PHYSIO_MULTI_PARAM_MDS^MDC"]
    assert seen["hl7_sending_application"] == [b"PCD_GATEWAY"]
    for value in NEVER:
        assert value not in run.all_event_bytes, value


def test_prt_of_a_person_and_a_udi_without_gtin_give_nothing(tmp_path):
    hibcc = m.prt_segment({4: "EQUIP", 16: "+H123PUMP1/$$3231231BC3"})
    message = _message(PERSON_PRT, hibcc)
    cap = m.CaptureBuilder()
    cap.tcp_session(GATEWAY, EHR, 50002, 2575, [("c", message)])
    run = run_devices(cap.write(tmp_path / "prt_person.pcap"))
    seen = run.of(GATEWAY.mac)
    assert not {"hl7_device_model", "hl7_device_udi_di", "hl7_device_type"} & set(seen)
    assert b"Pager" not in run.all_event_bytes and b"PUMP1" not in run.all_event_bytes


def test_a_prt_cut_by_the_packet_is_not_read(tmp_path):
    message = _message(DEVICE_PRT)
    cut = message.index(b"IntelliVue") + 5
    cap = m.CaptureBuilder()
    cap.tcp_packet(GATEWAY, EHR, 50003, 2575, m.SYN)
    cap.tcp_packet(EHR, GATEWAY, 2575, 50003, m.SYN_ACK)
    cap.tcp_packet(GATEWAY, EHR, 50003, 2575, m.PSH_ACK, message[:cut])
    run = run_devices(cap.write(tmp_path / "prt_cut.pcap"))
    seen = run.of(GATEWAY.mac)
    assert "hl7_sending_application" in seen
    assert "hl7_device_model" not in seen and b"Intelli" not in run.all_event_bytes


def test_messages_before_v2_7_are_not_searched_for_prt(tmp_path):
    cap = m.CaptureBuilder()
    cap.tcp_session(GATEWAY, EHR, 50004, 2575, [("c", _message(DEVICE_PRT, version="2.5.1"))])
    run = run_devices(cap.write(tmp_path / "prt_v25.pcap"))
    assert "hl7_device_model" not in run.of(GATEWAY.mac)
    assert run.of(GATEWAY.mac)["hl7_version"] == [b"2.5.1"]
