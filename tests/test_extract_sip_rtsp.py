"""SIP (nurse call, phones) and RTSP (cameras) are labelled and their user agents read
(issue 12); names, extensions and stream paths are never read."""

from __future__ import annotations

from tests.support import medical as m
from tests.support.devicerun import run_devices

PHONE = m.Host("00:01:3e:00:00:60", "10.4.2.60")
PBX = m.Host("00:50:56:00:00:70", "10.9.0.70")
VMS = m.Host("00:50:56:00:00:80", "10.9.0.80")
CAMERA = m.Host("00:40:8c:00:00:20", "10.4.9.20")


def test_sip_over_udp_and_tcp_gives_user_agent_and_server_never_names(tmp_path):
    cap = m.CaptureBuilder()
    cap.udp(PHONE, PBX, 5060, 5060, m.sip_register(b"Ascom i63 4.1.6", "4711"))
    cap.udp(PBX, PHONE, 5060, 5060, m.sip_response(b"Asterisk PBX 18.2"))
    station = m.Host("00:0e:c6:00:00:61", "10.4.2.61")
    register = m.sip_register(b"Rauland Responder 5", "2201", caller="Dr Who")
    cap.tcp_session(station, PBX, 41000, 5060, [("c", register)])
    run = run_devices(cap.write(tmp_path / "sip.pcap"))
    assert run.of(PHONE.mac)["sip_user_agent"] == [b"Ascom i63 4.1.6"]
    assert run.of(PBX.mac)["sip_server"] == [b"Asterisk PBX 18.2"]
    assert run.of(station.mac)["sip_user_agent"] == [b"Rauland Responder 5"]
    assert run.services() == ["sip", "sip"]
    for never in (b"Jones", b"4711", b"2201", b"Dr Who", b"8842"):
        assert never not in run.all_event_bytes


def test_rtsp_is_labelled_rtsp_not_http_and_never_reads_the_stream_path(tmp_path):
    cap = m.CaptureBuilder()
    exchange = [
        ("c", m.rtsp_options(b"LibVLC/3.0.18 (LIVE555 Streaming Media v2016.11.28)", "icu-bed-4")),
        ("s", m.rtsp_response(b"AXIS P3245-LVE Media Server")),
    ]
    cap.tcp_session(VMS, CAMERA, 42000, 554, exchange)
    cap.tcp_session(VMS, CAMERA, 42001, 8554, exchange)  # by content, not by port
    run = run_devices(cap.write(tmp_path / "rtsp.pcap"))
    assert run.services() == ["rtsp", "rtsp"]
    assert run.of(VMS.mac)["rtsp_user_agent"] == [
        b"LibVLC/3.0.18 (LIVE555 Streaming Media v2016.11.28)"
    ]
    assert run.of(CAMERA.mac)["rtsp_server"] == [b"AXIS P3245-LVE Media Server"]
    assert b"icu-bed" not in run.all_event_bytes
    assert "http_user_agent" not in run.of(VMS.mac)


def test_http_and_text_that_only_resembles_sip_keep_their_labels(tmp_path):
    cap = m.CaptureBuilder()
    cap.tcp_session(VMS, PBX, 43000, 80, [("c", m.http_request(b"Browser/1.0"))])
    cap.tcp_session(VMS, PBX, 43001, 5060, [("c", b"HELLO there SIP/2.0 friend\r\n")])
    cap.udp(PHONE, PBX, 5060, 5060, b"\x00\x01binary junk")
    run = run_devices(cap.write(tmp_path / "not_sip.pcap"))
    assert run.services() == ["http", None, None]
    assert "sip_user_agent" not in run.of(VMS.mac)


def test_sip_first_line_cut_short_is_partial_and_sends_nothing(tmp_path):
    cap = m.CaptureBuilder()
    register = m.sip_register(b"Ascom i63 4.1.6", "4711")
    cap.udp(PHONE, PBX, 5060, 5060, register[:20])
    run = run_devices(cap.write(tmp_path / "sip_cut.pcap"))
    assert run.fingerprints == {}
    assert run.counters["extract_partial"] == 1
