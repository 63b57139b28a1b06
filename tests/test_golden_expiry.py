"""Golden captures: how flows end. Idle timeouts per protocol, the active report of long
flows, the TCP close linger, the forced flush at end of file, and eviction when full.

All on packet time: a flow expires when clock - last packet > timeout (strictly).
"""

from __future__ import annotations

from tests.support.pcapgen import (
    T0_US,
    at,
    ether,
    icmp,
    proto_only,
    tcp,
    udp,
    write_pcap,
)
from tests.support.summarizers import (
    BOTH_SUMMARIZERS,
    assert_counters,
    assert_record,
    records_by_serial,
)

pytestmark = BOTH_SUMMARIZERS

A, B, C = "10.5.0.1", "10.5.0.2", "10.5.0.3"
S = 1_000_000  # microseconds per second


def c2s(flags: str) -> bytes:
    """A segment of the web conversation A:40000 -> B:80, without payload."""
    return ether(tcp(A, B, 40000, 80, flags))


def s2c(flags: str) -> bytes:
    """A segment of the web conversation B:80 -> A:40000, without payload."""
    return ether(tcp(B, A, 80, 40000, flags))


def run(tmp_path, summarize, frames, **settings):
    summary = summarize(write_pcap(tmp_path / "expiry.pcap", frames), **settings)
    return summary, records_by_serial(summary)


def test_udp_flow_ends_idle_only_after_more_than_its_timeout(tmp_path, summarize):
    datagram = ether(udp(A, B, 7000, 8000, b"x"))
    frames = [at(0.0, datagram), at(60.0, datagram), at(120.000001, datagram)]
    summary, (first, second) = run(tmp_path, summarize, frames)
    # 60 s after the last packet is not yet "more than 60 s": the second packet joins.
    assert_record(first, orig_pkts=2, duration_us=60 * S, end_reason="idle")
    assert_record(second, ts_us=T0_US + 120 * S + 1, orig_pkts=1, end_reason="forced")
    assert first.serial != second.serial
    assert_counters(summary, flows_created=2, flows_ended_idle=1, flows_ended_forced=1)


def test_unanswered_syn_times_out_after_the_syn_timeout(tmp_path, summarize):
    syn = ether(tcp(A, B, 40000, 443, "S"))
    frames = [at(0.0, syn), at(30.0, syn), at(60.5, syn)]
    _, (first, second) = run(tmp_path, summarize, frames)
    assert_record(first, orig_pkts=2, conn_state="S0", end_reason="idle")
    assert_record(second, orig_pkts=1, conn_state="S0", end_reason="forced")


def test_established_tcp_uses_the_long_idle_timeout(tmp_path, summarize):
    frames = [
        at(0.0, ether(tcp(A, B, 40000, 443, "S"))),
        at(0.1, ether(tcp(B, A, 443, 40000, "SA"))),
        at(0.2, ether(tcp(A, B, 40000, 443, "A"))),
        at(250.0, ether(tcp(A, B, 40000, 443, "PA", b"still here"))),  # 250 s idle: alive
        at(550.3, ether(tcp(A, B, 40000, 443, "A"))),  # 300.3 s idle: a new flow
    ]
    _, (first, second) = run(tmp_path, summarize, frames)
    assert_record(first, orig_pkts=3, resp_pkts=1, conn_state="S1", end_reason="idle")
    assert_record(second, history="A", conn_state="OTH", end_reason="forced")


def test_icmp_and_other_protocols_have_their_own_idle_timeouts(tmp_path, summarize):
    frames = [
        at(0.0, ether(icmp(A, B, 8))),
        at(0.0, ether(proto_only(A, B, 47, b"gre"))),
        at(61.0, ether(icmp(A, B, 8))),
        at(61.0, ether(proto_only(A, B, 47, b"gre"))),
    ]
    _, records = run(tmp_path, summarize, frames, icmp_idle_s=70, other_idle_s=50)
    # ICMP (70 s) keeps one flow; GRE (50 s) splits in two.
    assert [(r.proto, r.orig_pkts, r.end_reason) for r in records] == [
        (1, 2, "forced"),
        (47, 1, "idle"),
        (47, 1, "forced"),
    ]


def test_idle_timeout_is_configurable(tmp_path, summarize):
    datagram = ether(udp(A, B, 7000, 8000))
    frames = [at(0.0, datagram), at(10.5, datagram)]
    _, records = run(tmp_path, summarize, frames, udp_idle_s=10)
    assert [r.end_reason for r in records] == ["idle", "forced"]


def test_long_flow_is_reported_every_active_timeout_under_one_serial(tmp_path, summarize):
    frames = [at(0.0, ether(udp(A, B, 104, 104, b"q")))]
    frames.append(at(0.5, ether(udp(B, A, 104, 104, b"ans"))))
    frames += [at(t, ether(udp(A, B, 104, 104, b"q"))) for t in range(50, 701, 50)]
    summary, records = run(tmp_path, summarize, frames)
    first, second, third = records
    assert first.serial == second.serial == third.serial
    assert_record(
        first,
        ts_us=T0_US,
        duration_us=250 * S,
        orig_pkts=6,
        resp_pkts=1,
        resp_bytes=3,
        conn_state="SF",
        history="Dd",
        end_reason="active",
    )
    # Counters restart; conn_state and history stay those of the whole flow.
    assert_record(
        second,
        ts_us=T0_US + 300 * S,
        duration_us=250 * S,
        orig_pkts=6,
        resp_pkts=0,
        resp_bytes=0,
        conn_state="SF",
        history="Dd",
        end_reason="active",
    )
    assert_record(third, ts_us=T0_US + 600 * S, orig_pkts=3, end_reason="forced")
    assert_counters(summary, flows_created=1, flows_ended_active=2, flows_ended_forced=1)


def test_active_report_restarts_tcp_flags_but_not_state(tmp_path, summarize):
    frames = [
        at(0.0, ether(tcp(A, B, 40000, 104, "S"))),
        at(0.1, ether(tcp(B, A, 104, 40000, "SA"))),
        at(0.2, ether(tcp(A, B, 40000, 104, "A"))),
        at(200.0, ether(tcp(A, B, 40000, 104, "PA", b"dicom"))),
        at(300.0, ether(tcp(A, B, 40000, 104, "PA", b"dicom"))),
        at(301.0, ether(tcp(A, B, 40000, 104, "FA"))),
    ]
    _, (first, second) = run(tmp_path, summarize, frames, active_s=300)
    assert_record(
        first, orig_tcp_flags=0x1A, resp_tcp_flags=0x12, conn_state="S1", end_reason="active"
    )
    assert_record(
        second,
        orig_pkts=2,
        orig_tcp_flags=0x19,
        resp_tcp_flags=0,
        history="ShADF",
        conn_state="S2",
        end_reason="forced",
    )


def test_closed_connection_ends_after_the_linger(tmp_path, summarize):
    frames = [
        at(0.0, c2s("S")),
        at(0.1, s2c("SA")),
        at(0.2, c2s("A")),
        at(0.3, c2s("FA")),
        at(0.4, s2c("FA")),
        at(3.0, c2s("A")),  # within the linger: still this flow
        at(8.0, ether(udp(A, C, 1, 2))),  # exactly 5 s later: not yet ended
        at(8.000001, ether(udp(A, C, 1, 2))),  # now it is
        at(9.0, c2s("A")),  # same ports again: a new flow
    ]
    summary, (closed, other, reopened) = run(tmp_path, summarize, frames)
    assert_record(closed, orig_pkts=4, resp_pkts=2, conn_state="SF", end_reason="end")
    assert_record(other, proto=17, end_reason="forced")
    assert_record(reopened, orig_pkts=1, history="A", conn_state="OTH", end_reason="forced")
    assert_counters(summary, flows_ended_end=1, flows_ended_forced=2)


def test_reset_connection_ends_after_the_linger(tmp_path, summarize):
    frames = [
        at(0.0, ether(tcp(A, B, 40000, 23, "S"))),
        at(0.1, ether(tcp(B, A, 23, 40000, "RA"))),
        at(5.2, ether(udp(A, C, 1, 2))),
    ]
    _, (rejected, _other) = run(tmp_path, summarize, frames, tcp_linger_s=5)
    assert_record(rejected, conn_state="REJ", end_reason="end", duration_us=100_000)


def test_full_table_evicts_the_flow_with_the_oldest_last_packet(tmp_path, summarize):
    def flow(host: str, second: float):
        return at(second, ether(udp(A, host, 5000, 53, b"?")))

    frames = [
        flow("10.5.1.1", 0.0),
        flow("10.5.1.2", 1.0),
        flow("10.5.1.1", 2.0),  # refreshed: now .2 is the stalest
        flow("10.5.1.3", 3.0),  # table full: .2 goes
        flow("10.5.1.4", 4.0),  # then .1 (last packet at 2 s)
    ]
    summary, records = run(tmp_path, summarize, frames, max_flows=2)
    assert [(r.resp_addr[-1], r.end_reason) for r in records] == [
        (1, "resources"),
        (2, "resources"),
        (3, "forced"),
        (4, "forced"),
    ]
    assert_record(records[0], orig_pkts=2)
    assert_counters(summary, flows_created=4, flows_ended_resources=2, flows_ended_forced=2)


def test_expired_flows_make_room_before_anything_is_evicted(tmp_path, summarize):
    frames = [
        at(0.0, ether(udp(A, B, 1, 2))),
        at(61.0, ether(udp(A, C, 1, 2))),  # the first flow is idle by now
        at(62.0, ether(udp(B, C, 1, 2))),
    ]
    summary, records = run(tmp_path, summarize, frames, max_flows=2)
    assert [r.end_reason for r in records] == ["idle", "forced", "forced"]
    assert_counters(summary, flows_ended_resources=0, flows_ended_idle=1)


def test_syn_answered_only_by_flagless_segments_keeps_the_syn_timeout(tmp_path, summarize):
    # The peer's segment has neither ACK nor data: it stays INACTIVE, so the flow is
    # still "SYN_SENT only" and ends after the 30 s SYN timeout, not the 300 s one.
    frames = [
        at(0.0, ether(tcp(A, B, 40000, 443, "S"))),
        at(1.0, ether(tcp(B, A, 443, 40000, ""))),
        at(31.5, ether(udp(A, C, 1, 2))),
    ]
    _, (syn_flow, _other) = run(tmp_path, summarize, frames)
    assert_record(syn_flow, conn_state="S0", resp_pkts=1, end_reason="idle")


def test_active_report_inside_the_linger_then_end(tmp_path, summarize):
    frames = [
        at(0.0, c2s("S")),
        at(0.1, s2c("SA")),
        at(0.2, c2s("A")),
        at(9.0, c2s("FA")),
        at(9.5, s2c("FA")),
        at(10.2, c2s("A")),  # within the linger, and past record start + 10 s
        at(15.3, ether(udp(A, C, 1, 2))),  # 5.1 s after the last packet: the linger is over
    ]
    _, (first, second, _other) = run(tmp_path, summarize, frames, active_s=10)
    assert first.serial == second.serial
    assert_record(first, orig_pkts=3, resp_pkts=2, conn_state="SF", end_reason="active")
    assert_record(
        second,
        ts_us=T0_US + 10_200_000,
        orig_pkts=1,
        resp_pkts=0,
        history="ShAFf",
        conn_state="SF",
        end_reason="end",
    )


def test_out_of_order_packet_does_not_make_a_flow_look_fresh_for_eviction(tmp_path, summarize):
    # Merged sources deliver timestamps slightly out of order. A late packet with an old
    # timestamp leaves the flow's last packet where it was: X (last 10 s) is still
    # staler than Y (last 20 s), so X makes room for Z.
    frames = [
        at(10.0, ether(udp(A, "10.5.2.1", 5000, 53, b"x"))),
        at(20.0, ether(udp(A, "10.5.2.2", 5000, 53, b"y"))),
        at(5.0, ether(udp(A, "10.5.2.1", 5000, 53, b"x"))),
        at(30.0, ether(udp(A, "10.5.2.3", 5000, 53, b"z"))),
    ]
    _, records = run(tmp_path, summarize, frames, max_flows=2)
    assert [(r.resp_addr[-1], r.orig_pkts, r.end_reason) for r in records] == [
        (1, 2, "resources"),
        (2, 1, "forced"),
        (3, 1, "forced"),
    ]


def test_out_of_order_packet_does_not_delay_idle_expiry(tmp_path, summarize):
    x = ether(udp(A, "10.5.2.1", 5000, 53, b"x"))
    frames = [
        at(0.0, x),
        at(50.0, ether(udp(A, "10.5.2.2", 5000, 53, b"y"))),
        at(0.0, x),  # a late copy: X's last packet is still at 0 s
        at(60.5, x),  # 60.5 s after X's last packet: X has ended, this starts a new flow
    ]
    _, records = run(tmp_path, summarize, frames)
    assert [(r.resp_addr[-1], r.orig_pkts, r.end_reason) for r in records] == [
        (1, 2, "idle"),
        (2, 1, "forced"),
        (1, 1, "forced"),
    ]


def test_late_copy_behind_many_newer_flows_does_not_delay_idle_expiry(tmp_path, summarize):
    # As above, but with 200 flows newer than X between X and the end of its expiry
    # list: the late copy must leave X's place (oldest) alone however long the list.
    x = ether(udp(A, "10.5.2.1", 5000, 53, b"x"))
    frames = [at(0.0, x)]
    frames += [at(1.0 + i * 0.1, ether(udp(A, "10.5.3.1", 6000 + i, 53))) for i in range(200)]
    frames += [at(0.0, x), at(60.5, x)]  # the late copy, then 60.5 s after X's last packet
    _, records = run(tmp_path, summarize, frames)
    x_records = [r for r in records if r.resp_addr[-1] == 1 and r.resp_addr[2] == 2]
    assert [(r.orig_pkts, r.end_reason) for r in x_records] == [(2, "idle"), (1, "forced")]
