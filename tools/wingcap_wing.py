"""The hospital wing the generator simulates: hosts, addresses, flows, sessions, and the
TCP building blocks the session kinds (tools/wingcap_sessions.py) are told with.

A session is a short story (a DICOM store, a DNS lookup, a port scan) told as timed
steps over one or more flows. A session's steps come from its own seeded generator, so
the planner (bookkeeping) and the writer (bytes) walk the very same steps.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from random import Random

from tools.wingcap_truth import ACK, FIN, PSH, SYN, FlowIdentity

# (time in us from capture start, flow index in the session, sending side, TCP flags,
#  payload: a length of junk bytes, or the exact bytes)
Step = tuple[int, int, int, int, int | bytes]
# A building block's steps; its return value is the time it ends.
Steps = Generator[Step, None, int]

TCP, UDP, ICMP4, ICMP6, VRRP = 6, 17, 1, 58, 112
ARP = -1  # a non-IP frame: counted by the engine as `non_ip`, never a flow

MSS = 1448  # Ethernet MTU with a 20-byte IPv4 header and TCP timestamps
# IPv4 fragments of a UDP datagram ride in a step's flags field (UDP has no TCP flags):
# the first fragment carries FRAG_FIRST and the whole UDP length << 16, the second
# FRAG_LATER. The truth sees flags & 0xFF, i.e. none.
FRAG_FIRST, FRAG_LATER = 0x100, 0x200
UDP_FIRST_FRAGMENT = 1472  # UDP header + this much data fill a 1500-byte MTU
BROADCAST_MAC = b"\xff" * 6


@dataclass(frozen=True, slots=True)
class Host:
    """One station on the wing: its MAC, one address (v4 or v6) and the tags its frames carry."""

    name: str
    mac: bytes
    addr: bytes
    vlans: tuple[int, ...]  # () untagged, (vid,) 802.1Q, (outer, inner) QinQ


@dataclass(slots=True)
class FlowSpec:
    """A flow as the generator addresses it: side 0 and side 1 (side 0 usually opens it)."""

    proto: int
    addr: tuple[bytes, bytes]
    port: tuple[int, int]  # ICMP: side 0's type and its counterpart type (or code)
    mac: tuple[bytes, bytes]  # source MAC of frames sent by side 0 / side 1
    vlans: tuple[int, ...]
    icmp: tuple[tuple[int, int], tuple[int, int]] | None = None  # (type, code) per side
    # The application the generator makes it speak, as the engine's extractors label it
    # from the payload (Zeek's names); None when no payload names one.
    service: str | None = None
    render: list[object] = field(default_factory=list)  # the writer's per-flow cache

    @property
    def family(self) -> int:
        return 4 if len(self.addr[0]) == 4 else 6

    def identity(self) -> FlowIdentity:
        """The truth's view of this flow (text addresses, outer and inner VLAN)."""
        return FlowIdentity(
            proto=self.proto,
            addr=(_text(self.addr[0]), _text(self.addr[1])),
            port=self.port,
            vlan=self.vlans[0] if self.vlans else None,
            inner_vlan=self.vlans[1] if len(self.vlans) > 1 else None,
            service=self.service,
        )

    def lane(self) -> tuple[object, ...]:
        """The engine's flow key in a canonical form: flows sharing it must not overlap."""
        ends = sorted([(self.addr[0], self.port[0]), (self.addr[1], self.port[1])])
        return (self.vlans, self.proto, *ends)


@dataclass(slots=True)
class Session:
    """A planned session: its flows and a deterministic source of its steps."""

    kind: str
    flows: list[FlowSpec]
    steps_fn: Callable[[Random], Iterator[Step]]
    seed: int

    def steps(self) -> Iterator[Step]:
        """The session's steps in time order (the same sequence on every call)."""
        return self.steps_fn(Random(self.seed))


def _text(addr: bytes) -> str:
    return str(ipaddress.ip_address(addr))


def v4(text: str) -> bytes:
    return ipaddress.IPv4Address(text).packed


def v6(text: str) -> bytes:
    return ipaddress.IPv6Address(text).packed


def mac_address(oui: int, serial: int) -> bytes:
    return oui.to_bytes(3, "big") + (serial & 0xFFFFFF).to_bytes(3, "big")


# ---- the wing ----

GATEWAY_MAC = {vid: mac_address(0x00005E, 0x000100 + vid) for vid in (10, 20, 30, 0)}


class Wing:
    """Hosts of ward 4B: clinical devices, modalities, workstations, servers, a scanner."""

    def __init__(self, rng: Random) -> None:
        self.monitors = [
            Host(f"mon{n}", mac_address(0x0009FB, n), v4(f"10.4.10.{10 + n}"), (10,))
            for n in range(30)
        ]
        self.pumps = [
            Host(f"pump{n}", mac_address(0x001A5C, n), v4(f"10.4.10.{100 + n}"), (10,))
            for n in range(60)
        ]
        modality_tags: list[tuple[int, ...]] = [(20,)] * 4 + [(300, 20)] * 2  # 2 behind QinQ
        self.modalities = [
            Host(f"mod{n}", mac_address(0x000B7E, n), v4(f"10.4.20.{11 + n}"), tags)
            for n, tags in enumerate(modality_tags)
        ]
        self.workstations = [
            Host(f"ws{n}", mac_address(0x3C5282, n), v4(f"10.4.30.{11 + n}"), (30,))
            for n in range(40)
        ]
        self.workstations6 = [
            Host(f"ws{n}", mac_address(0x3C5282, n), v6(f"2001:db8:4b:30::{11 + n:x}"), (30,))
            for n in range(40)
        ]
        self.lab = Host("lab0", mac_address(0x00C0B7, 1), v4("10.4.10.200"), (10,))
        self.scanner = Host("laptop", mac_address(0xF0DEF1, 7), v4("10.4.30.250"), (30,))
        self.switch = Host("sw4b", mac_address(0x00D0B7, 2), v4("10.4.0.2"), ())
        self.ports: dict[bytes, int] = {}
        self.rng = rng

    @staticmethod
    def server(addr: bytes, client: Host) -> Host:
        """A server seen from the client's VLAN: behind the VLAN's gateway MAC."""
        vid = client.vlans[-1] if client.vlans else 0
        return Host("srv", GATEWAY_MAC[vid], addr, client.vlans)

    def ephemeral_port(self, host: Host) -> int:
        """The host's next client port (Linux range, sequential like most stacks)."""
        port = self.ports.get(host.addr)
        if port is None:
            port = self.rng.randrange(32768, 60999)
        port = 32768 if port >= 60999 else port + 1
        self.ports[host.addr] = port
        return port


PACS = v4("10.20.0.10")
PACS_ARCHIVE = v4("10.20.0.11")
HL7_ENGINE = v4("10.20.0.20")
LIS = v4("10.20.0.21")
NMS = v4("10.20.0.30")
DNS4 = v4("10.20.0.53")
DNS6 = v6("2001:db8:20::53")
DHCP_SERVER = v4("10.20.0.67")
NTP_SERVER = v4("10.20.0.123")
SYSLOG = v4("10.20.0.114")
WEB4 = [v4("10.20.0.80"), v4("203.0.113.40"), v4("198.51.100.7")]
WEB6 = [v6("2001:db8:cafe::10"), v6("2001:db8:beef::443")]
SNI = ["ehr.stmary.example", "pacs-viewer.stmary.example", "telemetry.pumpvendor.example"]
NAMES = ["pacs01.stmary.local", "ehr-ie.stmary.local", "time.stmary.local", "lis.stmary.local"]
SOP_CLASSES = {
    "CT": "1.2.840.10008.5.1.4.1.1.2",
    "MR": "1.2.840.10008.5.1.4.1.1.4",
    "US": "1.2.840.10008.5.1.4.1.1.6.1",
    "CR": "1.2.840.10008.5.1.4.1.1.1",
}
VERIFICATION = "1.2.840.10008.1.1"


def new_flow(
    proto: int, a: Host, b: Host, a_port: int, b_port: int, service: str | None = None
) -> FlowSpec:
    return FlowSpec(
        proto, (a.addr, b.addr), (a_port, b_port), (a.mac, b.mac), a.vlans, service=service
    )


# ---- TCP building blocks (each a generator of steps that returns the time it ends) ----


def tcp_handshake(f: int, t: int, rtt_us: int) -> Steps:
    yield (t, f, 0, SYN, 0)
    yield (t + rtt_us, f, 1, SYN | ACK, 0)
    yield (t + rtt_us + 40, f, 0, ACK, 0)
    return t + rtt_us + 40


def tcp_close(f: int, t: int, rtt_us: int, closer: int = 0) -> Steps:
    yield (t, f, closer, FIN | ACK, 0)
    yield (t + rtt_us, f, 1 - closer, FIN | ACK, 0)
    yield (t + rtt_us + 30, f, closer, ACK, 0)
    return t + rtt_us + 30


def tcp_bulk(f: int, t: int, side: int, total: int, gap_us: int, head: bytes = b"") -> Steps:
    """`total` payload bytes from `side` in full segments, the peer ACKing every second one."""
    sent, segments = 0, 0
    while sent < total:
        size = min(MSS, total - sent)
        payload: int | bytes = size
        if sent == 0 and head:
            payload = head + bytes(size - len(head))
        t += gap_us
        sent += size
        segments += 1
        yield (t, f, side, PSH | ACK if sent >= total else ACK, payload)
        if segments % 2 == 0 or sent >= total:
            yield (t + 25, f, 1 - side, ACK, 0)
    return t + 25


def tcp_exchange(f: int, t: int, rtt_us: int, request: int | bytes, reply: int | bytes) -> Steps:
    yield (t, f, 0, PSH | ACK, request)
    yield (t + rtt_us, f, 1, PSH | ACK, reply)
    return t + rtt_us
