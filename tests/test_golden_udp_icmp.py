"""Golden captures: UDP, ICMP, ICMPv6, SCTP and port-less protocols.

Community IDs are checked against the published vectors of the Community ID spec
(corelight/community-id-spec baseline: 1.2.3.4 <-> 5.6.7.8), so the addresses here
are those of the vectors.
"""

from __future__ import annotations

from scapy.layers.inet import IP
from scapy.packet import Raw

from tests.support.pcapgen import (
    T0_US,
    at,
    ether,
    icmp,
    icmp6_echo,
    proto_only,
    sctp,
    udp,
    write_pcap,
)
from tests.support.summarizers import (
    BOTH_SUMMARIZERS,
    assert_counters,
    assert_record,
    only_record,
    records_by_serial,
)

pytestmark = BOTH_SUMMARIZERS

A, B = "1.2.3.4", "5.6.7.8"
A6 = "fe80:1:203:405:607:809:a0b:c0d"
B6 = "fe80:1011:1213:1415:1617:1819:1a1b:1c1d"
BOOT_ID = bytes(16)


def community_id(record) -> str:
    return record.to_json(BOOT_ID)["community_id"]


def test_udp_query_and_answer_is_sf(tmp_path, summarize):
    frames = [
        at(0.0, ether(udp(A, B, 1122, 3344, b"q" * 10))),
        at(0.25, ether(udp(B, A, 3344, 1122, b"a" * 20))),
    ]
    record = only_record(summarize(write_pcap(tmp_path / "u.pcap", frames)))
    assert_record(
        record,
        ts_us=T0_US,
        duration_us=250_000,
        proto=17,
        orig_addr=A,
        orig_port=1122,
        resp_addr=B,
        resp_port=3344,
        orig_pkts=1,
        orig_ip_bytes=20 + 8 + 10,
        orig_bytes=10,
        resp_pkts=1,
        resp_ip_bytes=20 + 8 + 20,
        resp_bytes=20,
        conn_state="SF",
        history="Dd",
        orig_tcp_flags=0,
        resp_tcp_flags=0,
    )
    assert community_id(record) == "1:0Mu9InQx6z4ZiCZM/7HXi2WMhOg="


def test_udp_one_way_is_s0_and_empty_datagrams_leave_no_letter(tmp_path, summarize):
    frames = [at(i * 1.0, ether(udp(A, B, 5000, 514, b""))) for i in range(3)]
    record = only_record(summarize(write_pcap(tmp_path / "u.pcap", frames)))
    assert_record(record, conn_state="S0", history="", orig_pkts=3, orig_ip_bytes=84, resp_pkts=0)


def test_icmp_echo_request_and_reply_share_one_flow_with_zeek_ports(tmp_path, summarize):
    frames = [
        at(0.0, ether(icmp(A, B, 8, 0, b"p" * 56))),
        at(0.001, ether(icmp(B, A, 0, 0, b"p" * 56))),
    ]
    summary = summarize(write_pcap(tmp_path / "ping.pcap", frames))
    record = only_record(summary)
    assert_record(
        record,
        proto=1,
        orig_addr=A,
        orig_port=8,
        resp_addr=B,
        resp_port=0,
        orig_pkts=1,
        orig_ip_bytes=84,
        orig_bytes=56,
        resp_pkts=1,
        resp_ip_bytes=84,
        resp_bytes=56,
        conn_state="OTH",
        history="Dd",
        duration_us=1000,
    )
    assert community_id(record) == "1:crodRHL2FEsHjbv3UkRrfbs4bZ0="
    assert_counters(summary, flows_created=1, packets_in_flows=2)


def test_icmp_unreachables_are_one_way_flows_keyed_by_code(tmp_path, summarize):
    quoted = bytes(udp(A, B, 1122, 3344))  # the datagram the error refers to
    frames = [
        at(0.0, ether(icmp(B, A, 3, 3, quoted))),  # port unreachable
        at(0.1, ether(icmp(B, A, 3, 3, quoted))),
        at(0.2, ether(icmp(B, A, 3, 1, quoted))),  # host unreachable: another flow
    ]
    records = records_by_serial(summarize(write_pcap(tmp_path / "unreach.pcap", frames)))
    assert len(records) == 2
    assert_record(
        records[0],
        orig_addr=B,
        orig_port=3,
        resp_addr=A,
        resp_port=3,
        orig_pkts=2,
        orig_bytes=2 * len(quoted),
        resp_pkts=0,
        conn_state="OTH",
        history="D",
    )
    assert_record(records[1], orig_addr=B, orig_port=3, resp_port=1, orig_pkts=1)


def test_icmpv6_echo_pairs_request_and_reply(tmp_path, summarize):
    frames = [
        at(0.0, ether(icmp6_echo(A6, B6, payload=b"x" * 32))),
        at(0.002, ether(icmp6_echo(B6, A6, reply=True, payload=b"x" * 32))),
    ]
    record = only_record(summarize(write_pcap(tmp_path / "ping6.pcap", frames)))
    assert_record(
        record,
        proto=58,
        orig_addr=A6,
        orig_port=128,
        resp_addr=B6,
        resp_port=129,
        orig_ip_bytes=40 + 8 + 32,
        orig_bytes=32,
        resp_bytes=32,
        conn_state="OTH",
        history="Dd",
    )
    assert community_id(record) == "1:0bf7hyMJUwt3fMED7z8LIfRpBeo="


def test_sctp_has_ports_and_a_twelve_byte_header(tmp_path, summarize):
    frames = [
        at(0.0, ether(sctp(A, B, 1122, 3344, b"c" * 16))),
        at(0.1, ether(sctp(B, A, 3344, 1122))),
    ]
    record = only_record(summarize(write_pcap(tmp_path / "sctp.pcap", frames)))
    assert_record(
        record,
        proto=132,
        orig_port=1122,
        resp_port=3344,
        orig_ip_bytes=20 + 12 + 16,
        orig_bytes=16,
        resp_ip_bytes=32,
        resp_bytes=0,
        conn_state="OTH",
        history="D",
    )


def test_portless_protocol_is_a_proto_only_flow(tmp_path, summarize):
    frames = [
        at(0.0, ether(proto_only(A, B, 46, b"r" * 10))),  # RSVP, a Community ID vector
        at(0.5, ether(proto_only(B, A, 46, b"s" * 4))),
        at(1.0, ether(proto_only(A, B, 47, b"g" * 24))),  # GRE: its own flow
    ]
    summary = summarize(write_pcap(tmp_path / "other.pcap", frames))
    rsvp, gre = records_by_serial(summary)
    assert_record(
        rsvp,
        proto=46,
        orig_addr=A,
        orig_port=0,
        resp_addr=B,
        resp_port=0,
        orig_ip_bytes=30,
        orig_bytes=10,
        resp_ip_bytes=24,
        resp_bytes=4,
        conn_state="OTH",
        history="Dd",
    )
    assert community_id(rsvp) == "1:ikv3kmf89luf73WPz1jOs49S768="
    assert_record(gre, proto=47, orig_bytes=24, resp_pkts=0)
    assert_counters(summary, flows_created=2, packets_in_flows=3)


def test_icmp_shorter_than_its_header_has_no_payload(tmp_path, summarize):
    short = ether(IP(src=A, dst=B, proto=1) / Raw(b"\x08\x00\x00\x00"))  # 4 of 8 bytes
    record = only_record(summarize(write_pcap(tmp_path / "short.pcap", [at(0.0, short)])))
    assert_record(record, orig_port=8, resp_port=0, orig_ip_bytes=24, orig_bytes=0, history="")
