"""Golden captures: how far one packet may move the engine clock (issue 10, item 12).

The clock is the largest packet time seen, but a time more than 10 s ahead of it moves
it only when the next packet is that far ahead too and within 10 s of it (a gap in the
capture, a clock set right), or at the end of the file; a lone packet from the future is
held back and counted as `clock_steps_held`. Before, one such packet turned every later
packet into its own record. A flow is still judged by the time of a packet held back (its
own flow ends idle when that packet says so). Times near 2^64 saturate, never wrap.
"""

from __future__ import annotations

from tests.support.pcapgen import T0_US, Frame, at, ether, udp, write_pcap, write_pcapng
from tests.support.summarizers import (
    BOTH_SUMMARIZERS,
    assert_counters,
    assert_record,
    records_by_serial,
)

pytestmark = BOTH_SUMMARIZERS

A, B, C = "10.6.0.1", "10.6.0.2", "10.6.0.3"
S = 1_000_000
YEAR_US = 365 * 24 * 3600 * S


def a_to_b() -> bytes:
    return ether(udp(A, B, 7000, 8000, b"x"))


def c_to_b() -> bytes:
    return ether(udp(C, B, 7001, 8000, b"y"))


def test_one_packet_from_the_future_leaves_later_packets_in_their_flow(tmp_path, summarize):
    # The review's reproduction: one record a year ahead among 21 packets a second apart.
    frames = [at(float(i), a_to_b()) for i in range(11)]
    frames.append(Frame(T0_US + 10 * S + YEAR_US, c_to_b(), len(c_to_b())))
    frames += [at(float(i), a_to_b()) for i in range(11, 21)]
    summary = summarize(write_pcap(tmp_path / "future.pcap", frames))
    flow, future = records_by_serial(summary)
    assert_record(flow, orig_pkts=21, duration_us=20 * S, end_reason="forced")
    assert_record(future, ts_us=T0_US + 10 * S + YEAR_US, orig_pkts=1, end_reason="forced")
    assert_counters(summary, clock_steps_held=1, flows_created=2, flows_ended_idle=0)


def test_two_packets_after_a_gap_move_the_clock_and_end_idle_flows(tmp_path, summarize):
    frames = [at(0.0, a_to_b()), at(1.0, a_to_b()), at(100.0, c_to_b()), at(100.5, c_to_b())]
    summary = summarize(write_pcap(tmp_path / "gap.pcap", frames))
    flow, later = records_by_serial(summary)
    assert_record(flow, orig_pkts=2, end_reason="idle")
    assert_record(later, orig_pkts=2, end_reason="forced")
    assert_counters(summary, clock_steps_held=1, flows_ended_idle=1)


def test_a_packet_held_back_still_ends_its_own_idle_flow(tmp_path, summarize):
    frames = [at(0.0, a_to_b()), at(100.0, a_to_b()), at(100.5, c_to_b())]
    summary = summarize(write_pcap(tmp_path / "own.pcap", frames))
    first, second, other = records_by_serial(summary)
    assert_record(first, orig_pkts=1, end_reason="idle")
    assert_record(second, ts_us=T0_US + 100 * S, orig_pkts=1, end_reason="forced")
    assert_record(other, orig_pkts=1, end_reason="forced")
    assert first.serial != second.serial
    assert_counters(summary, clock_steps_held=1)


def test_two_packets_from_different_futures_do_not_move_the_clock(tmp_path, summarize):
    # A day ahead, then a year ahead: they do not agree, so neither moves the clock.
    day, year = T0_US + 86_400 * S, T0_US + YEAR_US
    frames = [at(0.0, a_to_b()), Frame(day, c_to_b(), 60), Frame(year, c_to_b(), 60)]
    frames += [at(float(i), a_to_b()) for i in range(1, 6)]
    summary = summarize(write_pcap(tmp_path / "futures.pcap", frames))
    flow, *_future = records_by_serial(summary)
    assert_record(flow, orig_pkts=6, end_reason="forced")
    # Only the future flow's own second packet (a year after its first) ended it idle.
    assert_counters(summary, clock_steps_held=2, flows_ended_idle=1)


def test_the_last_packet_after_a_gap_still_ends_idle_flows_at_the_end(tmp_path, summarize):
    frames = [at(0.0, a_to_b()), at(100.0, c_to_b())]
    summary = summarize(write_pcap(tmp_path / "last.pcap", frames))
    flow, last = records_by_serial(summary)
    assert_record(flow, end_reason="idle")
    assert_record(last, end_reason="forced")


def test_times_near_2_to_the_64_do_not_wrap(tmp_path, summarize):
    # pcapng carries 64-bit ticks: microsecond times up to 2^64 - 1. Three packets of one
    # flow there stay one record (flow end + timeout saturates instead of wrapping to a
    # time long past, which ended the flow at every packet).
    top = 2**64 - 1
    frames = [at(0.0, a_to_b())]
    frames += [Frame(top - 2 + i, c_to_b(), len(c_to_b())) for i in range(3)]
    summary = summarize(write_pcapng(tmp_path / "top.pcapng", frames))
    flow, near_top = records_by_serial(summary)
    assert_record(flow, orig_pkts=1, end_reason="idle")
    assert_record(near_top, ts_us=top - 2, orig_pkts=3, duration_us=2, end_reason="forced")
    assert_counters(summary, clock_steps_held=1)
