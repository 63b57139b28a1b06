"""Golden captures: a flow carries each end's MAC as the sensor saw it on its segment.

The Ethernet source of the originator's first frame is orig_l2_addr, of the responder's
first frame resp_l2_addr; an end that never sent, or a link type without Ethernet, has
none. Both summarizers (engine and tests/reference.py) must say the same.
"""

from __future__ import annotations

import pytest

from tests.support import pcapgen
from tests.support.pcapgen import at, ether, sll, tcp, udp
from tests.support.summarizers import (
    BOTH_SUMMARIZERS,
    assert_counters,
    only_record,
    records_by_serial,
    run_engine,
)

PUMP, SERVER = "10.4.10.10", "10.20.0.20"
PUMP_MAC, ROUTER_MAC, OTHER_MAC = "00:1a:5c:00:00:38", "00:00:0c:9f:f0:01", "02:00:00:00:00:99"


def mac(text: str) -> bytes:
    return bytes.fromhex(text.replace(":", ""))


def from_pump(packet, **kw) -> bytes:
    return ether(packet, src=PUMP_MAC, dst=ROUTER_MAC, **kw)


def from_router(packet, **kw) -> bytes:
    return ether(packet, src=ROUTER_MAC, dst=PUMP_MAC, **kw)


@BOTH_SUMMARIZERS
def test_both_ends_carry_the_ethernet_source_of_their_own_frames(tmp_path, summarize):
    frames = [
        at(0.0, from_pump(tcp(PUMP, SERVER, 51000, 2575, "S"))),
        at(0.1, from_router(tcp(SERVER, PUMP, 2575, 51000, "SA"))),
        at(0.2, from_pump(tcp(PUMP, SERVER, 51000, 2575, "A"))),
    ]
    record = only_record(summarize(pcapgen.write_pcap(tmp_path / "both.pcap", frames)))
    assert (record.orig_l2_addr, record.resp_l2_addr) == (mac(PUMP_MAC), mac(ROUTER_MAC))


@BOTH_SUMMARIZERS
def test_the_originator_found_from_a_syn_ack_keeps_its_own_mac(tmp_path, summarize):
    # The SYN-ACK seen first: its receiver (the pump) is the originator.
    frames = [
        at(0.0, from_router(tcp(SERVER, PUMP, 2575, 51000, "SA"))),
        at(0.1, from_pump(tcp(PUMP, SERVER, 51000, 2575, "A"))),
    ]
    record = only_record(summarize(pcapgen.write_pcap(tmp_path / "synack.pcap", frames)))
    assert record.orig_addr == bytes(map(int, PUMP.split(".")))
    assert (record.orig_l2_addr, record.resp_l2_addr) == (mac(PUMP_MAC), mac(ROUTER_MAC))


@BOTH_SUMMARIZERS
def test_an_end_that_never_sent_has_no_mac(tmp_path, summarize):
    frames = [at(i * 0.1, from_pump(udp(PUMP, SERVER, 5000, 514, b"log"))) for i in range(3)]
    record = only_record(summarize(pcapgen.write_pcap(tmp_path / "one-way.pcap", frames)))
    assert (record.orig_l2_addr, record.resp_l2_addr) == (mac(PUMP_MAC), None)
    assert record.to_json(bytes(16))["orig_l2_addr"] == PUMP_MAC
    assert "resp_l2_addr" not in record.to_json(bytes(16))


@BOTH_SUMMARIZERS
def test_the_first_mac_per_direction_stays_for_the_flows_life(tmp_path, summarize):
    # A later frame from another MAC (a failover, a spoofer) does not move it, and the
    # next record of a long flow (an active report) carries the same MACs.
    frames = [
        at(0.0, from_pump(udp(PUMP, SERVER, 5000, 514, b"a"))),
        at(1.0, ether(udp(PUMP, SERVER, 5000, 514, b"b"), src=OTHER_MAC)),
        at(2.0, from_router(udp(SERVER, PUMP, 514, 5000, b"c"))),
        at(12.0, from_pump(udp(PUMP, SERVER, 5000, 514, b"d"))),
    ]
    summary = summarize(pcapgen.write_pcap(tmp_path / "long.pcap", frames), active_s=10)
    records = records_by_serial(summary)
    assert [r.end_reason for r in records] == ["active", "forced"]
    for record in records:
        assert (record.orig_l2_addr, record.resp_l2_addr) == (mac(PUMP_MAC), mac(ROUTER_MAC))


@BOTH_SUMMARIZERS
@pytest.mark.parametrize(
    "linktype, wrap",
    [
        (pcapgen.LINKTYPE_RAW, bytes),
        (pcapgen.LINKTYPE_LINUX_SLL, sll),  # cooked: its address is not the segment's MAC
        (pcapgen.LINKTYPE_NULL, pcapgen.null),
    ],
    ids=["raw", "sll", "null"],
)
def test_link_types_without_ethernet_give_no_macs(tmp_path, summarize, linktype, wrap):
    frames = [
        at(0.0, wrap(udp(PUMP, SERVER, 123, 123, b"n"))),
        at(0.1, wrap(udp(SERVER, PUMP, 123, 123, b"m"))),
    ]
    path = pcapgen.write_pcap(tmp_path / "no-l2.pcap", frames, linktype=linktype)
    record = only_record(summarize(path))
    assert (record.orig_l2_addr, record.resp_l2_addr) == (None, None)
    assert "orig_l2_addr" not in record.to_json(bytes(16))


def test_a_full_mac_table_leaves_new_flows_without_macs_and_counts_them(tmp_path):
    # 4,200 senders, each with its own MAC, all flows running at once: the engine keeps
    # 4,096 distinct MACs (native/mac_table.h); the rest are counted, never wrong.
    senders = 4200
    frames = [
        at(
            i * 0.0001,
            ether(
                udp(f"10.{i >> 8}.{i & 255}.1", SERVER, 5000, 514, b"x"),
                src=f"02:00:00:00:{i >> 8:02x}:{i & 255:02x}",
            ),
        )
        for i in range(senders)
    ]
    summary = run_engine(pcapgen.write_pcap(tmp_path / "many.pcap", frames))
    with_mac = [r for r in summary.records if r.orig_l2_addr is not None]
    assert len(with_mac) == 4096
    for record in with_mac:
        i = int.from_bytes(record.orig_l2_addr[4:], "big")
        assert record.orig_addr == bytes([10, i >> 8, i & 255, 1])
    assert_counters(summary, flow_macs_unrecorded=senders - 4096)
