"""Golden captures: IPv4 fragments and options.

A first fragment carries the ports and opens (or joins) the flow; later fragments are
matched by (VLANs, src, dst, proto, id) and counted there, never parsed for ports; a later
fragment without its first is `fragments_unmatched` and belongs to no flow.
"""

from __future__ import annotations

import struct

from scapy.layers.inet import IP, UDP, IPOption_NOP, fragment
from scapy.packet import Raw

from tests.support.pcapgen import at, ether, tcp, udp, write_pcap
from tests.support.summarizers import (
    BOTH_SUMMARIZERS,
    assert_counters,
    assert_record,
    only_record,
    records_by_serial,
)

pytestmark = BOTH_SUMMARIZERS

A, B = "10.3.0.1", "10.3.0.2"


def udp_datagram_fragments(
    frag_id: int, sport: int = 5000, size: int = 100, vlans: tuple[int, ...] = ()
) -> list[bytes]:
    """A UDP datagram with `size` payload bytes, cut into 32-byte fragments by scapy."""
    datagram = IP(src=A, dst=B, id=frag_id) / UDP(sport=sport, dport=6000) / Raw(b"y" * size)
    return [ether(part, vlans) for part in fragment(datagram, fragsize=32)]


def test_later_fragments_count_to_the_flow_of_their_first(tmp_path, summarize):
    parts = udp_datagram_fragments(77)  # IP payloads 32, 32, 32, 12
    frames = [at(0.0, part) for part in parts]
    frames.append(at(0.5, ether(udp(B, A, 6000, 5000, b"ok"))))
    summary = summarize(write_pcap(tmp_path / "frag.pcap", frames))
    assert_record(
        only_record(summary),
        proto=17,
        orig_port=5000,
        resp_port=6000,
        orig_pkts=4,
        orig_ip_bytes=3 * 52 + 32,
        orig_bytes=100,  # 24 after the UDP header in the first, 76 in the rest
        resp_pkts=1,
        conn_state="SF",
    )
    assert_counters(summary, packets_in_flows=5, fragments_unmatched=0, flows_created=1)


def test_later_fragment_without_its_first_is_unmatched(tmp_path, summarize):
    first, *later = udp_datagram_fragments(78)
    frames = [
        at(0.0, later[0]),  # before its first fragment: nothing to match yet
        at(0.1, first),
        at(0.2, ether(IP(src=A, dst=B, id=999, frag=4, proto=17) / Raw(b"w" * 16))),
    ]
    summary = summarize(write_pcap(tmp_path / "unmatched.pcap", frames))
    assert_record(only_record(summary), orig_pkts=1, orig_ip_bytes=52, orig_bytes=24)
    assert_counters(summary, packets_seen=3, packets_in_flows=1, fragments_unmatched=2)


def test_later_fragment_matches_only_the_first_fragment_of_its_own_vlan(tmp_path, summarize):
    # Same addresses and fragment id on VLAN 10 and VLAN 20: two networks' datagrams.
    on_10 = udp_datagram_fragments(300, sport=5010, vlans=(10,))
    on_20 = udp_datagram_fragments(300, sport=5020, size=40, vlans=(20,))  # payloads 32, 16
    # Only VLAN 20's first fragment is seen; VLAN 10's later fragments have no first.
    frames = [at(i * 0.01, part) for i, part in enumerate([on_20[0], *on_10[1:], on_20[1]])]
    summary = summarize(write_pcap(tmp_path / "vlans.pcap", frames))
    assert_record(only_record(summary), vlan=20, orig_port=5020, orig_pkts=2, orig_bytes=40)
    assert_counters(summary, packets_in_flows=2, fragments_unmatched=3)


def test_interleaved_datagrams_match_by_fragment_id(tmp_path, summarize):
    one = udp_datagram_fragments(100, sport=5001)
    two = udp_datagram_fragments(200, sport=5002, size=40)  # payloads 32, 16
    frames = [at(i * 0.01, part) for i, part in enumerate([one[0], two[0], two[1], *one[1:]])]
    summary = summarize(write_pcap(tmp_path / "interleaved.pcap", frames))
    first, second = records_by_serial(summary)
    assert_record(first, orig_port=5001, orig_pkts=4, orig_bytes=100)
    assert_record(second, orig_port=5002, orig_pkts=2, orig_ip_bytes=52 + 36, orig_bytes=40)


def test_later_fragment_of_the_other_direction_counts_as_responder(tmp_path, summarize):
    request = ether(udp(A, B, 5000, 6000, b"r"))
    reply_first, *reply_later = [
        ether(part)
        for part in fragment(
            IP(src=B, dst=A, id=5) / UDP(sport=6000, dport=5000) / Raw(b"v" * 60), fragsize=32
        )
    ]
    frames = [at(0.0, request), at(0.1, reply_first), *[at(0.1, p) for p in reply_later]]
    record = only_record(summarize(write_pcap(tmp_path / "reply.pcap", frames)))
    assert_record(record, orig_pkts=1, resp_pkts=3, resp_bytes=60, conn_state="SF")


def test_ipv4_options_are_skipped_by_ihl(tmp_path, summarize):
    options = [IPOption_NOP()] * 8  # IHL 7: 28-byte header
    frames = [
        at(0.0, ether(IP(src=A, dst=B, options=options) / UDP(sport=9, dport=10) / Raw(b"o" * 3))),
        at(0.1, ether(tcp(A, B, 1234, 80, "S", options=options))),
    ]
    udp_record, tcp_record = records_by_serial(
        summarize(write_pcap(tmp_path / "options.pcap", frames))
    )
    assert_record(udp_record, orig_port=9, resp_port=10, orig_ip_bytes=28 + 8 + 3, orig_bytes=3)
    assert_record(tcp_record, orig_port=1234, resp_port=80, orig_ip_bytes=48, history="S")


def test_tcp_first_fragment_carries_ports_and_flags(tmp_path, summarize):
    segment = struct.pack(">HHIIBBHHH", 2000, 104, 1, 0, 5 << 4, 0x18, 1024, 0, 0)
    data = segment + b"D" * 40  # TCP header + 40 payload bytes, cut after 20 of them
    frames = [
        at(0.0, ether(IP(src=A, dst=B, id=31, flags="MF", proto=6) / Raw(data[:40]))),
        at(0.0, ether(IP(src=A, dst=B, id=31, frag=40 // 8, proto=6) / Raw(data[40:]))),
    ]
    summary = summarize(write_pcap(tmp_path / "tcpfrag.pcap", frames))
    assert_record(
        only_record(summary),
        proto=6,
        orig_port=2000,
        resp_port=104,
        orig_pkts=2,
        orig_bytes=40,
        orig_tcp_flags=0x18,
        history="D",
    )


def test_later_fragment_does_not_join_a_new_flow_with_the_same_ports(tmp_path, summarize):
    first, later, *_ = udp_datagram_fragments(55)
    frames = [
        at(0.0, first),
        at(61.0, ether(udp(A, B, 5000, 6000, b"new"))),  # the first flow idled out
        at(61.1, later),  # its datagram's flow is gone: unmatched
    ]
    summary = summarize(write_pcap(tmp_path / "stale.pcap", frames))
    old, new = records_by_serial(summary)
    assert_record(old, orig_pkts=1, end_reason="idle")
    assert_record(new, orig_pkts=1, orig_bytes=3, end_reason="forced")
    assert_counters(summary, fragments_unmatched=1, packets_in_flows=2)


def test_fragment_memory_forgets_the_oldest_of_4096(tmp_path, summarize):
    header = struct.pack(">HHHH", 5000, 6000, 8 + 16, 0) + b"f" * 8
    template = ether(IP(src=A, dst=B, id=0, flags="MF", proto=17) / Raw(header))

    def first_fragment(frag_id: int) -> bytes:
        # The template with its IP identification replaced (checksums are not checked).
        return template[:18] + struct.pack(">H", frag_id) + template[20:]

    def later_fragment(frag_id: int) -> bytes:
        return ether(IP(src=A, dst=B, id=frag_id, frag=2, proto=17) / Raw(b"l" * 8))

    firsts = [first_fragment(i) for i in range(4097)]  # one more than the memory holds
    frames = [at(i * 0.0001, packet) for i, packet in enumerate(firsts)]
    frames += [at(1.0, later_fragment(0)), at(1.1, later_fragment(1))]
    summary = summarize(write_pcap(tmp_path / "many.pcap", frames))
    assert_record(only_record(summary), orig_pkts=4098)
    assert_counters(summary, fragments_unmatched=1, packets_in_flows=4098)
