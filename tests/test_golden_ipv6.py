"""Golden captures: IPv6 extension headers are walked to the transport header.

Bytes always come from header lengths: `ip_bytes` = 40 + payload length, and the
payload is what is left after the IPv6 header, every extension header and the
transport header.
"""

from __future__ import annotations

import struct
from typing import Any

from scapy.layers.inet import UDP
from scapy.layers.inet6 import (
    IPv6,
    IPv6ExtHdrDestOpt,
    IPv6ExtHdrFragment,
    IPv6ExtHdrHopByHop,
    IPv6ExtHdrRouting,
)
from scapy.packet import Raw

from tests.support.pcapgen import at, ether, tcp, write_pcap
from tests.support.summarizers import (
    BOTH_SUMMARIZERS,
    assert_counters,
    assert_record,
    only_record,
    records_by_serial,
)

pytestmark = BOTH_SUMMARIZERS

A, B = "2001:db8:4b::10", "2001:db8:4b::20"


def test_tcp_over_ipv6_handshake_and_data(tmp_path, summarize):
    frames = [
        at(0.0, ether(tcp(A, B, 50000, 443, "S"))),
        at(0.1, ether(tcp(B, A, 443, 50000, "SA"))),
        at(0.2, ether(tcp(A, B, 50000, 443, "PA", b"h" * 30))),
    ]
    record = only_record(summarize(write_pcap(tmp_path / "v6.pcap", frames)))
    assert_record(
        record,
        orig_addr=A,
        resp_addr=B,
        orig_port=50000,
        resp_port=443,
        orig_ip_bytes=60 + 90,
        orig_bytes=30,
        resp_ip_bytes=60,
        history="ShD",
        conn_state="S1",
    )


def test_hop_by_hop_routing_and_destination_options_are_walked(tmp_path, summarize):
    chain = IPv6ExtHdrHopByHop() / IPv6ExtHdrRouting() / IPv6ExtHdrDestOpt()  # 8 bytes each
    frames = [
        at(0.0, ether(IPv6(src=A, dst=B) / chain / UDP(sport=5353, dport=53) / Raw(b"d" * 10))),
        at(0.1, ether(IPv6(src=B, dst=A) / UDP(sport=53, dport=5353) / Raw(b"e" * 7))),
    ]
    record = only_record(summarize(write_pcap(tmp_path / "ext.pcap", frames)))
    assert_record(
        record,
        proto=17,
        orig_port=5353,
        resp_port=53,
        orig_ip_bytes=40 + 24 + 8 + 10,
        orig_bytes=10,
        resp_ip_bytes=40 + 8 + 7,
        resp_bytes=7,
        conn_state="SF",
    )


def test_atomic_fragment_header_is_walked_like_any_other(tmp_path, summarize):
    packet = IPv6(src=A, dst=B) / IPv6ExtHdrFragment(offset=0, m=0, id=9) / UDP(sport=1, dport=2)
    frames = [at(0.0, ether(packet / Raw(b"f" * 5)))]
    summary = summarize(write_pcap(tmp_path / "atomic.pcap", frames))
    assert_record(only_record(summary), proto=17, orig_port=1, resp_port=2, orig_bytes=5)
    assert_counters(summary, packets_in_flows=1, fragments_unmatched=0)


def test_authentication_header_is_walked_by_its_own_length_rule(tmp_path, summarize):
    # AH: next header UDP, length 4 -> (4 + 2) * 4 = 24 bytes (12 of them ICV).
    ah = struct.pack(">BBHII", 17, 4, 0, 0x1000, 1) + bytes(12)
    udp_bytes = struct.pack(">HHHH", 7000, 7001, 8 + 6, 0) + b"a" * 6
    packet = IPv6(src=A, dst=B, nh=51) / Raw(ah + udp_bytes)
    record = only_record(summarize(write_pcap(tmp_path / "ah.pcap", [at(0.0, ether(packet))])))
    assert_record(
        record, proto=17, orig_port=7000, resp_port=7001, orig_ip_bytes=40 + 24 + 14, orig_bytes=6
    )


def test_esp_and_no_next_header_end_the_walk_as_the_protocol(tmp_path, summarize):
    frames = [
        at(0.0, ether(IPv6(src=A, dst=B, nh=50) / Raw(b"\x00\x00\x10\x00" + b"s" * 28))),
        at(0.1, ether(IPv6(src=A, dst=B) / IPv6ExtHdrDestOpt(nh=59) / Raw(b"n" * 8))),
    ]
    esp, none = records_by_serial(summarize(write_pcap(tmp_path / "esp.pcap", frames)))
    assert_record(esp, proto=50, orig_port=0, resp_port=0, orig_ip_bytes=72, orig_bytes=32)
    assert_record(none, proto=59, orig_ip_bytes=56, orig_bytes=8)


def test_ipv6_fragments_match_their_first_fragment(tmp_path, summarize):
    first_part = struct.pack(">HHHH", 5000, 6000, 108, 0) + b"z" * 24  # UDP header + 24
    frag: dict[str, Any] = dict(nh=17, id=0xABCDEF01)
    frames = [
        at(
            0.0,
            ether(IPv6(src=A, dst=B) / IPv6ExtHdrFragment(offset=0, m=1, **frag) / Raw(first_part)),
        ),
        at(
            0.0,
            ether(IPv6(src=A, dst=B) / IPv6ExtHdrFragment(offset=4, m=1, **frag) / Raw(b"z" * 32)),
        ),
        at(
            0.0,
            ether(IPv6(src=A, dst=B) / IPv6ExtHdrFragment(offset=8, m=1, **frag) / Raw(b"z" * 32)),
        ),
        at(
            0.0,
            ether(IPv6(src=A, dst=B) / IPv6ExtHdrFragment(offset=12, m=0, **frag) / Raw(b"z" * 12)),
        ),
        # A later fragment of a datagram whose start was never seen.
        at(
            0.1,
            ether(IPv6(src=A, dst=B) / IPv6ExtHdrFragment(offset=4, m=0, nh=17, id=7) / Raw(b"q")),
        ),
    ]
    summary = summarize(write_pcap(tmp_path / "frag6.pcap", frames))
    assert_record(
        only_record(summary),
        proto=17,
        orig_port=5000,
        resp_port=6000,
        orig_pkts=4,
        orig_ip_bytes=80 * 3 + 60,
        orig_bytes=100,
    )
    assert_counters(summary, packets_seen=5, packets_in_flows=4, fragments_unmatched=1)


def test_walk_stops_after_eight_extension_headers(tmp_path, summarize):
    chain = IPv6ExtHdrDestOpt()
    for _ in range(8):
        chain = chain / IPv6ExtHdrDestOpt()
    packet = IPv6(src=A, dst=B) / chain / UDP(sport=1, dport=2) / Raw(b"u" * 4)
    record = only_record(summarize(write_pcap(tmp_path / "deep.pcap", [at(0.0, ether(packet))])))
    # Nine headers: the ninth is not walked, so its type (60) is the flow's protocol.
    assert_record(
        record, proto=60, orig_port=0, resp_port=0, orig_ip_bytes=40 + 72 + 12, orig_bytes=20
    )
