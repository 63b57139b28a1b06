"""Golden captures: every link type and file format gives the same flow.

One UDP exchange (and its IPv6 twin) is written with each link layer the spec names, in
pcap and pcapng, with micro- and nanosecond timestamps; the flow must not change.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

import pytest

from tests.support import pcapgen
from tests.support.pcapgen import T0_US, at, ether, ether_raw, null, sll, sll2, udp
from tests.support.summarizers import (
    BOTH_SUMMARIZERS,
    assert_counters,
    assert_record,
    only_record,
    records_by_serial,
)

pytestmark = BOTH_SUMMARIZERS

A, B = "192.168.7.10", "192.168.7.20"
A6, B6 = "2001:db8:7::10", "2001:db8:7::20"


def exchange(src: str, dst: str):
    return [udp(src, dst, 123, 123, b"n" * 48), udp(dst, src, 123, 123, b"m" * 48)]


def ntp(ip_bytes: int):
    return dict(
        proto=17,
        ts_us=T0_US + 1,
        duration_us=1_500_250,
        orig_port=123,
        resp_port=123,
        orig_pkts=1,
        orig_ip_bytes=ip_bytes,
        orig_bytes=48,
        resp_pkts=1,
        resp_ip_bytes=ip_bytes,
        resp_bytes=48,
        conn_state="SF",
        history="Dd",
        vlan=None,
    )


# (link type, wraps an IP packet into a frame)
LINKS: dict[str, tuple[int, Callable[[Any], bytes]]] = {
    "ethernet": (pcapgen.LINKTYPE_ETHERNET, ether),
    "sll": (pcapgen.LINKTYPE_LINUX_SLL, sll),
    "sll2": (pcapgen.LINKTYPE_LINUX_SLL2, sll2),
    "raw101": (pcapgen.LINKTYPE_RAW, bytes),
    "raw12": (pcapgen.LINKTYPE_RAW_DLT, bytes),
    "null": (pcapgen.LINKTYPE_NULL, null),
}


@pytest.mark.parametrize("link", sorted(LINKS))
@pytest.mark.parametrize("file_format", ["pcap", "pcapng"])
def test_every_link_type_and_format_gives_the_same_ipv4_flow(
    tmp_path, summarize, link, file_format
):
    linktype, wrap = LINKS[link]
    first, second = exchange(A, B)
    # Timestamps with odd microseconds, to see that no precision is lost.
    frames = [at(0.000001, wrap(first)), at(1.500251, wrap(second))]
    path = tmp_path / f"ntp.{file_format}"
    if file_format == "pcap":
        pcapgen.write_pcap(path, frames, linktype=linktype)
    else:
        pcapgen.write_pcapng(path, frames, linktype=linktype)
    summary = summarize(path)
    assert_record(only_record(summary), orig_addr=A, resp_addr=B, **ntp(20 + 8 + 48))
    assert_counters(summary, packets_in_flows=2, non_ip=0, malformed=0, truncated=0)


@pytest.mark.parametrize(
    "linktype, wrap",
    [
        (pcapgen.LINKTYPE_IPV6, bytes),
        (pcapgen.LINKTYPE_RAW, bytes),
        (pcapgen.LINKTYPE_LINUX_SLL2, sll2),
        (pcapgen.LINKTYPE_NULL, lambda p: null(p, family=30)),  # BSD AF_INET6 values vary
        (pcapgen.LINKTYPE_NULL, lambda p: null(p, family=24)),
    ],
)
def test_ipv6_link_types_give_the_same_flow(tmp_path, summarize, linktype, wrap):
    first, second = exchange(A6, B6)
    frames = [at(0.000001, wrap(first)), at(1.500251, wrap(second))]
    path = pcapgen.write_pcap(tmp_path / "ntp6.pcap", frames, linktype=linktype)
    assert_record(only_record(summarize(path)), orig_addr=A6, **ntp(40 + 8 + 48))


def test_ipv4_only_link_type(tmp_path, summarize):
    first, second = exchange(A, B)
    frames = [at(0.000001, first), at(1.500251, second)]
    path = pcapgen.write_pcap(tmp_path / "v4.pcap", frames, linktype=pcapgen.LINKTYPE_IPV4)
    assert_record(only_record(summarize(path)), orig_addr=A, **ntp(76))


def test_nanosecond_timestamps_are_cut_to_microseconds(tmp_path, summarize):
    first, second = exchange(A, B)
    frames = [at(0.000001, ether(first)), at(1.500251, ether(second))]
    pcap = pcapgen.write_pcap(tmp_path / "ns.pcap", frames, nanosecond=True)
    ng = pcapgen.write_pcapng(tmp_path / "ns.pcapng", frames, tsresol_exponent=9)
    for path in (pcap, ng):
        assert_record(only_record(summarize(path)), **ntp(76))


def test_ethernet_padding_is_not_counted(tmp_path, summarize):
    tiny = ether(udp(A, B, 5000, 5001, b"k"))  # 43 bytes: padded to the 60-byte minimum
    padded = tiny + bytes(60 - len(tiny))
    path = pcapgen.write_pcap(tmp_path / "pad.pcap", [at(0.0, padded)])
    summary = summarize(path)
    assert_record(only_record(summary), orig_ip_bytes=29, orig_bytes=1)
    assert_counters(summary, bytes_seen=60)


def test_frames_without_ip_are_counted_as_non_ip(tmp_path, summarize):
    arp = ether_raw(0x0806, bytes(28))
    lldp = ether_raw(0x88CC, bytes(30))
    frames = [
        at(0.0, arp),
        at(0.1, lldp),
        at(0.2, ether(udp(A, B, 1, 2))),
        at(0.3, sll(bytes(28), protocol=0x0806)),
    ]
    ether_path = pcapgen.write_pcap(tmp_path / "l2.pcap", frames[:3])
    summary = summarize(ether_path)
    assert len(summary.records) == 1
    assert_counters(
        summary,
        packets_seen=3,
        bytes_seen=len(arp) + len(lldp) + len(frames[2].data),
        non_ip=2,
        packets_in_flows=1,
    )
    sll_path = pcapgen.write_pcap(
        tmp_path / "sll.pcap", frames[3:], linktype=pcapgen.LINKTYPE_LINUX_SLL
    )
    sll_summary = summarize(sll_path)
    assert sll_summary.records == []
    assert_counters(sll_summary, non_ip=1)


def test_linux_cooked_capture_with_a_vlan_protocol_walks_the_tag(tmp_path, summarize):
    first, second = exchange(A, B)
    tagged = sll(struct.pack(">HH", 30, 0x0800) + bytes(first), protocol=0x8100)
    frames = [at(0.000001, tagged), at(1.500251, sll(second))]
    path = pcapgen.write_pcap(
        tmp_path / "sllvlan.pcap", frames, linktype=pcapgen.LINKTYPE_LINUX_SLL
    )
    records = records_by_serial(summarize(path))
    assert [(r.vlan, r.orig_pkts) for r in records] == [(30, 1), (None, 1)]  # serial order


def test_pcap_timestamps_after_2038_keep_their_value(tmp_path, summarize):
    # The pcap record header holds seconds as an unsigned 32-bit number (good to 2106).
    year_2040_us = 2_208_988_800 * 1_000_000
    frames = [
        pcapgen.Frame(year_2040_us + 7, ether(udp(A, B, 1, 2, b"late")), 46),
        pcapgen.Frame(year_2040_us + 2_000_007, ether(udp(B, A, 2, 1)), 42),
    ]
    path = pcapgen.write_pcap(tmp_path / "y2040.pcap", frames)
    assert_record(only_record(summarize(path)), ts_us=year_2040_us + 7, duration_us=2_000_000)
