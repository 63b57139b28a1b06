"""Frames and the pcap file for the wing-capture generator: struct only, no scapy.

The writer merges every session's steps in time order (a heap holding one pending step
per running session) and renders each step into an Ethernet frame: 802.1Q / QinQ tags,
IPv4 (with a correct header checksum) or IPv6, TCP with options, UDP, ICMP, VRRP, ARP.
TCP and UDP checksums are left zero, as NIC checksum offload leaves them in captures.
"""

from __future__ import annotations

import heapq
import struct
from collections.abc import Iterator, Sequence
from random import Random

from tools.wingcap_truth import ACK, FIN, RST, SYN
from tools.wingcap_wing import (
    ARP,
    FRAG_FIRST,
    FRAG_LATER,
    ICMP4,
    ICMP6,
    TCP,
    UDP,
    FlowSpec,
    Session,
    Step,
)

PCAP_MAGIC_US = 0xA1B2C3D4
LINKTYPE_ETHERNET = 1
SNAPLEN = 65535
MIN_FRAME = 60  # Ethernet minimum without FCS: shorter frames are padded

_PCAP_HEADER = struct.Struct("<IHHiIII")
_RECORD = struct.Struct("<IIII")
_IP4 = struct.Struct("!BBHHHBBH4s4s")
_IP6 = struct.Struct("!IHBB16s16s")
_TCP = struct.Struct("!HHIIBBHHH")
_UDP = struct.Struct("!HHHH")
_ICMP = struct.Struct("!BBHHH")
_ARP = struct.Struct("!HHBBH6s4s6s4s")
_TS_OPTION = struct.Struct("!4sII")
_SYN_OPTIONS = struct.Struct("!4s2s2sII4s")


def ip_header_len(spec: FlowSpec) -> int:
    """IP header bytes of the flow's packets (no options, no extension headers)."""
    return 20 if len(spec.addr[0]) == 4 else 40


def l4_header_len(proto: int, tcp_flags: int) -> int:
    """Transport header bytes the writer uses: SYNs carry 20 bytes of TCP options,
    RSTs none, other segments the 12-byte timestamp option."""
    if proto == TCP:
        if tcp_flags & SYN:
            return 40
        return 20 if tcp_flags & RST else 32
    if proto == UDP and tcp_flags & FRAG_LATER:
        return 0  # a later fragment carries no UDP header
    if proto in (UDP, ICMP4, ICMP6):
        return 8
    return 0


def frame_len(spec: FlowSpec, tcp_flags: int, payload_len: int) -> tuple[int, int]:
    """(IP length, wire length) of one frame, exactly as `FrameWriter` renders it."""
    if spec.proto == ARP:
        return 0, max(MIN_FRAME, 14 + 4 * len(spec.vlans) + 28)
    ip_len = ip_header_len(spec) + l4_header_len(spec.proto, tcp_flags) + payload_len
    return ip_len, max(MIN_FRAME, 14 + 4 * len(spec.vlans) + ip_len)


def _ethernet(dst: bytes, src: bytes, vlans: Sequence[int], ethertype: int) -> bytes:
    header = dst + src
    tpids = (0x88A8, 0x8100) if len(vlans) == 2 else (0x8100,)
    for tpid, vid in zip(tpids, vlans, strict=False):
        header += struct.pack("!HH", tpid, vid)
    return header + struct.pack("!H", ethertype)


def _words_sum(data: bytes) -> int:
    return sum(struct.unpack(f"!{len(data) // 2}H", data))


class _Side:
    """What stays the same for every frame one side of a flow sends."""

    __slots__ = (
        "dst",
        "eth",
        "fragment_offset",
        "ip_id",
        "partial_sum",
        "peer_port",
        "port",
        "seq",
        "src",
        "ttl",
    )

    def __init__(self, spec: FlowSpec, side: int) -> None:
        self.src, self.dst = spec.addr[side], spec.addr[1 - side]
        self.port, self.peer_port = spec.port[side], spec.port[1 - side]
        self.ttl = 64 if side == 0 else 63
        v4 = len(self.src) == 4
        ethertype = 0x0806 if spec.proto == ARP else (0x0800 if v4 else 0x86DD)
        dst_mac = spec.mac[1 - side]
        if spec.proto == ARP and side == 0:
            dst_mac = b"\xff" * 6  # who-has is broadcast
        self.eth = _ethernet(dst_mac, spec.mac[side], spec.vlans, ethertype)
        # Constant part of the IPv4 header checksum: version/IHL, DF, TTL/proto, addresses.
        self.partial_sum = 0x4500 + 0x4000 + (self.ttl << 8 | max(spec.proto, 0))
        if v4:
            self.partial_sum += _words_sum(self.src + self.dst)
        self.ip_id = (self.port * 7919 + side * 104729) & 0xFFFF
        self.seq = (self.port * 2654435761 + self.peer_port * 40503 + side) & 0xFFFFFFFF
        self.fragment_offset = 0  # of the next later fragment, in 8-byte units


class FrameWriter:
    """Renders steps into frames; keeps per-flow TCP sequence numbers and IP ids."""

    def __init__(self, seed: int) -> None:
        # Payload bodies are slices of one seeded random block: synthetic, repeatable.
        self.junk = Random(seed ^ 0x5EED).randbytes(1 << 17)

    def frame(
        self, spec: FlowSpec, ts_us: int, side: int, flags: int, payload: int | bytes
    ) -> bytes:
        """The Ethernet frame of one step (padded to the Ethernet minimum)."""
        if not spec.render:
            spec.render = [_Side(spec, 0), _Side(spec, 1)]
        me: _Side = spec.render[side]  # type: ignore[assignment]
        if isinstance(payload, int):
            offset = ts_us & 0xFFFF
            payload = self.junk[offset : offset + payload]
        proto = spec.proto
        if proto == ARP:
            op = 1 if side == 0 else 2
            target_mac = bytes(6) if side == 0 else spec.mac[0]
            body = _ARP.pack(1, 0x0800, 6, 4, op, spec.mac[side], me.src, target_mac, me.dst)
            return (me.eth + body).ljust(MIN_FRAME, b"\x00")
        if proto == TCP:
            peer: _Side = spec.render[1 - side]  # type: ignore[assignment]
            tsval = (ts_us // 1000) & 0xFFFFFFFF
            if flags & SYN:
                options = _SYN_OPTIONS.pack(
                    b"\x02\x04\x05\xb4", b"\x04\x02", b"\x08\x0a", tsval, 0, b"\x01\x03\x03\x07"
                )
            elif flags & RST:
                options = b""
            else:
                options = _TS_OPTION.pack(b"\x01\x01\x08\x0a", tsval, tsval - 3 & 0xFFFFFFFF)
            doff = (20 + len(options)) // 4
            ack = peer.seq if flags & ACK else 0
            l4 = (
                _TCP.pack(me.port, me.peer_port, me.seq, ack, doff << 4, flags, 64240, 0, 0)
                + options
            )
            me.seq = (me.seq + len(payload) + (1 if flags & (SYN | FIN) else 0)) & 0xFFFFFFFF
        elif proto == UDP and flags & FRAG_LATER:
            l4 = b""
        elif proto == UDP:
            udp_len = flags >> 16 if flags & FRAG_FIRST else 8 + len(payload)
            l4 = _UDP.pack(me.port, me.peer_port, udp_len, 0)
            me.fragment_offset = (8 + len(payload)) // 8
        elif proto in (ICMP4, ICMP6):
            icmp_type, icmp_code = spec.icmp[side] if spec.icmp else (0, 0)
            l4 = _ICMP.pack(icmp_type, icmp_code, 0, 0x4B4B, me.ip_id)
        else:
            l4 = b""
        fragment_word = 0x4000  # DF
        if flags & FRAG_FIRST:
            fragment_word = 0x2000  # MF, offset 0
        elif flags & FRAG_LATER:
            fragment_word = me.fragment_offset  # last fragment: MF clear
        if not flags & FRAG_LATER:  # fragments of one datagram share its IP id
            me.ip_id = (me.ip_id + 1) & 0xFFFF
        body_len = len(l4) + len(payload)
        if len(me.src) == 4:
            total = 20 + body_len
            s = me.partial_sum - 0x4000 + fragment_word + total + me.ip_id
            s = (s & 0xFFFF) + (s >> 16)
            s = (s & 0xFFFF) + (s >> 16)
            ip = _IP4.pack(
                0x45, 0, total, me.ip_id, fragment_word, me.ttl, proto, ~s & 0xFFFF, me.src, me.dst
            )
        else:
            ip = _IP6.pack(0x60000000, body_len, proto, me.ttl, me.src, me.dst)
        frame = me.eth + ip + l4 + payload
        if len(frame) < MIN_FRAME:
            frame = frame.ljust(MIN_FRAME, b"\x00")
        return frame


def _merged_steps(sessions: Sequence[tuple[int, Session]]) -> Iterator[tuple[Session, Step]]:
    """Every session's steps in time order; `sessions` is (first step time, session)."""
    ordered = sorted(range(len(sessions)), key=lambda i: (sessions[i][0], i))
    heap: list[tuple[int, int, Step, Iterator[Step]]] = []
    position = 0
    while heap or position < len(ordered):
        while position < len(ordered) and (
            not heap or sessions[ordered[position]][0] <= heap[0][0]
        ):
            steps = sessions[ordered[position]][1].steps()
            first = next(steps)
            heapq.heappush(heap, (first[0], position, first, steps))
            position += 1
        _, rank, step, steps = heap[0]
        yield sessions[ordered[rank]][1], step
        following = next(steps, None)
        if following is None:
            heapq.heappop(heap)
        else:
            heapq.heapreplace(heap, (following[0], rank, following, steps))


def write_pcap(
    path: str,
    sessions: Sequence[tuple[int, Session]],
    epoch_us: int,
    seed: int,
    snaplen: int = SNAPLEN,
) -> tuple[int, int]:
    """Write the sessions' frames to a pcap (microsecond, Ethernet); returns (frames, bytes).

    Frames longer than `snaplen` are cut as a capture with that snap length cuts them
    (the record keeps the wire length); the flows and counters stay the same.
    """
    writer = FrameWriter(seed)
    frames = wire_bytes = 0
    chunk: list[bytes] = []
    pack_record = _RECORD.pack
    with open(path, "wb") as out:
        out.write(_PCAP_HEADER.pack(PCAP_MAGIC_US, 2, 4, 0, 0, snaplen, LINKTYPE_ETHERNET))
        for session, (ts_us, flow, side, flags, payload) in _merged_steps(sessions):
            frame = writer.frame(session.flows[flow], ts_us, side, flags, payload)
            wire = len(frame)
            if wire > snaplen:
                frame = frame[:snaplen]
            seconds, micros = divmod(epoch_us + ts_us, 1_000_000)
            chunk.append(pack_record(seconds, micros, len(frame), wire))
            chunk.append(frame)
            frames += 1
            wire_bytes += wire
            if len(chunk) >= 8192:
                out.write(b"".join(chunk))
                chunk.clear()
        out.write(b"".join(chunk))
    return frames, wire_bytes
