"""Random but seeded traffic for the differential test: many small conversations at once.

`random_frames(seed, packets, link)` interleaves conversations of every kind the spec
covers (TCP with well-behaved and odd flag sequences, UDP, ICMP/ICMPv6, SCTP, port-less
protocols, IPv6 extension headers, IPv4/IPv6 fragments, VLAN/QinQ tags), plus noise
(ARP, frames cut at random snap lengths, IP headers with broken fields). Time advances
in small random steps with occasional long silences, so idle, active, linger and
eviction all happen when the summarizers run with short timeouts.

The same seed always gives the same frames. Timestamps strictly increase.
"""

from __future__ import annotations

import ipaddress
import random
import struct
from collections.abc import Iterator
from dataclasses import dataclass

from tests.support import pcapgen
from tests.support.pcapgen import Frame

HOSTS4 = [f"10.{net}.0.{host}" for net in (0, 1) for host in range(1, 13)]
HOSTS6 = [f"2001:db8:{net}::{host}" for net in (0, 1) for host in range(1, 5)]
FIN, SYN, RST, PSH, ACK, URG = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20
TCP_ODD_FLAGS = [
    SYN,
    SYN | ACK,
    ACK,
    PSH | ACK,
    FIN,
    FIN | ACK,
    RST,
    RST | ACK,
    SYN | FIN,
    SYN | RST,
    0,
    URG,
    PSH | URG,
    FIN | PSH | URG,
    0xFF,
]
VLAN_TPIDS = [0x8100, 0x88A8, 0x9100]

# One step of a conversation: IP packets (usually one; a burst for fragments).
Step = list[bytes]


@dataclass
class Conversation:
    vlans: tuple[int, ...]
    tpids: tuple[int, ...]
    steps: Iterator[Step]


# ---- packet bytes, built with struct: scapy costs ~1 ms a packet, too slow for thousands.
# No checksums: neither summarizer looks at them.


def ip_packet(src: str, dst: str, proto: int, body: bytes, ident: int = 0, frag: int = 0) -> bytes:
    """IPv4 (20-byte header) or IPv6 (40), chosen by the address; `frag` is IPv4's
    flags+offset word."""
    s, d = ipaddress.ip_address(src).packed, ipaddress.ip_address(dst).packed
    if len(s) == 4:
        header = struct.pack(">BBHHHBBH", 0x45, 0, 20 + len(body), ident, frag, 64, proto, 0)
        return header + s + d + body
    return struct.pack(">IHBB", 6 << 28, len(body), proto, 64) + s + d + body


def tcp_segment(sport: int, dport: int, flags: int, data: bytes = b"") -> bytes:
    return struct.pack(">HHIIBBHHH", sport, dport, 1, 1, 5 << 4, flags, 8192, 0, 0) + data


def udp_datagram(sport: int, dport: int, data: bytes = b"") -> bytes:
    return struct.pack(">HHHH", sport, dport, 8 + len(data), 0) + data


def icmp_message(icmp_type: int, code: int, data: bytes = b"") -> bytes:
    return struct.pack(">BBHI", icmp_type, code, 0, 0) + data


def sctp_packet(sport: int, dport: int, data: bytes = b"") -> bytes:
    return struct.pack(">HHII", sport, dport, 7, 0) + data


def ipv6_extensions(count_each: dict[int, int], last_next: int) -> tuple[int, bytes]:
    """A chain of 8-byte extension headers (hop-by-hop first); returns (first nh, bytes)."""
    order = [nh for nh in (0, 43, 60) for _ in range(count_each.get(nh, 0))]
    chain = b""
    for index, nh in enumerate(order):
        following = order[index + 1] if index + 1 < len(order) else last_next
        if nh == 43:  # routing: type 0... segments left 0, so nothing to route
            chain += struct.pack(">BBBB4x", following, 0, 0, 0)
        else:  # options: one PadN filling the 6 bytes
            chain += struct.pack(">BBBB4x", following, 0, 1, 4)
    return (order[0] if order else last_next), chain


def ipv6_with_extensions(
    src: str, dst: str, nh: int, body: bytes, count_each: dict[int, int]
) -> bytes:
    first, chain = ipv6_extensions(count_each, nh)
    return ip_packet(src, dst, first, chain + body)


def ipv4_fragments(
    src: str, dst: str, proto: int, body: bytes, ident: int, size: int
) -> list[bytes]:
    """`body` cut into IPv4 fragments of `size` bytes (a multiple of 8)."""
    parts = []
    for offset in range(0, len(body), size):
        more = offset + size < len(body)
        frag = (0x2000 if more else 0) | (offset // 8)
        parts.append(ip_packet(src, dst, proto, body[offset : offset + size], ident, frag))
    return parts


def ipv6_fragments(
    src: str, dst: str, proto: int, body: bytes, ident: int, size: int
) -> list[bytes]:
    """`body` cut into IPv6 fragments (fragment header, then `size` bytes each)."""
    parts = []
    for offset in range(0, len(body), size):
        more = offset + size < len(body)
        header = struct.pack(">BBHI", proto, 0, offset | int(more), ident)
        parts.append(ip_packet(src, dst, 44, header + body[offset : offset + size]))
    return parts


class TrafficMix:
    """The generator's state: a random source and the next fragment id."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.frag_id = 1000

    # ---- picking endpoints and payloads

    def pair(self, v6: bool = False) -> tuple[str, str]:
        a, b = self.rng.sample(HOSTS6 if v6 else HOSTS4, 2)
        return a, b

    def port(self) -> int:
        # A small range, so five-tuples come back after their flows ended.
        return self.rng.randint(40000, 40015)

    def payload(self, most: int = 300) -> bytes:
        return self.rng.randbytes(self.rng.choice([0, 0, 1, self.rng.randint(1, most)]))

    # ---- conversations (each a generator of steps)

    def tcp_polite(self, exchanges: int = 12) -> Iterator[Step]:
        rng = self.rng
        a, b = self.pair(v6=rng.random() < 0.2)
        sport, dport = self.port(), rng.choice([80, 104, 443, 2575])

        def c2s(flags: int, data: bytes = b"") -> Step:
            return [ip_packet(a, b, 6, tcp_segment(sport, dport, flags, data))]

        def s2c(flags: int, data: bytes = b"") -> Step:
            return [ip_packet(b, a, 6, tcp_segment(dport, sport, flags, data))]

        if rng.random() < 0.85:
            if rng.random() < 0.9:
                yield c2s(SYN)
                if rng.random() < 0.15:
                    return  # never answered
            yield s2c(SYN | ACK) if rng.random() < 0.9 else s2c(RST | ACK)
        yield c2s(ACK)
        for _ in range(rng.randint(0, exchanges)):
            if rng.random() < 0.5:
                yield c2s(PSH | ACK, self.payload())
            else:
                yield s2c(PSH | ACK, self.payload())
            if rng.random() < 0.5:
                yield rng.choice([c2s, s2c])(ACK)
        ending = rng.choice(["fin", "fin", "rst_orig", "rst_resp", "half", "open"])
        if ending == "fin":
            yield c2s(FIN | ACK)
            yield s2c(FIN | ACK)
            yield c2s(ACK)
        elif ending == "rst_orig":
            yield c2s(RST)
        elif ending == "rst_resp":
            yield s2c(RST | ACK)
        elif ending == "half":
            yield rng.choice([c2s, s2c])(FIN | ACK)

    def tcp_odd(self) -> Iterator[Step]:
        rng = self.rng
        a, b = self.pair(v6=rng.random() < 0.2)
        sport, dport = self.port(), self.port()
        for _ in range(rng.randint(1, 8)):
            segment_ab = tcp_segment(sport, dport, rng.choice(TCP_ODD_FLAGS), self.payload(40))
            segment_ba = tcp_segment(dport, sport, rng.choice(TCP_ODD_FLAGS), self.payload(40))
            if rng.random() < 0.5:
                yield [ip_packet(a, b, 6, segment_ab)]
            else:
                yield [ip_packet(b, a, 6, segment_ba)]

    def udp_exchange(self, datagrams: int = 10) -> Iterator[Step]:
        rng = self.rng
        v6 = rng.random() < 0.3
        a, b = self.pair(v6=v6)
        sport, dport = self.port(), rng.choice([53, 123, 67, 2575, 161])
        for _ in range(rng.randint(1, datagrams)):
            forward = rng.random() < 0.6
            src, dst, sp, dp = (a, b, sport, dport) if forward else (b, a, dport, sport)
            body = udp_datagram(sp, dp, self.payload())
            if v6 and rng.random() < 0.3:
                counts = {nh: rng.randint(0, 2) for nh in (0, 43, 60)}
                yield [ipv6_with_extensions(src, dst, 17, body, counts)]
            else:
                yield [ip_packet(src, dst, 17, body)]

    def long_flow(self) -> Iterator[Step]:
        """Enough packets to outlive the active timeout when the clock is slow."""
        if self.rng.random() < 0.5:
            yield from self.udp_exchange(datagrams=120)
        else:
            yield from self.tcp_polite(exchanges=80)

    def icmp_exchange(self) -> Iterator[Step]:
        rng = self.rng
        if rng.random() < 0.3:
            a, b = self.pair(v6=True)
            request, reply = rng.choice([(128, 129), (135, 136), (133, 134), (1, 4)])
            for _ in range(rng.randint(1, 4)):
                yield [ip_packet(a, b, 58, icmp_message(request, 0, self.payload(64)))]
                if rng.random() < 0.8:
                    yield [ip_packet(b, a, 58, icmp_message(reply, 0, self.payload(64)))]
            return
        a, b = self.pair()
        kind = rng.choice(["echo", "echo", "unreachable", "timestamp", "other"])
        for _ in range(rng.randint(1, 4)):
            if kind == "echo":
                yield [ip_packet(a, b, 1, icmp_message(8, 0, self.payload(64)))]
                if rng.random() < 0.8:
                    yield [ip_packet(b, a, 1, icmp_message(0, 0, self.payload(64)))]
            elif kind == "unreachable":
                quoted = ip_packet(a, b, 17, udp_datagram(1, 2))
                yield [ip_packet(b, a, 1, icmp_message(3, rng.randint(0, 3), quoted))]
            elif kind == "timestamp":
                yield [ip_packet(a, b, 1, icmp_message(13, 0, bytes(12)))]
                yield [ip_packet(b, a, 1, icmp_message(14, 0, bytes(12)))]
            else:
                icmp_type = rng.choice([4, 5, 11, 12, 30])
                yield [ip_packet(a, b, 1, icmp_message(icmp_type, rng.randint(0, 2)))]

    def portless(self) -> Iterator[Step]:
        rng = self.rng
        v6 = rng.random() < 0.3
        a, b = self.pair(v6=v6)
        proto = rng.choice([47, 50, 89, 46, 112, 132])
        sport, dport = self.port(), 3868
        for _ in range(rng.randint(1, 6)):
            forward = rng.random() < 0.6
            src, dst = (a, b) if forward else (b, a)
            if proto == 132:
                sp, dp = (sport, dport) if forward else (dport, sport)
                yield [ip_packet(src, dst, 132, sctp_packet(sp, dp, self.payload(100)))]
            else:
                yield [ip_packet(src, dst, proto, self.payload(100))]

    def fragmented(self) -> Iterator[Step]:
        """One or two datagrams in fragments; sometimes the first one is lost."""
        rng = self.rng
        v6 = rng.random() < 0.3
        a, b = self.pair(v6=v6)
        sport, dport = self.port(), 2049
        for _ in range(rng.randint(1, 2)):
            self.frag_id += 1
            body = udp_datagram(sport, dport, rng.randbytes(rng.randint(60, 400)))
            size = rng.choice([32, 64, 128])
            cut = ipv6_fragments if v6 else ipv4_fragments
            parts = cut(a, b, 17, body, self.frag_id, size)
            fate = rng.random()
            if fate < 0.15:
                parts = parts[1:]  # first fragment lost: the rest is unmatched
            elif fate < 0.25 and len(parts) > 2:
                parts = [parts[1], parts[0], *parts[2:]]  # one later fragment too early
            yield parts
            if rng.random() < 0.5:
                yield [ip_packet(b, a, 17, udp_datagram(dport, sport, self.payload(40)))]

    # ---- noise: frames that belong to no flow, or lie

    def broken_ip(self) -> bytes:
        rng = self.rng
        a, b = self.pair()
        raw = bytearray(ip_packet(a, b, 17, udp_datagram(self.port(), 53, self.payload(20))))
        damage = rng.choice(["ihl", "version", "long", "short", "udp", "tcp"])
        if damage == "ihl":
            raw[0] = 0x40 | rng.randint(0, 4)
        elif damage == "version":
            raw[0] = (rng.choice([0, 5, 7, 15]) << 4) | 5
        elif damage == "long":
            raw[2:4] = struct.pack(">H", len(raw) + rng.randint(1, 500))
        elif damage == "short":
            raw[2:4] = struct.pack(">H", rng.randint(0, 19))
        elif damage == "udp":  # an IP payload shorter than the UDP header
            raw = bytearray(ip_packet(a, b, 17, rng.randbytes(rng.randint(0, 7))))
        else:  # a TCP data offset below 5 or beyond the segment
            segment = bytearray(tcp_segment(self.port(), 80, ACK))
            segment[12] = rng.choice([0, 1, 4, 6, 15]) << 4
            raw = bytearray(ip_packet(a, b, 6, bytes(segment)))
        return bytes(raw)

    # ---- the mix

    def new_conversation(self, vlans_allowed: bool) -> Conversation:
        rng = self.rng
        kinds = [
            (self.tcp_polite, 30),
            (self.tcp_odd, 12),
            (self.udp_exchange, 25),
            (self.icmp_exchange, 12),
            (self.portless, 8),
            (self.fragmented, 8),
            (self.long_flow, 3),
        ]
        make = rng.choices([k for k, _ in kinds], weights=[w for _, w in kinds])[0]
        tags = 0
        if vlans_allowed:
            tags = rng.choices([0, 1, 2, 3], weights=[60, 25, 12, 3])[0]
        vlans = tuple(rng.choice([10, 20, 30, 4095, 0]) for _ in range(tags))
        tpids = tuple(rng.choice(VLAN_TPIDS) for _ in range(tags))
        return Conversation(vlans, tpids, make())


def random_frames(
    seed: int, packets: int, link: str = "ethernet", disorder: float = 0.0
) -> list[Frame]:
    """About `packets` frames of mixed traffic for link "ethernet", "sll", "sll2", "null"
    or "raw".

    `disorder`: the share of frames stamped up to 3 s before the frame ahead of them,
    as captures merged from several sources are; 0 keeps timestamps strictly increasing.
    """
    mix = TrafficMix(seed)
    rng = mix.rng
    ts_us = pcapgen.T0_US
    running: list[Conversation] = []
    frames: list[Frame] = []

    def emit(l3: bytes, conversation: Conversation | None) -> None:
        nonlocal ts_us
        ts_us += 1  # strictly increasing, also inside a burst
        if link == "ethernet":
            vlans = conversation.vlans if conversation else ()
            tpids = conversation.tpids if conversation else ()
            data = pcapgen.ether(l3, vlans=vlans, tpids=tpids)
        elif link == "sll2":
            data = pcapgen.sll2(l3)
        elif link == "sll":
            data = pcapgen.sll(l3)
        elif link == "null":
            data = pcapgen.null(l3, family=2 if l3[0] >> 4 != 6 else rng.choice([10, 24, 28, 30]))
        else:
            data = l3
        wire_len = len(data)
        if rng.random() < 0.01:  # cut by a short snap length, anywhere
            data = data[: rng.randint(1, len(data) - 1)]
        stamp_us = ts_us
        if disorder and rng.random() < disorder:
            stamp_us = max(pcapgen.T0_US, ts_us - rng.randint(1, 3_000_000))
        frames.append(Frame(stamp_us, data, wire_len))

    while len(frames) < packets:
        gap_s = rng.expovariate(1 / 0.02)
        if rng.random() < 0.004:
            gap_s += rng.uniform(1, 40)  # a silence: timeouts fire
        ts_us += int(gap_s * 1_000_000)
        roll = rng.random()
        if roll < 0.01:
            emit(mix.broken_ip(), None)
            continue
        if roll < 0.02 and link != "raw":  # ARP: a raw IP link cannot carry it
            ts_us += 1
            non_ip = _non_ip_frame(link)
            frames.append(Frame(ts_us, non_ip, len(non_ip)))
            continue
        if not running or (len(running) < 40 and rng.random() < 0.15):
            running.append(mix.new_conversation(vlans_allowed=link == "ethernet"))
        conversation = rng.choice(running)
        step = next(conversation.steps, None)
        if step is None:
            running.remove(conversation)
            continue
        for l3 in step:
            emit(l3, conversation)
    return frames


def _non_ip_frame(link: str) -> bytes:
    if link == "sll2":
        return pcapgen.sll2(bytes(28), protocol=0x0806)
    if link == "sll":
        return pcapgen.sll(bytes(28), protocol=0x0806)
    if link == "null":
        return pcapgen.null(bytes(28), family=7)  # an address family that is not IP
    return pcapgen.ether_raw(0x0806, bytes(28))


def mutated(frames: list[Frame], seed: int, share: float = 0.3) -> list[Frame]:
    """A copy of `frames` where `share` of them have 1-3 of their first 80 bytes changed
    (a random value or one flipped bit): headers that lie in every possible way."""
    rng = random.Random(seed)
    out = []
    for frame in frames:
        data = bytearray(frame.data)
        if data and rng.random() < share:
            for _ in range(rng.randint(1, 3)):
                index = rng.randrange(min(len(data), 80))
                if rng.random() < 0.5:
                    data[index] = rng.randrange(256)
                else:
                    data[index] ^= 1 << rng.randrange(8)
        out.append(Frame(frame.ts_us, bytes(data), frame.wire_len))
    return out
