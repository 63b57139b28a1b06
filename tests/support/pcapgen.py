"""Build small capture files for tests: packets from scapy, files written byte by byte.

Packets are made with scapy (IPv4/IPv6, TCP/UDP/ICMP/SCTP, VLAN tags) and wrapped in the
link layer a test asks for; `write_pcap` / `write_pcapng` put them in a file, with any
snap length, so truncated captures are as easy as whole ones. libpcap reads these files
for the engine, and tests/reference.py reads them with its own reader: a bug in the
writer shows up as a disagreement, not as two matching mistakes.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import ICMPv6EchoReply, ICMPv6EchoRequest, IPv6
from scapy.layers.l2 import Dot1AD, Dot1Q, Ether
from scapy.layers.sctp import SCTP
from scapy.packet import Packet, Raw

LINKTYPE_NULL = 0
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW_DLT = 12
LINKTYPE_RAW = 101
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_LINUX_SLL2 = 276

# A fixed, recent epoch so timestamps in expectations read as offsets from it.
T0_US = 1_700_000_000_000_000

MAC_A = "02:00:00:00:00:0a"
MAC_B = "02:00:00:00:00:0b"
MAC_ADDRESSES = bytes.fromhex(MAC_B.replace(":", "") + MAC_A.replace(":", ""))  # dst, src


@dataclass(frozen=True)
class Frame:
    """One captured frame: timestamp, the captured bytes, the length it had on the wire."""

    ts_us: int
    data: bytes
    wire_len: int


def at(offset_s: float, packet: Packet | bytes, caplen: int | None = None) -> Frame:
    """A frame `offset_s` seconds after T0, cut to `caplen` captured bytes if given."""
    data = bytes(packet)
    captured = data if caplen is None else data[:caplen]
    return Frame(T0_US + round(offset_s * 1_000_000), captured, len(data))


# ---------------------------------------------------------------- network and transport


def ip(src: str, dst: str, **fields: Any) -> Packet:
    """An IPv4 or IPv6 header, chosen by the address family of `src`."""
    if ipaddress.ip_address(src).version == 4:
        return IP(src=src, dst=dst, **fields)
    return IPv6(src=src, dst=dst, **fields)


def tcp(
    src: str, dst: str, sport: int, dport: int, flags: str, payload: bytes = b"", **ip_fields
) -> Packet:
    """A TCP segment; `flags` in scapy letters ("S", "SA", "A", "PA", "FA", "R" ...)."""
    packet = ip(src, dst, **ip_fields) / TCP(sport=sport, dport=dport, flags=flags)
    return packet / Raw(payload) if payload else packet


def udp(src: str, dst: str, sport: int, dport: int, payload: bytes = b"", **ip_fields) -> Packet:
    packet = ip(src, dst, **ip_fields) / UDP(sport=sport, dport=dport)
    return packet / Raw(payload) if payload else packet


def sctp(src: str, dst: str, sport: int, dport: int, payload: bytes = b"") -> Packet:
    packet = ip(src, dst) / SCTP(sport=sport, dport=dport)
    return packet / Raw(payload) if payload else packet


def icmp(src: str, dst: str, icmp_type: int, code: int = 0, payload: bytes = b"") -> Packet:
    """ICMPv4 of any type; the 8-byte header is followed by `payload`."""
    packet = IP(src=src, dst=dst) / ICMP(type=icmp_type, code=code)
    return packet / Raw(payload) if payload else packet


def icmp6_echo(src: str, dst: str, reply: bool = False, payload: bytes = b"") -> Packet:
    layer = ICMPv6EchoReply() if reply else ICMPv6EchoRequest()
    packet = IPv6(src=src, dst=dst) / layer
    return packet / Raw(payload) if payload else packet


def proto_only(src: str, dst: str, proto: int, payload: bytes) -> Packet:
    """An IP packet of a protocol without ports (GRE 47, ESP 50, ...)."""
    if ipaddress.ip_address(src).version == 4:
        return IP(src=src, dst=dst, proto=proto) / Raw(payload)
    return IPv6(src=src, dst=dst, nh=proto) / Raw(payload)


# ---------------------------------------------------------------- link layers


def ether(
    l3: Packet | bytes,
    vlans: Iterable[int] = (),
    tpids: Iterable[int] | None = None,
    src: str = MAC_A,
    dst: str = MAC_B,
) -> bytes:
    """Ethernet II around `l3`, with 802.1Q tags (or the given TPIDs, outer first)."""
    vlans = list(vlans)
    tpids = list(tpids) if tpids is not None else [0x8100] * len(vlans)
    l3_bytes = bytes(l3)
    ethertype = 0x86DD if l3_bytes[:1] and l3_bytes[0] >> 4 == 6 else 0x0800
    header = bytearray(bytes.fromhex(dst.replace(":", "") + src.replace(":", "")))
    for tpid, vid in zip(tpids, vlans, strict=True):
        header += struct.pack(">HH", tpid, vid)
    header += struct.pack(">H", ethertype)
    return bytes(header) + l3_bytes


def ether_scapy_qinq(l3: Packet, outer: int, inner: int) -> bytes:
    """QinQ the way scapy layers it (802.1ad outer, 802.1Q inner), as a cross-check."""
    return bytes(Ether(src=MAC_A, dst=MAC_B) / Dot1AD(vlan=outer) / Dot1Q(vlan=inner) / l3)


def ether_raw(ethertype: int, payload: bytes) -> bytes:
    """An Ethernet II frame of any EtherType (ARP 0x0806, LLDP 0x88cc ...)."""
    return bytes(Ether(src=MAC_A, dst=MAC_B, type=ethertype)) + payload


def sll(l3: Packet | bytes, protocol: int | None = None) -> bytes:
    """Linux cooked v1 header (16 bytes) around `l3`."""
    l3_bytes = bytes(l3)
    if protocol is None:
        protocol = 0x86DD if l3_bytes[0] >> 4 == 6 else 0x0800
    # packet type 0 (to us), ARPHRD_ETHER, 6-byte address padded to 8, protocol.
    return struct.pack(">HHH8sH", 0, 1, 6, bytes.fromhex("02000000000a"), protocol) + l3_bytes


def sll2(l3: Packet | bytes, protocol: int | None = None) -> bytes:
    """Linux cooked v2 header (20 bytes) around `l3`."""
    l3_bytes = bytes(l3)
    if protocol is None:
        protocol = 0x86DD if l3_bytes[0] >> 4 == 6 else 0x0800
    # protocol, reserved, interface index, ARPHRD_ETHER, packet type, address length, address
    header = struct.pack(">HHIHBB8s", protocol, 0, 2, 1, 0, 6, bytes.fromhex("02000000000a"))
    return header + l3_bytes


def null(l3: Packet | bytes, family: int = 2) -> bytes:
    """BSD loopback header: the address family as a little-endian 32-bit word."""
    return struct.pack("<I", family) + bytes(l3)


# ---------------------------------------------------------------- files


def write_pcap(
    path: Path,
    frames: Iterable[Frame],
    linktype: int = LINKTYPE_ETHERNET,
    snaplen: int = 262144,
    nanosecond: bool = False,
) -> Path:
    """Classic pcap, little endian, microsecond (or nanosecond) timestamps."""
    magic = 0xA1B23C4D if nanosecond else 0xA1B2C3D4
    out = bytearray(struct.pack("<IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype))
    for frame in frames:
        sec, usec = divmod(frame.ts_us, 1_000_000)
        frac = usec * 1000 if nanosecond else usec
        out += struct.pack("<IIII", sec, frac, len(frame.data), frame.wire_len)
        out += frame.data
    path.write_bytes(bytes(out))
    return path


def _pcapng_block(block_type: int, body: bytes) -> bytes:
    body += bytes(-len(body) % 4)
    length = 12 + len(body)
    return struct.pack("<II", block_type, length) + body + struct.pack("<I", length)


def write_pcapng(
    path: Path,
    frames: Iterable[Frame],
    linktype: int = LINKTYPE_ETHERNET,
    snaplen: int = 262144,
    tsresol_exponent: int | None = None,
) -> Path:
    """pcapng: one section, one interface, enhanced packet blocks.

    `tsresol_exponent` n writes an if_tsresol option (10^-n s per tick); None leaves
    the default of microseconds.
    """
    units_per_s = 10 ** (6 if tsresol_exponent is None else tsresol_exponent)
    out = bytearray(
        _pcapng_block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    )  # section header, version 1.0, length unknown
    options = b""
    if tsresol_exponent is not None:
        options = struct.pack("<HHB3x", 9, 1, tsresol_exponent) + struct.pack("<HH", 0, 0)
    out += _pcapng_block(1, struct.pack("<HHI", linktype, 0, snaplen) + options)
    for frame in frames:
        ticks = frame.ts_us * units_per_s // 1_000_000
        body = struct.pack(
            "<IIIII", 0, ticks >> 32, ticks & 0xFFFFFFFF, len(frame.data), frame.wire_len
        )
        out += _pcapng_block(6, body + frame.data)
    path.write_bytes(bytes(out))
    return path
