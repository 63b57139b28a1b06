"""Pure-Python reference summarizer: docs/flow-semantics.md, written out slowly and plainly.

This is the oracle the C engine is held to (tests/test_differential.py). It shares no
code with the engine: it reads pcap / pcapng files with its own small reader
(tests/support/capturefile.py), parses frames with `struct`, keeps flows in a dict and
scans them all on every frame. Speed does not matter here; being obviously right does.
Where the spec leaves a choice open, the choice made is commented with "spec:" so it
can be argued about.

Public entry points:
- `ReferenceSettings`: timeouts and table size (microseconds, like struct engine_settings).
- `ReferenceEngine`: feed frames with `handle_frame`, end with `flush`; `records` and
  `counters` hold the result.
- `summarize_file(path, settings) -> ReferenceResult`: the whole file, flushed.
"""

from __future__ import annotations

import re
import struct
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from agent.flowrecord import END_REASONS, FlowRecord
from tests.support.capturefile import CapturedFrame, CaptureFormatError, read_capture

# The capture reader lives in tests/support/capturefile.py; re-exported here because
# tools (native/fuzz/make_seeds.py) read captures through the reference.
__all__ = [
    "CaptureFormatError",
    "ReferenceEngine",
    "ReferenceResult",
    "ReferenceSettings",
    "parse_frame",
    "read_capture",
    "summarize_file",
]

# ---------------------------------------------------------------- settings and counters


@dataclass(frozen=True)
class ReferenceSettings:
    """The engine's knobs, with the spec's defaults (all times in microseconds)."""

    max_flows: int = 65536
    tcp_idle_us: int = 300_000_000
    tcp_syn_idle_us: int = 30_000_000
    udp_idle_us: int = 60_000_000
    icmp_idle_us: int = 60_000_000
    other_idle_us: int = 60_000_000
    tcp_linger_us: int = 5_000_000
    active_us: int = 300_000_000


COUNTER_NAMES = (
    "packets_seen",
    "bytes_seen",
    "packets_in_flows",
    "non_ip",
    "malformed",
    "truncated",
    "fragments_unmatched",
    "flows_created",
    *(f"flows_ended_{reason}" for reason in END_REASONS),
    "clock_steps_held",
    "kernel_drops",
    "interface_drops",
    "flow_macs_unrecorded",
)

FRAGMENT_MEMORY_ENTRIES = 4096
# spec: the engine keeps at most min(this, 2 x max_flows) distinct MACs of running flows.
MAC_TABLE_MAX = 4096
# spec: the farthest one packet may move the clock on its own (ENGINE_CLOCK_STEP_US).
CLOCK_STEP_US = 10_000_000

# ---------------------------------------------------------------- frame parsing

OK, NON_IP, MALFORMED, TRUNCATED, FRAGMENT_LATER = (
    "ok",
    "non_ip",
    "malformed",
    "truncated",
    "fragment_later",
)

VLAN_TPIDS = (0x8100, 0x88A8, 0x9100)
ETHERTYPE_IPV4, ETHERTYPE_IPV6 = 0x0800, 0x86DD
IPV6_WALKED = (0, 43, 44, 60, 51)  # hop-by-hop, routing, fragment, dest options, AH
IPV6_MAX_EXTENSION_HEADERS = 8

ICMP4_COUNTERPART = {8: 0, 0: 8, 13: 14, 14: 13, 15: 16, 16: 15, 10: 9, 9: 10, 17: 18, 18: 17}
ICMP6_COUNTERPART = {
    128: 129,
    129: 128,
    133: 134,
    134: 133,
    135: 136,
    136: 135,
    130: 131,
    131: 130,
    139: 140,
    140: 139,
    144: 145,
    145: 144,
}


@dataclass
class Parsed:
    """What one frame is. Only `kind` is meaningful unless kind is OK / FRAGMENT_LATER."""

    kind: str
    vlans: tuple[int, ...] = ()
    src: bytes = b""
    dst: bytes = b""
    proto: int = 0
    sport: int = 0
    dport: int = 0
    ip_len: int = 0
    payload_len: int = 0
    tcp_flags: int = 0
    first_fragment: bool = False
    frag_id: int = 0
    l2_src: bytes | None = None  # Ethernet source (link type 1 only)


def parse_frame(linktype: int, data: bytes, wire_len: int) -> Parsed:
    """Link layer first, then IP. Never reads beyond `data` (the captured bytes)."""
    vlans: list[int] = []
    # Ethernet and both Linux cooked headers: (header length, where the EtherType is).
    ethertype_links = {1: (14, 12), 113: (16, 14), 276: (20, 0)}
    if linktype in ethertype_links:
        offset, ethertype_at = ethertype_links[linktype]
        if len(data) < offset:
            return Parsed(TRUNCATED)
        ethertype = struct.unpack(">H", data[ethertype_at : ethertype_at + 2])[0]
        # spec: SLL / SLL2 protocol fields go through the same tag walk ("the same way").
        while ethertype in VLAN_TPIDS:
            if len(data) < offset + 4:
                return Parsed(TRUNCATED)
            tci, ethertype = struct.unpack(">HH", data[offset : offset + 4])
            if len(vlans) < 2:
                vlans.append(tci & 0x0FFF)
            offset += 4
        version = {ETHERTYPE_IPV4: 4, ETHERTYPE_IPV6: 6}.get(ethertype)
    elif linktype in (12, 101):  # raw IP, version from the first nibble
        if len(data) < 1:
            return Parsed(TRUNCATED)
        offset = 0
        version = data[0] >> 4
        if version not in (4, 6):
            return Parsed(MALFORMED)
    elif linktype == 228:
        offset, version = 0, 4
    elif linktype == 229:
        offset, version = 0, 6
    elif linktype == 0:  # BSD loopback: address family, host byte order of the writer
        if len(data) < 4:
            return Parsed(TRUNCATED)
        family = struct.unpack("<I", data[0:4])[0]
        if family > 0xFFFF:  # written on a big-endian machine
            family = struct.unpack(">I", data[0:4])[0]
        offset = 4
        version = 4 if family == 2 else 6 if family in (10, 24, 28, 30) else None
    else:
        raise ValueError(f"link type {linktype} is not decoded")
    if version is None:
        return Parsed(NON_IP)
    room_on_wire = wire_len - offset  # what the wire frame allows the IP packet
    if version == 4:
        parsed = _parse_ipv4(data[offset:], room_on_wire)
    else:
        parsed = _parse_ipv6(data[offset:], room_on_wire)
    parsed.vlans = tuple(vlans)
    if linktype == 1:
        parsed.l2_src = data[6:12]
    return parsed


def _parse_ipv4(ip: bytes, room_on_wire: int) -> Parsed:
    if len(ip) < 1:
        return Parsed(TRUNCATED)
    if ip[0] >> 4 != 4:
        return Parsed(MALFORMED)
    header_len = (ip[0] & 0x0F) * 4
    if header_len < 20:
        return Parsed(MALFORMED)
    if len(ip) < header_len:
        return Parsed(TRUNCATED)
    total_len, frag_id, flags_offset = struct.unpack(">HHH", ip[2:8])
    if total_len < header_len or total_len > room_on_wire:
        return Parsed(MALFORMED)
    proto = ip[9]
    src, dst = ip[12:16], ip[16:20]
    more_fragments = bool(flags_offset & 0x2000)
    frag_offset = flags_offset & 0x1FFF
    if frag_offset > 0:
        return Parsed(
            FRAGMENT_LATER,
            src=src,
            dst=dst,
            proto=proto,
            ip_len=total_len,
            payload_len=total_len - header_len,
            frag_id=frag_id,
        )
    # Ethernet padding beyond the total length is not part of the packet.
    captured_ip = ip[:total_len]
    parsed = _parse_l4(proto, captured_ip[header_len:], total_len - header_len)
    parsed.src, parsed.dst, parsed.ip_len = src, dst, total_len
    parsed.first_fragment = more_fragments
    parsed.frag_id = frag_id
    return parsed


def _parse_ipv6(ip: bytes, room_on_wire: int) -> Parsed:
    if len(ip) < 1:
        return Parsed(TRUNCATED)
    if ip[0] >> 4 != 6:
        return Parsed(MALFORMED)
    if len(ip) < 40:
        return Parsed(TRUNCATED)
    ip_len = 40 + struct.unpack(">H", ip[4:6])[0]
    # spec: the "larger than the wire frame allows" rule is written for IPv4; the
    # reference applies it to IPv6's payload length too.
    if ip_len > room_on_wire:
        return Parsed(MALFORMED)
    captured_ip = ip[:ip_len]
    src, dst = ip[8:24], ip[24:40]
    next_header = ip[6]
    offset = 40
    first_fragment, frag_id = False, 0
    walked = 0
    while next_header in IPV6_WALKED and walked < IPV6_MAX_EXTENSION_HEADERS:
        needed = 8 if next_header == 44 else 2
        if offset + needed > ip_len:
            return Parsed(MALFORMED)
        if offset + needed > len(captured_ip):
            return Parsed(TRUNCATED)
        this_header = next_header
        next_header = captured_ip[offset]
        walked += 1
        if this_header == 44:
            offset_flags, ident = struct.unpack(">HI", captured_ip[offset + 2 : offset + 8])
            offset += 8
            frag_offset, more = offset_flags >> 3, bool(offset_flags & 1)
            if frag_offset > 0:
                return Parsed(
                    FRAGMENT_LATER,
                    src=src,
                    dst=dst,
                    proto=next_header,
                    ip_len=ip_len,
                    payload_len=ip_len - offset,
                    frag_id=ident,
                )
            first_fragment, frag_id = more, ident
        elif this_header == 51:
            offset += (captured_ip[offset + 1] + 2) * 4
        else:
            offset += (captured_ip[offset + 1] + 1) * 8
    if offset > ip_len:
        return Parsed(MALFORMED)
    parsed = _parse_l4(next_header, captured_ip[offset:], ip_len - offset)
    parsed.src, parsed.dst, parsed.ip_len = src, dst, ip_len
    parsed.first_fragment, parsed.frag_id = first_fragment, frag_id
    return parsed


def _parse_l4(proto: int, l4: bytes, ip_payload_len: int) -> Parsed:
    """`l4`: the captured bytes after the IP header(s); `ip_payload_len` from headers."""
    if proto == 6:
        if ip_payload_len < 20:
            return Parsed(MALFORMED)
        if len(l4) < 14:  # ports, sequence numbers, data offset and flags
            return Parsed(TRUNCATED)
        sport, dport = struct.unpack(">HH", l4[0:4])
        data_offset = (l4[12] >> 4) * 4
        if data_offset < 20 or data_offset > ip_payload_len:
            return Parsed(MALFORMED)
        return Parsed(
            OK,
            proto=6,
            sport=sport,
            dport=dport,
            tcp_flags=l4[13],
            payload_len=ip_payload_len - data_offset,
        )
    if proto in (17, 132):
        header_len = 8 if proto == 17 else 12
        if ip_payload_len < header_len:
            return Parsed(MALFORMED)
        if len(l4) < 4:
            return Parsed(TRUNCATED)
        sport, dport = struct.unpack(">HH", l4[0:4])
        return Parsed(
            OK, proto=proto, sport=sport, dport=dport, payload_len=ip_payload_len - header_len
        )
    if proto in (1, 58):
        # spec: an ICMP packet too short to hold type and code by its own header
        # lengths is malformed; one whose bytes were not captured is truncated.
        if ip_payload_len < 2:
            return Parsed(MALFORMED)
        if len(l4) < 2:
            return Parsed(TRUNCATED)
        icmp_type, code = l4[0], l4[1]
        counterparts = ICMP4_COUNTERPART if proto == 1 else ICMP6_COUNTERPART
        dport = counterparts.get(icmp_type, code)
        return Parsed(
            OK, proto=proto, sport=icmp_type, dport=dport, payload_len=max(0, ip_payload_len - 8)
        )
    return Parsed(OK, proto=proto, payload_len=ip_payload_len)


# ---------------------------------------------------------------- flows

INACTIVE, SYN_SENT, SYN_ACK_SENT, PARTIAL, ESTABLISHED, CLOSED, RESET = (
    "INACTIVE",
    "SYN_SENT",
    "SYN_ACK_SENT",
    "PARTIAL",
    "ESTABLISHED",
    "CLOSED",
    "RESET",
)
FIN, SYN, RST, ACK = 0x01, 0x02, 0x04, 0x10
ORIG, RESP = 0, 1
MAX_HISTORY = 16
RSTOS0_HISTORY = re.compile(r"\^?S[^HAFGIQ]*R")


def _padded(addr: bytes) -> bytes:
    """Addresses compare as 16-byte strings, v4 in the first 4 bytes."""
    return addr + bytes(16 - len(addr))


@dataclass
class Direction:
    """One side's counters for the current record."""

    pkts: int = 0
    ip_bytes: int = 0
    payload_bytes: int = 0
    tcp_flags: int = 0


@dataclass
class Flow:
    serial: int
    proto: int
    vlans: tuple[int, ...]
    endpoints: tuple[tuple[bytes, int], tuple[bytes, int]]  # (orig (addr, port), resp ...)
    record_first_us: int
    record_last_us: int
    last_packet_us: int  # of the flow, drives idle expiry and eviction
    last_touch: int  # order of the last update, breaks ties between equal timestamps
    stats: list[Direction] = field(default_factory=lambda: [Direction(), Direction()])
    history: str = ""
    tcp_state: list[str] = field(default_factory=lambda: [INACTIVE, INACTIVE])
    # Over the flow's whole life (conn_state is cumulative):
    ever_sent: list[bool] = field(default_factory=lambda: [False, False])
    payload_total: list[int] = field(default_factory=lambda: [0, 0])
    # Each side's first Ethernet source, kept for the flow's life (orig, resp).
    l2_addr: list[bytes | None] = field(default_factory=lambda: [None, None])


@dataclass
class ReferenceResult:
    records: list[FlowRecord]
    counters: dict[str, int]


class ReferenceEngine:
    """The flow table of docs/flow-semantics.md, one frame at a time."""

    def __init__(self, settings: ReferenceSettings | None = None) -> None:
        self.settings = settings or ReferenceSettings()
        self.counters = dict.fromkeys(COUNTER_NAMES, 0)
        self.records: list[FlowRecord] = []
        self.flows: dict[tuple, Flow] = {}
        self.clock_us = 0
        self.clock_held_us = 0  # the last time offered, too far ahead and held back
        self.next_serial = 0  # the first flow is serial 0, as the engine numbers them
        self.touches = 0
        # (VLANs, src, dst, proto, fragment id) -> serial of the first fragment's flow; oldest
        # entries fall out first.
        self.fragment_memory: OrderedDict[tuple, int] = OrderedDict()
        # MAC -> running flows holding it; a flow side without room gets none (counted).
        self.mac_refs: dict[bytes, int] = {}
        self.mac_capacity = min(MAC_TABLE_MAX, 2 * self.settings.max_flows)

    # ---- the frame path

    def handle_frame(self, linktype: int, data: bytes, wire_len: int, ts_us: int) -> None:
        """Count one frame, expire what its time expires, account it to a flow."""
        self.counters["packets_seen"] += 1
        self.counters["bytes_seen"] += wire_len
        self._offer_clock(ts_us)
        self._expire()
        parsed = parse_frame(linktype, data, wire_len)
        if parsed.kind == OK:
            self._account_packet(parsed, ts_us)
            self.counters["packets_in_flows"] += 1
        elif parsed.kind == FRAGMENT_LATER:
            if self._account_later_fragment(parsed, ts_us):
                self.counters["packets_in_flows"] += 1
            else:
                self.counters["fragments_unmatched"] += 1
        else:
            self.counters[parsed.kind] += 1

    def _offer_clock(self, ts_us: int) -> None:
        """spec: the clock is the largest time seen, but a time more than CLOCK_STEP_US
        ahead moves it only when the time before it was held back too and lies within
        CLOCK_STEP_US of it, or at the end (flush); the first time sets it."""
        agrees = bool(self.clock_held_us) and abs(ts_us - self.clock_held_us) <= CLOCK_STEP_US
        if ts_us <= self.clock_us:
            self.clock_held_us = 0
        elif ts_us - self.clock_us > CLOCK_STEP_US and self.clock_us and not agrees:
            self.clock_held_us = ts_us
            self.counters["clock_steps_held"] += 1
        else:
            self.clock_us = ts_us
            self.clock_held_us = 0

    def _timed_out_by(self, flow: Flow, ts_us: int) -> str | None:
        """The end reason when `flow` is past its timeout by max(clock, ts_us) (a packet
        the clock held back is judged by its own time), else None."""
        timeout_us, reason = self._timeout(flow)
        return reason if max(self.clock_us, ts_us) - flow.last_packet_us > timeout_us else None

    def flush(self) -> None:
        """End every remaining flow as `forced` (end of file).

        spec: a flow past its timeout by the clock has expired; it is not "remaining".
        That only happens when the last packets came with timestamps older than the clock.
        """
        if self.clock_held_us:  # nothing came after it: the end confirms it
            self.clock_us, self.clock_held_us = self.clock_held_us, 0
        self._expire()
        for flow in sorted(self.flows.values(), key=lambda f: f.serial):
            self._emit(flow, "forced")
        self.flows.clear()

    # ---- expiry

    def _timeout(self, flow: Flow) -> tuple[int, str]:
        s = self.settings
        if flow.proto == 6:
            orig_state, resp_state = flow.tcp_state
            if (orig_state == CLOSED and resp_state == CLOSED) or RESET in flow.tcp_state:
                return s.tcp_linger_us, "end"
            if sorted(flow.tcp_state) == sorted([SYN_SENT, INACTIVE]):
                return s.tcp_syn_idle_us, "idle"
            return s.tcp_idle_us, "idle"
        if flow.proto == 17:
            return s.udp_idle_us, "idle"
        if flow.proto in (1, 58):
            return s.icmp_idle_us, "idle"
        return s.other_idle_us, "idle"

    def _expire(self) -> None:
        for key, flow in sorted(self.flows.items(), key=lambda item: item[1].serial):
            timeout_us, reason = self._timeout(flow)
            if self.clock_us - flow.last_packet_us > timeout_us:
                self._emit(flow, reason)
                del self.flows[key]

    # ---- accounting

    def _account_packet(self, p: Parsed, ts_us: int) -> None:
        a, b = (p.src, p.sport), (p.dst, p.dport)
        low, high = sorted([a, b], key=lambda end: (_padded(end[0]), end[1]))
        key = (p.vlans, p.proto, low, high)
        flow = self.flows.get(key)
        if flow is not None and (reason := self._timed_out_by(flow, ts_us)) is not None:
            self._emit(flow, reason)
            del self.flows[key]
            flow = None
        if flow is None:
            flow = self._new_flow(key, p, ts_us)
        else:
            self._maybe_report_active(flow, ts_us)
        direction = ORIG if (p.src, p.sport) == flow.endpoints[ORIG] else RESP
        self._count(flow, direction, p, ts_us)
        flow.stats[direction].tcp_flags |= p.tcp_flags
        self._add_history(flow, direction, p)
        if p.proto == 6:
            self._tcp_transition(flow, direction, p.tcp_flags, p.payload_len)
        if p.first_fragment:
            memory_key = (p.vlans, p.src, p.dst, p.proto, p.frag_id)
            self.fragment_memory.pop(memory_key, None)
            self.fragment_memory[memory_key] = flow.serial
            while len(self.fragment_memory) > FRAGMENT_MEMORY_ENTRIES:
                self.fragment_memory.popitem(last=False)

    def _account_later_fragment(self, p: Parsed, ts_us: int) -> bool:
        serial = self.fragment_memory.get((p.vlans, p.src, p.dst, p.proto, p.frag_id))
        key, flow = next(
            ((k, f) for k, f in self.flows.items() if f.serial == serial), (None, None)
        )
        if flow is None:
            return False
        if (reason := self._timed_out_by(flow, ts_us)) is not None:
            self._emit(flow, reason)
            del self.flows[key]
            return False
        self._maybe_report_active(flow, ts_us)
        # spec: no ports, so the direction comes from the address alone.
        direction = ORIG if p.src == flow.endpoints[ORIG][0] else RESP
        self._count(flow, direction, p, ts_us)
        return True

    def _new_flow(self, key: tuple, p: Parsed, ts_us: int) -> Flow:
        if len(self.flows) >= self.settings.max_flows:
            stalest_key = min(
                self.flows, key=lambda k: (self.flows[k].last_packet_us, self.flows[k].last_touch)
            )
            self._emit(self.flows.pop(stalest_key), "resources")
        sender, receiver = (p.src, p.sport), (p.dst, p.dport)
        flipped = p.proto == 6 and p.tcp_flags & (SYN | ACK) == SYN | ACK
        endpoints = (receiver, sender) if flipped else (sender, receiver)
        flow = Flow(
            serial=self.next_serial,
            proto=p.proto,
            vlans=p.vlans,
            endpoints=endpoints,
            record_first_us=ts_us,
            record_last_us=ts_us,
            last_packet_us=ts_us,
            last_touch=self.touches,
            history="^" if flipped else "",
        )
        self.next_serial += 1
        self.counters["flows_created"] += 1
        self.flows[key] = flow
        return flow

    def _maybe_report_active(self, flow: Flow, ts_us: int) -> None:
        if ts_us >= flow.record_first_us + self.settings.active_us:
            self._emit(flow, "active")
            flow.stats = [Direction(), Direction()]
            flow.record_first_us = ts_us
            flow.record_last_us = ts_us

    def _count(self, flow: Flow, direction: int, p: Parsed, ts_us: int) -> None:
        ip_len, payload = p.ip_len, p.payload_len
        if p.l2_src is not None and flow.l2_addr[direction] is None:
            self._hold_mac(flow, direction, p.l2_src)
        stats = flow.stats[direction]
        stats.pkts += 1
        stats.ip_bytes += ip_len
        stats.payload_bytes += payload
        flow.ever_sent[direction] = True
        flow.payload_total[direction] += payload
        # The record's start is its first packet's time, whatever comes later.
        flow.record_last_us = max(flow.record_last_us, ts_us)
        flow.last_packet_us = max(flow.last_packet_us, ts_us)
        self.touches += 1
        flow.last_touch = self.touches

    def _hold_mac(self, flow: Flow, direction: int, mac: bytes) -> None:
        """spec: the first Ethernet source per side; none while the MAC table is full."""
        if mac in self.mac_refs or len(self.mac_refs) < self.mac_capacity:
            self.mac_refs[mac] = self.mac_refs.get(mac, 0) + 1
            flow.l2_addr[direction] = mac
        else:
            self.counters["flow_macs_unrecorded"] += 1

    def _release_macs(self, flow: Flow) -> None:
        for mac in flow.l2_addr:
            if mac is not None:
                self.mac_refs[mac] -= 1
                if not self.mac_refs[mac]:
                    del self.mac_refs[mac]

    def _add_history(self, flow: Flow, direction: int, p: Parsed) -> None:
        letters = []
        if p.proto == 6:
            flags = p.tcp_flags
            if flags & SYN and not flags & ACK:
                letters.append("s")
            if flags & SYN and flags & ACK:
                letters.append("h")
            if flags & SYN and flags & (FIN | RST):
                letters.append("q")
            if p.payload_len > 0:
                letters.append("d")
            if flags & FIN:
                letters.append("f")
            if flags & RST:
                letters.append("r")
            if flags & ACK and not flags & (SYN | FIN | RST) and p.payload_len == 0:
                letters.append("a")
        elif p.payload_len > 0:
            letters.append("d")
        for letter in letters:
            if direction == ORIG:
                letter = letter.upper()
            if letter not in flow.history and len(flow.history) < MAX_HISTORY:
                flow.history += letter

    def _tcp_transition(self, flow: Flow, direction: int, flags: int, payload_len: int) -> None:
        state = flow.tcp_state
        me, peer = direction, 1 - direction
        if state[me] in (CLOSED, RESET):  # final for that endpoint, whatever comes
            return
        if flags & RST:
            state[me] = RESET
        elif flags & FIN:
            state[me] = CLOSED
        elif flags & SYN and not flags & ACK:
            if state[me] == INACTIVE:
                state[me] = SYN_SENT
        elif flags & SYN and flags & ACK:
            if state[me] == INACTIVE:
                state[me] = SYN_ACK_SENT
        elif flags & ACK or payload_len > 0:
            # spec: "(ACK or data)" is a condition; a packet with neither changes nothing.
            if state[me] in (SYN_SENT, SYN_ACK_SENT):
                state[me] = ESTABLISHED
                if state[peer] in (SYN_ACK_SENT, SYN_SENT):
                    state[peer] = ESTABLISHED
            elif state[me] == INACTIVE:
                state[me] = PARTIAL

    # ---- records

    def _conn_state(self, flow: Flow) -> str:
        if flow.proto == 17:
            return "SF" if flow.ever_sent[RESP] else "S0"
        if flow.proto != 6:
            return "OTH"
        os, rs = flow.tcp_state
        history = flow.history
        if rs == RESET:
            if os in (SYN_SENT, SYN_ACK_SENT) or (os == RESET and flow.payload_total == [0, 0]):
                return "REJ"
            return "RSTRH" if os in (INACTIVE, PARTIAL) else "RSTR"
        if os == RESET:
            if rs in (INACTIVE, PARTIAL):
                return "RSTOS0" if RSTOS0_HISTORY.match(history) else "OTH"
            return "RSTO"
        if os == CLOSED and rs == CLOSED:
            return "SF"
        if os == CLOSED:
            return "SH" if rs in (INACTIVE, PARTIAL) else "S2"
        if rs == CLOSED:
            return "SHR" if os in (INACTIVE, PARTIAL) else "S3"
        if os == SYN_SENT and rs == INACTIVE:
            return "S0"
        if os == ESTABLISHED and rs == ESTABLISHED:
            return "S1"
        return "OTH"

    def _emit(self, flow: Flow, reason: str) -> None:
        (orig_addr, orig_port), (resp_addr, resp_port) = flow.endpoints
        orig, resp = flow.stats
        self.records.append(
            FlowRecord(
                serial=flow.serial,
                ts_us=flow.record_first_us,
                duration_us=flow.record_last_us - flow.record_first_us,
                proto=flow.proto,
                orig_addr=orig_addr,
                orig_port=orig_port,
                resp_addr=resp_addr,
                resp_port=resp_port,
                vlan=flow.vlans[0] if len(flow.vlans) >= 1 else None,
                inner_vlan=flow.vlans[1] if len(flow.vlans) >= 2 else None,
                orig_pkts=orig.pkts,
                orig_ip_bytes=orig.ip_bytes,
                orig_bytes=orig.payload_bytes,
                resp_pkts=resp.pkts,
                resp_ip_bytes=resp.ip_bytes,
                resp_bytes=resp.payload_bytes,
                orig_tcp_flags=orig.tcp_flags,
                resp_tcp_flags=resp.tcp_flags,
                conn_state=self._conn_state(flow),
                history=flow.history,
                end_reason=reason,
                orig_l2_addr=flow.l2_addr[ORIG],
                resp_l2_addr=flow.l2_addr[RESP],
            )
        )
        self.counters[f"flows_ended_{reason}"] += 1
        if reason != "active":  # the flow ends: its MACs go back to the table
            self._release_macs(flow)


def iter_frames(path: str | Path) -> Iterator[tuple[int, CapturedFrame]]:
    """(link type, frame) for every frame of a capture file."""
    linktype, frames = read_capture(path)
    for frame in frames:
        yield linktype, frame


def summarize_file(path: str | Path, settings: ReferenceSettings | None = None) -> ReferenceResult:
    """Summarize a whole capture file: every record (flushed at the end) and the counters."""
    engine = ReferenceEngine(settings)
    for linktype, frame in iter_frames(path):
        engine.handle_frame(linktype, frame.data, frame.wire_len, frame.ts_us)
    engine.flush()
    return ReferenceResult(engine.records, engine.counters)
