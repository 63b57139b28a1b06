"""Generate a realistic, deterministic hospital-wing capture and its ground truth.

    python -m tools.wingcap OUT.pcap [--packets N] [--seed S] [--duration-s D]

writes OUT.pcap (pcap, Ethernet, microseconds) and OUT.truth.jsonl: one JSON object per
flow record the engine must emit with default settings (docs/flow-semantics.md), then
one `summary` object with the engine counters it must report.

The truth is the generator's own bookkeeping of what it decided to send, never a parse
of the file. To keep it unambiguous the planner drops any session that would end a flow
within `SLACK_S` after its timeout at the end of the capture, or reuse a flow key less
than the key's timeout + `SLACK_S` after its previous flow; every gap inside a flow is
far from its timeout. Long flows (DICOM transfers, MLLP links, pings, VRRP) cross the
300 s active timeout; UDP, ICMP and idle TCP flows expire; scans leave S0 and REJ.
"""

from __future__ import annotations

import argparse
import calendar
import json
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from random import Random
from typing import Any

from tools import wingcap_sessions as ws
from tools import wingcap_wing as wm
from tools.wingcap_pcap import SNAPLEN, frame_len, write_pcap
from tools.wingcap_truth import FlowTruth

DEFAULT_PACKETS = 100_000
DEFAULT_SEED = 4
DEFAULT_DURATION_S = 900
MIN_DURATION_S = 660  # room for a transfer that crosses the active timeout and closes
SLACK_S = 10
MIN_SNAPLEN = 128  # QinQ + IPv6 + TCP with options still fit: every header is captured
CAPTURE_EPOCH_S = calendar.timegm((2026, 3, 2, 8, 0, 0))  # a Monday morning, ward 4B
END_REASONS = ("idle", "active", "end", "forced", "resources")
GENERATOR_VERSION = 4


@dataclass
class Plan:
    """Accepted sessions (with their first step time), their records and the counters."""

    end_us: int
    sessions: list[tuple[int, wm.Session]] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)
    packets: int = 0
    wire_bytes: int = 0
    non_ip: int = 0
    flows: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    lanes: dict[tuple[object, ...], list[tuple[int, int]]] = field(default_factory=dict)
    live: list[tuple[int, int]] = field(default_factory=list)  # (first packet, key free)

    def add(self, session: wm.Session) -> bool:
        """Account the session's steps; keep it unless it would make the truth ambiguous."""
        truths = [
            None if spec.proto == wm.ARP else FlowTruth(self.flows + n, spec.identity())
            for n, spec in enumerate(session.flows)
        ]
        packets = wire_bytes = non_ip = 0
        first_us = last_us = -1
        for ts_us, flow, side, flags, payload in session.steps():
            if ts_us > self.end_us or ts_us < last_us:
                self.rejected[session.kind] += 1
                return False
            if first_us < 0:
                first_us = ts_us
            last_us = ts_us
            spec = session.flows[flow]
            payload_len = payload if isinstance(payload, int) else len(payload)
            ip_len, wire = frame_len(spec, flags, payload_len)
            truth = truths[flow]
            if truth is None:
                non_ip += 1
            else:
                truth.packet(ts_us, side, flags & 0xFF, ip_len, payload_len)
            packets += 1
            wire_bytes += wire
        slack_us = SLACK_S * 1_000_000
        records: list[dict[str, Any]] = []
        spans: list[tuple[tuple[object, ...], int, int]] = []
        for spec, truth in zip(session.flows, truths, strict=True):
            if truth is None:
                continue
            flow_records = truth.finish(self.end_us, slack_us)
            busy_until = truth.busy_until_us(self.end_us)
            lane = spec.lane()
            span = (truth.first_ts_us, busy_until + slack_us)
            clash = any(span[0] <= b and a <= span[1] for a, b in self.lanes.get(lane, ()))
            if flow_records is None or clash:
                self.rejected[session.kind] += 1
                return False
            records.extend(flow_records)
            spans.append((lane, *span))
        for lane, start, stop in spans:
            self.lanes.setdefault(lane, []).append((start, stop))
            self.live.append((start, stop - slack_us))
        self.sessions.append((first_us, session))
        self.records.extend(records)
        self.flows += len(spans)
        self.packets += packets
        self.wire_bytes += wire_bytes
        self.non_ip += non_ip
        return True

    def counters(self) -> dict[str, Any]:
        """The engine counters this capture must produce (engine_counters in engine.h)."""
        ended = Counter(record["end_reason"] for record in self.records)
        return {
            "packets_seen": self.packets,
            "bytes_seen": self.wire_bytes,
            "packets_in_flows": self.packets - self.non_ip,
            "non_ip": self.non_ip,
            "malformed": 0,
            "truncated": 0,
            "fragments_unmatched": 0,
            "flows_created": self.flows,
            "flows_ended": {reason: ended.get(reason, 0) for reason in END_REASONS},
            "kernel_drops": 0,
            "interface_drops": 0,
        }

    def peak_live_flows(self) -> int:
        """Most flows the engine holds at once (first packet until expiry or end)."""
        events = sorted([(a, 1) for a, _ in self.live] + [(b, -1) for _, b in self.live])
        peak = live = 0
        for _, delta in events:
            live += delta
            peak = max(peak, live)
        return peak


def _backbone(plan: Plan, wing: wm.Wing, rng: Random, packets: int) -> None:
    """Sessions every capture has: gateways, long-lived links, long transfers, polls."""
    end = plan.end_us
    second = 1_000_000
    # VLAN 10's gateway advertises at exactly 0, 1 s, ... end: its last frame ends the capture.
    for vid, offset in ((10, 0), (20, 250_000), (30, 500_000), (0, 750_000)):
        plan.add(ws.vrrp(rng, vid, offset, second, end))
    plan.add(ws.syn_ack_first(wing, rng, 1_000))
    plan.add(ws.mid_stream_reset(wing, rng, 2_000))
    plan.add(ws.hl7_persistent(wing, rng, 37_000, end - 2 * second, mid_stream=True))
    plan.add(ws.hl7_persistent(wing, rng, rng.randrange(20, 120) * second, end - 2 * second, False))
    # Two big studies, each ~6% of the packets: one closes after crossing the active
    # timeout, one is still running when the capture ends.
    segments = max(150, packets * 6 // 150)
    span = rng.randrange(420, 500) * second
    start = rng.randrange(10 * second, end - span - 60 * second)
    plan.add(ws.dicom_store(wing, rng, start, segments, span // segments))
    span = rng.randrange(320, 600) * second
    plan.add(
        ws.dicom_store(wing, rng, end - span, segments, (span - 3 * second) // segments, False)
    )
    # The NMS pings three pumps every 10 s for the whole capture: ICMP active splits.
    for pump in rng.sample(wing.pumps, 3):
        nms = wm.Host("nms", wm.GATEWAY_MAC[10], wm.NMS, pump.vlans)
        plan.add(
            ws.ping(
                wing,
                rng,
                5 * second + rng.randrange(second),
                (end - 10 * second) // (10 * second),
                10 * second,
                (nms, pump),
            )
        )
    # NTP polls every 128 s (port 123 both ways: one flow per poll, each expiring idle).
    for device in [*rng.sample(wing.monitors, 6), wing.switch]:
        t = rng.randrange(128 * second)
        while t < end - 5 * second:
            plan.add(ws.ntp_poll(wing, rng, t, device, 123))
            t += 128 * second


# Session kinds of the random fill, with weights (sessions, not packets).
def _fill_kinds(wing: wm.Wing) -> list[tuple[float, Callable[[Random, int], wm.Session]]]:
    def store(rng: Random, t: int) -> wm.Session:
        segments = max(4, min(3000, int(rng.lognormvariate(4.3, 1.0))))
        return ws.dicom_store(wing, rng, t, segments, rng.randrange(80, 250))

    return [
        (30, lambda rng, t: ws.dns(wing, rng, t, ipv6=False)),
        (6, lambda rng, t: ws.dns(wing, rng, t, ipv6=True)),
        (1.5, lambda rng, t: ws.dns_large(wing, rng, t)),
        (8, lambda rng, t: ws.arp(wing, rng, t)),
        (9, lambda rng, t: ws.tls(wing, rng, t, ipv6=False)),
        (4, lambda rng, t: ws.tls(wing, rng, t, ipv6=True)),
        (1.6, store),
        (3, lambda rng, t: ws.dicom_echo(wing, rng, t)),
        (8, lambda rng, t: ws.hl7_short(wing, rng, t)),
        (2, lambda rng, t: ws.ping(wing, rng, t, rng.randint(3, 20), 1_000_000)),
        (0.4, lambda rng, t: ws.port_scan(wing, rng, t)),
        (2, lambda rng, t: ws.dhcp_renew(wing, rng, t)),
        (0.3, lambda rng, t: ws.dhcp_discover(wing, rng, t)),
        (1, lambda rng, t: ws.syslog_unreachable(wing, rng, t)),
    ]


def plan_capture(packets: int, seed: int, duration_s: int = DEFAULT_DURATION_S) -> Plan:
    """Decide every session of the capture (about `packets` frames, at least that many)."""
    rng = Random(seed)
    wing = wm.Wing(rng)
    plan = Plan(end_us=duration_s * 1_000_000)
    _backbone(plan, wing, rng, packets)
    kinds = _fill_kinds(wing)
    weights = [weight for weight, _ in kinds]
    latest_start = plan.end_us - 60_000_000
    while plan.packets < packets:
        _, build = rng.choices(kinds, weights)[0]
        plan.add(build(rng, rng.randrange(latest_start)))
    return plan


@dataclass(frozen=True)
class Generated:
    """What `generate` wrote: paths, sizes, and the expected engine counters."""

    pcap: Path
    truth: Path
    packets: int
    wire_bytes: int
    flows: int
    records: int
    counters: dict[str, Any]
    peak_live_flows: int
    seconds: float


def truth_path_for(pcap: Path) -> Path:
    """Where the ground truth of `pcap` lives: beside it, `.truth.jsonl`."""
    return pcap.with_name(pcap.stem + ".truth.jsonl")


def generate(
    pcap: str | Path,
    packets: int = DEFAULT_PACKETS,
    seed: int = DEFAULT_SEED,
    duration_s: int = DEFAULT_DURATION_S,
    snaplen: int = SNAPLEN,
) -> Generated:
    """Write the capture and its truth file; raises ValueError on impossible parameters.

    A `snaplen` below the longest frame writes a headers-only capture of the same
    traffic: the truth does not change (the engine counts bytes from IP headers).
    """
    if packets < 1000:
        raise ValueError(f"--packets must be at least 1000 (got {packets})")
    if duration_s < MIN_DURATION_S:
        raise ValueError(f"--duration-s must be at least {MIN_DURATION_S} (got {duration_s})")
    if not MIN_SNAPLEN <= snaplen <= SNAPLEN:
        raise ValueError(f"--snaplen must be from {MIN_SNAPLEN} to {SNAPLEN} (got {snaplen})")
    started = time.perf_counter()
    pcap = Path(pcap)
    plan = plan_capture(packets, seed, duration_s)
    frames, wire_bytes = write_pcap(
        str(pcap), plan.sessions, CAPTURE_EPOCH_S * 1_000_000, seed, snaplen
    )
    # The writer re-walks the same steps the planner accounted: they must agree.
    if (frames, wire_bytes) != (plan.packets, plan.wire_bytes):
        raise AssertionError(
            f"writer wrote {frames}/{wire_bytes}, plan said {plan.packets}/{plan.wire_bytes}"
        )
    counters = plan.counters()
    summary = {
        "type": "summary",
        "generator_version": GENERATOR_VERSION,
        "seed": seed,
        "packets_requested": packets,
        "duration_s": duration_s,
        "snaplen": snaplen,
        "capture_epoch_s": CAPTURE_EPOCH_S,
        "counters": counters,
        "flows": plan.flows,
        "records": len(plan.records),
        "peak_live_flows": plan.peak_live_flows(),
        "sessions_rejected": dict(plan.rejected),
    }
    truth = truth_path_for(pcap)
    with open(truth, "w", encoding="utf-8") as out:
        for record in plan.records:
            record = dict(record, ts_us=record["ts_us"] + CAPTURE_EPOCH_S * 1_000_000)
            out.write(json.dumps({"type": "flow", **record}, separators=(",", ":")) + "\n")
        out.write(json.dumps(summary) + "\n")
    return Generated(
        pcap=pcap,
        truth=truth,
        packets=frames,
        wire_bytes=wire_bytes,
        flows=plan.flows,
        records=len(plan.records),
        counters=counters,
        peak_live_flows=summary["peak_live_flows"],  # type: ignore[arg-type]
        seconds=time.perf_counter() - started,
    )


# Every FlowRecord field the truth states (uid, serial and community_id are the engine's
# own, derived from its serial). Addresses are compared in text form.
TRUTH_FIELDS = (
    "ts_us",
    "duration_us",
    "proto",
    "orig_addr",
    "orig_port",
    "resp_addr",
    "resp_port",
    "vlan",
    "inner_vlan",
    "orig_pkts",
    "orig_ip_bytes",
    "orig_bytes",
    "resp_pkts",
    "resp_ip_bytes",
    "resp_bytes",
    "orig_tcp_flags",
    "resp_tcp_flags",
    "conn_state",
    "history",
    "end_reason",
    "service",
)


def truth_key(record: Any) -> tuple[Any, ...]:
    """A FlowRecord's TRUTH_FIELDS, addresses as text: comparable with a truth record."""
    from agent.flowrecord import format_addr

    values = {name: getattr(record, name) for name in TRUTH_FIELDS}
    values["orig_addr"] = format_addr(record.orig_addr)
    values["resp_addr"] = format_addr(record.resp_addr)
    return tuple(values[name] for name in TRUTH_FIELDS)


@dataclass
class TruthComparison:
    """What an engine run got wrong against a truth file (all empty: an exact match)."""

    expected_records: int
    missing: Counter[tuple[Any, ...]]  # truth records the engine did not produce
    extra: Counter[tuple[Any, ...]]  # engine records the truth does not have
    counter_diff: dict[str, tuple[int, int]]  # name -> (engine, truth)

    @property
    def exact(self) -> bool:
        return not (self.missing or self.extra or self.counter_diff)


def expected_counters(summary: dict[str, Any]) -> dict[str, int]:
    """The truth summary's counters under the engine's names (flows_ended_<reason>)."""
    counters = dict(summary["counters"])
    for reason, count in counters.pop("flows_ended").items():
        counters[f"flows_ended_{reason}"] = count
    return counters


def compare_with_truth(records: list[Any], counters: Any, truth: str | Path) -> TruthComparison:
    """Engine records (FlowRecords) and counters (EngineCounters) against a truth file."""
    expected, summary = load_truth(truth)
    got = Counter(truth_key(record) for record in records)
    want = Counter(tuple(r[name] for name in TRUTH_FIELDS) for r in expected)
    counter_diff = {
        name: (getattr(counters, name), value)
        for name, value in expected_counters(summary).items()
        if getattr(counters, name) != value
    }
    return TruthComparison(len(expected), want - got, got - want, counter_diff)


# `flows --json` names of the fields a truth record states, in the order compared.
_JSON_TRUTH_FIELDS = (
    ("id.orig_h", "orig_addr"),
    ("id.orig_p", "orig_port"),
    ("id.resp_h", "resp_addr"),
    ("id.resp_p", "resp_port"),
    ("vlan", "vlan"),
    ("orig_pkts", "orig_pkts"),
    ("orig_ip_bytes", "orig_ip_bytes"),
    ("orig_bytes", "orig_bytes"),
    ("resp_pkts", "resp_pkts"),
    ("resp_ip_bytes", "resp_ip_bytes"),
    ("resp_bytes", "resp_bytes"),
    ("conn_state", "conn_state"),
    ("history", "history"),
    ("end_reason", "end_reason"),
    ("service", "service"),
)


def json_truth_key(item: dict[str, Any]) -> tuple[Any, ...]:
    """A `flows --json` object's truth-stated fields (absent vlan/service are None)."""
    return (round(item["ts"] * 1e6), *(item.get(name) for name, _ in _JSON_TRUTH_FIELDS))


def truth_json_key(record: dict[str, Any]) -> tuple[Any, ...]:
    """The same key from a truth record, comparable with json_truth_key."""
    return (record["ts_us"], *(record[name] for _, name in _JSON_TRUTH_FIELDS))


def load_truth(truth: str | Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(flow records, summary) from a truth file written by `generate`."""
    records: list[dict[str, Any]] = []
    summary: dict[str, Any] = {}
    with open(truth, encoding="utf-8") as source:
        for line in source:
            item = json.loads(line)
            if item.pop("type") == "flow":
                records.append(item)
            else:
                summary = item
    return records, summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.wingcap", description=__doc__.split("\n")[0]
    )
    parser.add_argument("pcap", help="capture file to write (its truth goes beside it)")
    parser.add_argument(
        "--packets", type=int, default=DEFAULT_PACKETS, help="about how many frames (at least)"
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="same seed, same bytes")
    parser.add_argument(
        "--duration-s", type=int, default=DEFAULT_DURATION_S, help="capture length in seconds"
    )
    parser.add_argument(
        "--snaplen", type=int, default=SNAPLEN, help="cut frames to this many bytes (headers only)"
    )
    args = parser.parse_args(argv)
    try:
        made = generate(args.pcap, args.packets, args.seed, args.duration_s, args.snaplen)
    except (ValueError, OSError) as exc:
        print(f"wingcap: error: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, ValueError) else 1
    ended = ", ".join(f"{k} {v}" for k, v in made.counters["flows_ended"].items() if v)
    print(
        f"wrote {made.pcap}: {made.packets} frames, {made.wire_bytes} bytes, {made.flows} flows, "
        f"{made.records} records ({ended}), peak {made.peak_live_flows} live flows, "
        f"in {made.seconds:.1f} s; truth in {made.truth}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
