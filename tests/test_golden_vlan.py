"""Golden captures: 802.1Q, 802.1ad (QinQ) and 0x9100 tags make distinct flows."""

from __future__ import annotations

from tests.support.pcapgen import at, ether, ether_scapy_qinq, udp, write_pcap
from tests.support.summarizers import (
    BOTH_SUMMARIZERS,
    assert_counters,
    assert_record,
    records_by_serial,
)

pytestmark = BOTH_SUMMARIZERS

A, B = "10.20.0.5", "10.20.0.9"


def hl7(src: str, dst: str, sport: int, dport: int):
    return udp(src, dst, sport, dport, b"MSH|^~\\&|" + b"x" * 11)  # 20 bytes of payload


def test_same_conversation_on_two_vlans_and_untagged_is_three_flows(tmp_path, summarize):
    frames = [
        at(0.0, ether(hl7(A, B, 4000, 2575), vlans=[10])),
        at(0.1, ether(hl7(A, B, 4000, 2575), vlans=[20])),
        at(0.2, ether(hl7(A, B, 4000, 2575))),
        at(0.3, ether(hl7(B, A, 2575, 4000), vlans=[10])),  # answer on VLAN 10 only
    ]
    summary = summarize(write_pcap(tmp_path / "vlans.pcap", frames))
    v10, v20, untagged = records_by_serial(summary)
    assert_record(v10, vlan=10, inner_vlan=None, orig_pkts=1, resp_pkts=1, conn_state="SF")
    assert_record(v20, vlan=20, inner_vlan=None, orig_pkts=1, resp_pkts=0, conn_state="S0")
    assert_record(untagged, vlan=None, inner_vlan=None, orig_pkts=1, conn_state="S0")
    # Tags are link layer: IP bytes are the same with or without them.
    assert v10.orig_ip_bytes == v20.orig_ip_bytes == untagged.orig_ip_bytes == 48
    assert_counters(summary, flows_created=3, packets_in_flows=4)


def test_qinq_keeps_outer_and_inner_vid(tmp_path, summarize):
    frames = [
        at(0.0, ether(hl7(A, B, 4000, 2575), vlans=[100, 10], tpids=[0x88A8, 0x8100])),
        at(0.1, ether_scapy_qinq(hl7(B, A, 2575, 4000), outer=100, inner=10)),
        at(0.2, ether(hl7(A, B, 4000, 2575), vlans=[200, 10], tpids=[0x88A8, 0x8100])),
        at(0.3, ether(hl7(A, B, 4000, 2575), vlans=[100, 10], tpids=[0x9100, 0x8100])),
    ]
    summary = summarize(write_pcap(tmp_path / "qinq.pcap", frames))
    first, other_outer = records_by_serial(summary)
    # The 0x9100 outer tag with the same VIDs belongs to the first flow.
    assert_record(first, vlan=100, inner_vlan=10, orig_pkts=2, resp_pkts=1, conn_state="SF")
    assert_record(other_outer, vlan=200, inner_vlan=10, orig_pkts=1)


def test_third_tag_is_skipped_but_not_kept(tmp_path, summarize):
    frames = [
        at(0.0, ether(hl7(A, B, 4000, 2575), vlans=[7, 8, 9], tpids=[0x88A8, 0x8100, 0x8100])),
        at(0.1, ether(hl7(A, B, 4000, 2575), vlans=[7, 8, 5], tpids=[0x88A8, 0x8100, 0x8100])),
    ]
    summary = summarize(write_pcap(tmp_path / "three.pcap", frames))
    (record,) = summary.records
    assert_record(record, vlan=7, inner_vlan=8, orig_pkts=2, orig_port=4000, resp_port=2575)


def test_priority_bits_are_not_part_of_the_vid(tmp_path, summarize):
    # PCP 5 and DEI set in the TCI: the VID is still 42.
    frames = [at(0.0, ether(hl7(A, B, 4000, 2575), vlans=[0xB000 | 42]))]
    (record,) = summarize(write_pcap(tmp_path / "pcp.pcap", frames)).records
    assert_record(record, vlan=42)
