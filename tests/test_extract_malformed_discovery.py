"""Malformed, lying and cut payloads for the extractors test_extract_malformed.py does not
cover (DHCP, DHCPv6, DNS/mDNS, SSDP, HTTP, POCT1, IntelliVue, LLDP, CDP): each one counts
what it refuses and sends nothing that did not lie complete inside its bounds."""

from __future__ import annotations

import struct

from tests.support import medical as m
from tests.support.devicerun import run_devices

CLIENT = m.Host("00:1a:5c:00:00:38", "10.4.2.38")
SERVER = m.Host("00:50:56:00:00:42", "10.9.0.42")
ANYONE = m.Host("ff:ff:ff:ff:ff:ff", "255.255.255.255")
SECRET = b"PLANTED-SECRET"


DHCPV6_SERVERS = m.Host("33:33:00:01:00:02", "ff02::1:2")


def _one_udp(tmp_path, sport: int, dport: int, payload: bytes, src: m.Host = CLIENT):
    cap = m.CaptureBuilder()
    dst = DHCPV6_SERVERS if ":" in src.ip else ANYONE if dport in (67, 1900) else SERVER
    cap.udp(src, dst, sport, dport, payload)
    return run_devices(cap.write(tmp_path / "one.pcap"))


def test_dhcp_option_running_past_the_packet_keeps_only_what_came_before(tmp_path):
    options = [(53, b"\x01"), (55, bytes([1, 3, 6]))]
    lying = m.dhcp(1, CLIENT.mac, options, end=False) + b"\x3c\xc8" + SECRET  # opt 60, 200 long
    run = _one_udp(tmp_path, 68, 67, lying, m.Host(CLIENT.mac, "0.0.0.0"))
    assert run.of(CLIENT.mac) == {"dhcp_parameter_list": [b"1,3,6"]}
    assert SECRET not in run.all_event_bytes
    assert run.counters["extract_partial"] == 1


def test_dhcp_without_the_magic_cookie_is_malformed_and_sends_nothing(tmp_path):
    good = m.dhcp_discover(CLIENT.mac, b"HOST", SECRET, bytes([1, 3]), b"\x01a")
    broken = good[:236] + b"\x00\x00\x00\x00" + good[240:]
    run = _one_udp(tmp_path, 68, 67, broken, m.Host(CLIENT.mac, "0.0.0.0"))
    assert run.fingerprints == {}
    assert run.counters["extract_malformed"] == 1
    assert run.services() == [None]


def test_dhcpv6_vendor_class_longer_than_its_option_sends_nothing(tmp_path):
    item = struct.pack(">IH", 311, 200) + SECRET  # the item claims 200 bytes in a short option
    option = struct.pack(">HH", 16, len(item)) + item
    solicit = b"\x01\x00\x00\x01" + option
    run = _one_udp(tmp_path, 546, 547, solicit, m.Host(CLIENT.mac, "fe80::1"))
    assert SECRET not in run.all_event_bytes
    assert run.services() == ["dhcpv6"]


def test_dhcpv6_unknown_message_type_is_malformed(tmp_path):
    run = _one_udp(tmp_path, 546, 547, b"\x00\x00\x00\x01" + SECRET, m.Host(CLIENT.mac, "fe80::1"))
    assert run.counters["extract_malformed"] == 1
    assert run.fingerprints == {}


def test_mdns_compression_loop_is_malformed_and_sends_nothing(tmp_path):
    header = struct.pack(">HHHHHH", 0, 0x8400, 0, 1, 0, 0)
    looping = header + b"\xc0\x0c" + struct.pack(">HHIH", 12, 1, 120, 0)  # points at itself
    run = _one_udp(tmp_path, 5353, 5353, looping)
    assert run.fingerprints == {}
    assert run.counters["extract_malformed"] == 1


def test_dns_header_shorter_than_twelve_bytes_is_malformed(tmp_path):
    run = _one_udp(tmp_path, 40000, 53, b"\x12\x34\x01\x00")
    assert run.counters["extract_malformed"] == 1
    assert run.services() == [None]


def test_ssdp_server_header_cut_by_the_snap_length_is_not_taken(tmp_path):
    notify = m.ssdp_notify(b"Linux/5.10 UPnP/1.0 " + SECRET)
    cut = notify[: notify.index(SECRET) + 4]  # the SERVER line does not end in the packet
    run = _one_udp(tmp_path, 1900, 1900, cut)
    assert "ssdp_server" not in run.of(CLIENT.mac)
    assert run.counters["extract_partial"] == 1


def test_http_user_agent_line_cut_short_is_not_taken(tmp_path):
    request = m.http_request(b"Infusion/2.1 " + SECRET)
    cap = m.CaptureBuilder()
    cap.tcp_session(CLIENT, SERVER, 41000, 80, [("c", request[: request.index(SECRET) + 3])])
    run = run_devices(cap.write(tmp_path / "http_cut.pcap"))
    assert SECRET[:3] not in run.all_event_bytes
    assert run.counters["extract_partial"] == 1
    assert run.services() == ["http"]


def test_poct1_hello_without_device_fields_is_partial_and_never_sends_the_serial(tmp_path):
    hello = b'<HEL.R01><DEV.serial_id V="' + SECRET + b'"/><DEV.device_id V="' + SECRET
    cap = m.CaptureBuilder()
    cap.tcp_session(CLIENT, SERVER, 41001, 6001, [("c", hello)])
    run = run_devices(cap.write(tmp_path / "poct1_cut.pcap"))
    assert run.fingerprints == {}
    assert run.counters["extract_partial"] == 1
    assert run.services() == ["poct1"]


def test_intellivue_short_and_unknown_session_pdus_are_malformed(tmp_path):
    cap = m.CaptureBuilder()
    cap.udp(CLIENT, SERVER, 24105, 24105, b"\xe1\x00")  # shorter than a session header
    cap.udp(CLIENT, SERVER, 24005, 24006, b"\x42\x00\x00\x00" + SECRET)  # no such SPDU
    run = run_devices(cap.write(tmp_path / "intellivue.pcap"))
    assert run.counters["extract_malformed"] == 2
    assert run.fingerprints == {}


def test_lldp_tlv_longer_than_the_frame_is_not_taken(tmp_path):
    chassis = struct.pack(">H", (1 << 9) | 7) + b"\x04" + bytes(6)
    name = struct.pack(">H", (5 << 9) | 300) + SECRET  # claims 300 bytes
    cap = m.CaptureBuilder()
    cap.add(m.ether(CLIENT.mac, "01:80:c2:00:00:0e", 0x88CC, chassis + name))
    run = run_devices(cap.write(tmp_path / "lldp.pcap"))
    assert run.fingerprints == {}
    assert run.counters["extract_partial"] == 1


def test_cdp_tlv_shorter_than_its_header_is_malformed_and_sends_nothing(tmp_path):
    body = b"\x02\xb4\x00\x00" + struct.pack(">HH", 1, 12) + b"switch-1" + struct.pack(">HH", 5, 2)
    llc = b"\xaa\xaa\x03\x00\x00\x0c\x20\x00" + body
    frame = m.mac_bytes("01:00:0c:cc:cc:cc") + m.mac_bytes(CLIENT.mac)
    frame += struct.pack(">H", len(llc)) + llc
    cap = m.CaptureBuilder()
    cap.add(frame)
    run = run_devices(cap.write(tmp_path / "cdp.pcap"))
    assert run.counters["extract_malformed"] == 1
    assert "cdp_software_version" not in run.of(CLIENT.mac)
