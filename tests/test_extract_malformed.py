"""Malformed, lying, cut and segmented payloads: counted, never trusted, nothing leaks."""

from __future__ import annotations

import random
import struct

from tests.support import medical as m
from tests.support.devicerun import run_devices

MODALITY = m.Host("00:0b:7e:00:00:05", "10.4.3.5")
PACS = m.Host("00:50:56:00:00:99", "10.9.0.99")
MONITOR = m.Host("00:09:fb:00:00:07", "10.4.2.7")
EHR = m.Host("00:50:56:00:00:42", "10.9.0.42")


def _rq(**kw) -> bytes:
    return m.dicom_associate(1, "PACS_MAIN", "CT_4B_01", ["1.2.840.10008.5.1.4.1.1.2"], **kw)


def test_dicom_pdu_whose_items_run_past_its_length_is_malformed_and_sends_nothing(tmp_path):
    cap = m.CaptureBuilder()
    cap.tcp_session(MODALITY, PACS, 40001, 104, [("c", _rq(length_delta=-40))])
    run = run_devices(cap.write(tmp_path / "lying.pcap"))
    assert run.fingerprints == {}  # not even the AE title of a PDU that lies
    assert run.counters["extract_malformed"] == 1
    assert run.services() == [None]


def test_dicom_short_pdu_and_garbage_on_port_104(tmp_path):
    cap = m.CaptureBuilder()
    cap.tcp_session(MODALITY, PACS, 40002, 104, [("c", _rq()[:20])])  # short: cut in the header
    cap.tcp_session(MODALITY, PACS, 40003, 104, [("c", bytes(range(200, 256)) * 4)])
    cap.tcp_session(MODALITY, PACS, 40004, 104, [("c", b"\x01\x07garbage" * 9)])
    run = run_devices(cap.write(tmp_path / "short.pcap"))
    assert run.fingerprints == {}
    assert run.counters["extract_malformed"] >= 2
    assert run.counters["extract_partial"] >= 1
    assert run.services() == ["dicom", None, None]  # a short RQ still looks like DICOM


def test_dicom_p_data_is_never_read(tmp_path):
    cap = m.CaptureBuilder()
    ac = m.dicom_associate(2, "PACS_MAIN", "CT_4B_01", ["x"])
    pdata = m.dicom_pdata(b"\x10\x00\x10\x00\x0c\x00\x00\x00DOE^JOHN^Q   ")
    cap.tcp_session(MODALITY, PACS, 40005, 104, [("c", pdata), ("s", ac), ("c", pdata)])
    run = run_devices(cap.write(tmp_path / "pdata.pcap"))
    assert b"DOE" not in run.all_event_bytes
    assert run.services() == ["dicom"]  # labelled from the P-DATA PDU header alone


def test_dicom_request_segmented_gives_what_fits_in_the_first_segment(tmp_path):
    cap = m.CaptureBuilder()
    rq = _rq()
    cut = 6 + 68 + 25  # header, fixed part, the application context item: then cut
    cap.tcp_packet(MODALITY, PACS, 40006, 104, m.SYN)
    cap.tcp_packet(PACS, MODALITY, 104, 40006, m.SYN_ACK)
    cap.tcp_packet(MODALITY, PACS, 40006, 104, m.PSH_ACK, rq[:cut])
    cap.tcp_packet(MODALITY, PACS, 40006, 104, m.PSH_ACK, rq[cut:])
    run = run_devices(cap.write(tmp_path / "segmented.pcap"))
    assert run.of(MODALITY.mac) == {
        "dicom_ae_title": [b"CT_4B_01"],
        "dicom_called_ae_title": [b"PACS_MAIN"],
    }
    assert run.counters["extract_partial"] == 1
    assert run.services() == ["dicom"]


def test_dicom_in_a_first_ip_fragment_is_read_as_far_as_it_goes(tmp_path):
    cap = m.CaptureBuilder()
    cap.tcp_packet(MODALITY, PACS, 40007, 104, m.SYN)
    cap.tcp_packet(PACS, MODALITY, 104, 40007, m.SYN_ACK)
    segment = m.tcp(40007, 104, m.PSH_ACK, _rq())
    head = segment[:64]  # the first fragment: TCP header and 44 bytes of the PDU
    ip = struct.pack(
        ">BBHHHBBH4s4s",
        0x45,
        0,
        20 + len(head),
        77,
        0x2000,
        64,
        6,
        0,
        bytes([10, 4, 3, 5]),
        bytes([10, 9, 0, 99]),
    )
    cap.add(m.ether(MODALITY.mac, PACS.mac, 0x0800, ip + head))
    run = run_devices(cap.write(tmp_path / "fragment.pcap"))
    assert run.fingerprints == {}  # the AE titles lie in the later fragment
    assert run.counters["extract_partial"] == 1


def test_dicom_association_lookalike_met_mid_stream_sends_nothing(tmp_path):
    """Issue 10 item 10: no handshake seen, so no association is believed, even one that
    carries DICOM's application context item."""
    context = b"\x10\x00\x00\x15" + b"1.2.840.10008.3.1.1.1"
    cap = m.CaptureBuilder()
    for port, items in ((104, b""), (4242, b""), (11112, context), (4243, context)):
        lookalike = m.dicom_lookalike(b"DOE^JANE", b"MRN0099123", items)
        cap.tcp_packet(MODALITY, PACS, 40100 + port % 100, port, m.PSH_ACK, lookalike)
    run = run_devices(cap.write(tmp_path / "midstream.pcap"))
    assert run.fingerprints == {}
    assert b"DOE" not in run.all_event_bytes and b"MRN" not in run.all_event_bytes
    assert run.counters["extract_malformed"] == 2  # on the DICOM ports: refused loudly
    assert run.services() == [None, None, None, None]


def test_dicom_association_without_the_application_context_item_sends_nothing(tmp_path):
    cap = m.CaptureBuilder()
    cap.tcp_session(MODALITY, PACS, 40201, 104, [("c", m.dicom_lookalike(b"DOE^JANE", b"MRN1"))])
    cap.tcp_session(MODALITY, PACS, 40202, 4242, [("c", m.dicom_lookalike(b"DOE^JANE", b"MRN1"))])
    other = b"\x10\x00\x00\x15" + b"1.2.840.99999.3.1.1.1"  # another application context
    cap.tcp_session(MODALITY, PACS, 40203, 4243, [("c", m.dicom_lookalike(b"A", b"B", other))])
    run = run_devices(cap.write(tmp_path / "no_context.pcap"))
    assert run.fingerprints == {}
    assert run.counters["extract_malformed"] == 1
    assert run.services() == [None, None, None]


def test_dicom_association_with_handshake_and_context_is_still_read(tmp_path):
    context = b"\x10\x00\x00\x15" + b"1.2.840.10008.3.1.1.1"
    cap = m.CaptureBuilder()
    cap.tcp_session(
        MODALITY, PACS, 40301, 4242, [("c", m.dicom_lookalike(b"PACS", b"CT_1", context))]
    )
    run = run_devices(cap.write(tmp_path / "context.pcap"))
    assert run.of(MODALITY.mac)["dicom_ae_title"] == [b"CT_1"]
    assert run.services() == ["dicom"]


def test_hl7_without_msh_and_binary_on_2575_are_malformed(tmp_path):
    cap = m.CaptureBuilder()
    no_msh = m.mllp(b"PID|1||MRN0099123||DOE^JANE||19800101|F\r")
    cap.tcp_session(MONITOR, EHR, 50001, 2575, [("c", no_msh)])
    cap.tcp_session(MONITOR, EHR, 50002, 2575, [("c", bytes(range(256)))])
    binary_msh = m.mllp(b"MSH|^~\\&|MON\x01\x02|WARD|EHR|STMARY|2026||ORU^R01|1|P|2.5\r")
    cap.tcp_session(MONITOR, EHR, 50003, 2575, [("c", binary_msh)])
    run = run_devices(cap.write(tmp_path / "hl7_bad.pcap"))
    assert run.fingerprints == {}
    assert run.counters["extract_malformed"] == 3
    assert run.services() == [None, None, None]


def test_hl7_msh_cut_by_segmentation_gives_only_whole_fields(tmp_path):
    cap = m.CaptureBuilder()
    message = m.mllp(m.hl7_message(segments=["PID|1||MRN0099123||DOE^JANE||19800101|F"]))
    cut = message.index(b"|EHR|") + 3  # inside MSH-5 ("EH|...")
    cap.tcp_packet(MONITOR, EHR, 50004, 2575, m.SYN)
    cap.tcp_packet(EHR, MONITOR, 2575, 50004, m.SYN_ACK)
    cap.tcp_packet(MONITOR, EHR, 50004, 2575, m.PSH_ACK, message[:cut])
    cap.tcp_packet(MONITOR, EHR, 50004, 2575, m.PSH_ACK, message[cut:])
    run = run_devices(cap.write(tmp_path / "hl7_cut.pcap"))
    assert run.of(MONITOR.mac) == {
        "hl7_sending_application": [b"MONITOR7"],
        "hl7_sending_facility": [b"WARD4B"],
    }
    assert run.counters["extract_partial"] == 1
    assert b"MRN0099123" not in run.all_event_bytes


def test_tls_client_hello_cut_by_the_snap_length_gives_no_ja4(tmp_path):
    cap = m.CaptureBuilder()
    cap.tcp_packet(MONITOR, EHR, 50005, 443, m.SYN)
    cap.tcp_packet(EHR, MONITOR, 443, 50005, m.SYN_ACK)
    hello = m.tls_client_hello("ehr.stmary.example")
    cap.tcp_packet(MONITOR, EHR, 50005, 443, m.PSH_ACK, hello, caplen=14 + 20 + 20 + 90)
    run = run_devices(cap.write(tmp_path / "tls_cut.pcap"))
    assert "tls_ja4_raw" not in run.of(MONITOR.mac)
    assert run.counters["extract_partial"] == 1
    assert run.services() == ["ssl"]


def test_random_bytes_on_every_extractor_port_never_crash_or_leak(tmp_path):
    rng = random.Random(6)
    cap = m.CaptureBuilder()
    secret = b"PLANTED-SECRET-VALUE"
    tcp_ports, udp_ports = [104, 11112, 2575, 443, 80, 6001], [67, 547, 5353, 53, 1900, 24005]
    starts = [b"\x01\x00", b"\x02\x00", b"\x0bMSH|", b"\x16\x03\x01", b"GET ", b"<HEL.R01", b""]
    for i in range(300):
        body = rng.choice(starts) + secret + bytes(rng.randrange(256) for _ in range(60))
        body = body[: rng.randrange(1, len(body) + 1)]
        if i % 2:
            port = rng.choice(tcp_ports)
            cap.tcp_session(MONITOR, EHR, 30000 + i, port, [("c", body), ("s", body)])
        else:
            cap.udp(MONITOR, EHR, 30000 + i, rng.choice(udp_ports), body)
    run = run_devices(cap.write(tmp_path / "noise.pcap"))
    assert len(run.flows) == 300
    assert secret not in run.all_event_bytes
    assert run.counters["extract_malformed"] > 0
