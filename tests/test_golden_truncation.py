"""Golden captures: frames cut short by the snap length, and frames that lie.

Truncated (captured bytes end before a needed header) and malformed (header fields that
contradict themselves or the frame) frames belong to no flow and are counted. Bytes of a
counted packet come from its headers, so a short snap length changes no byte count.
"""

from __future__ import annotations

import pytest
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6, IPv6ExtHdrHopByHop
from scapy.packet import Raw

from tests.support import pcapgen
from tests.support.pcapgen import at, ether, icmp, tcp, udp, write_pcap
from tests.support.summarizers import (
    BOTH_SUMMARIZERS,
    assert_counters,
    assert_record,
    only_record,
)

pytestmark = BOTH_SUMMARIZERS

A, B = "10.9.0.1", "10.9.0.2"
A6, B6 = "2001:db8:9::1", "2001:db8:9::2"
ETH, IP4 = 14, 20


def count_one(tmp_path, summarize, frame, linktype=pcapgen.LINKTYPE_ETHERNET):
    path = write_pcap(tmp_path / "one.pcap", [frame], linktype=linktype)
    return summarize(path)


@pytest.mark.parametrize(
    "name, packet, caplen",
    [
        ("ethernet header", ether(udp(A, B, 1, 2)), ETH - 1),
        ("vlan tag", ether(udp(A, B, 1, 2), vlans=[5]), ETH + 2),
        ("ipv4 header", ether(udp(A, B, 1, 2)), ETH + IP4 - 1),
        ("ipv4 options", ether(IP(src=A, dst=B, ihl=6, options=b"\x01" * 4) / UDP()), ETH + 22),
        ("tcp flags", ether(tcp(A, B, 1, 2, "S")), ETH + IP4 + 13),
        ("udp ports", ether(udp(A, B, 1, 2)), ETH + IP4 + 3),
        ("icmp code", ether(icmp(A, B, 8)), ETH + IP4 + 1),
        ("ipv6 header", ether(udp(A6, B6, 1, 2)), ETH + 39),
        ("ipv6 extension header", ether(IPv6(src=A6, dst=B6) / IPv6ExtHdrHopByHop() / UDP()), 55),
        ("udp ports after ipv6 extension", ether(IPv6() / IPv6ExtHdrHopByHop() / UDP()), 65),
    ],
)
def test_frames_cut_before_a_needed_header_are_truncated(tmp_path, summarize, name, packet, caplen):
    summary = count_one(tmp_path, summarize, at(0.0, packet, caplen=caplen))
    assert summary.records == [], name
    assert_counters(summary, packets_seen=1, bytes_seen=len(packet), truncated=1)


@pytest.mark.parametrize(
    "name, packet, caplen, ip_bytes, payload",
    [
        ("tcp needs 14 bytes", ether(tcp(A, B, 1, 2, "PA", b"p" * 500)), ETH + IP4 + 14, 540, 500),
        ("udp needs its ports", ether(udp(A, B, 1, 2, b"u" * 900)), ETH + IP4 + 4, 928, 900),
        ("icmp needs type and code", ether(icmp(A, B, 8, 0, b"i" * 64)), ETH + IP4 + 2, 92, 64),
        ("ipv6 udp ports", ether(udp(A6, B6, 1, 2, b"s" * 100)), ETH + 40 + 4, 148, 100),
    ],
)
def test_short_snap_length_does_not_change_byte_counts(
    tmp_path, summarize, name, packet, caplen, ip_bytes, payload
):
    summary = count_one(tmp_path, summarize, at(0.0, packet, caplen=caplen))
    assert_record(only_record(summary), orig_pkts=1, orig_ip_bytes=ip_bytes, orig_bytes=payload)
    assert_counters(summary, packets_in_flows=1, truncated=0, bytes_seen=len(packet))


@pytest.mark.parametrize(
    "name, frame",
    [
        ("ihl below 5", ether(IP(src=A, dst=B, ihl=4) / UDP(sport=1, dport=2))),
        ("ipv4 ethertype, version 5", ether(IP(src=A, dst=B, version=5) / UDP())),
        ("total length below header", ether(IP(src=A, dst=B, len=16) / UDP())),
        ("total length beyond the frame", ether(IP(src=A, dst=B, len=1000) / UDP())),
        ("tcp data offset below 5", ether(IP(src=A, dst=B) / TCP(dataofs=4))),
        ("tcp data offset beyond payload", ether(IP(src=A, dst=B) / TCP(dataofs=15))),
        ("udp shorter than its header", ether(IP(src=A, dst=B, proto=17) / Raw(b"\x00" * 6))),
        (
            "ipv6 ethertype, version 4",
            ether(IP(src=A, dst=B) / UDP())[:12]
            + b"\x86\xdd"
            + bytes(IP(src=A, dst=B) / UDP() / Raw(bytes(40))),
        ),
        ("ipv6 payload beyond the frame", ether(IPv6(src=A6, dst=B6, plen=400) / UDP())),
    ],
)
def test_contradicting_headers_are_malformed(tmp_path, summarize, name, frame):
    summary = count_one(tmp_path, summarize, at(0.0, frame))
    assert summary.records == [], name
    assert_counters(summary, packets_seen=1, malformed=1, packets_in_flows=0)


def test_raw_ip_with_an_unknown_version_is_malformed(tmp_path, summarize):
    bogus = b"\x50" + bytes(IP(src=A, dst=B) / UDP())[1:]
    summary = count_one(tmp_path, summarize, at(0.0, bogus), linktype=pcapgen.LINKTYPE_RAW)
    assert_counters(summary, malformed=1)


def test_every_frame_lands_in_exactly_one_counter(tmp_path, summarize):
    good = ether(udp(A, B, 1, 2, b"g"))
    frames = [
        at(0.0, good),
        at(0.1, ether(tcp(A, B, 3, 4, "S")), caplen=ETH + IP4 + 5),
        at(0.2, ether(IP(src=A, dst=B, ihl=3) / UDP())),
        at(0.3, pcapgen.ether_raw(0x0806, bytes(28))),
        at(0.4, ether(IP(src=A, dst=B, id=3, frag=10, proto=17) / Raw(b"f" * 8))),
        at(0.5, good),
    ]
    summary = summarize(write_pcap(tmp_path / "mix.pcap", frames))
    assert_record(only_record(summary), orig_pkts=2)
    assert_counters(
        summary,
        packets_seen=6,
        bytes_seen=sum(frame.wire_len for frame in frames),
        packets_in_flows=2,
        truncated=1,
        malformed=1,
        non_ip=1,
        fragments_unmatched=1,
        flows_created=1,
    )
