"""Generate a deterministic flow-heavy capture: a SYN sweep of a wing and short UDP/ICMP pairs.

    python -m bench.flowgen OUT.pcap --sweep N --dns-pairs M [--ntp-pairs K]
        [--icmp-pairs L] [--seed S] [--wing 10.40.0.0/16] [--ports P] [--rate F] ...

What a sensor on a hospital wing's SPAN port sees while a vulnerability scanner sweeps the
wing and the wing's hosts resolve names: nearly every flow has one or two packets.

- Sweep: a scanner in the IT security subnet sends one SYN to each of N (host, port)
  pairs, drawn without repetition from the wing's live hosts (`--live` of the addresses
  of `--wing`: a /16 or several /24s) times the `--ports` most scanned ports. Most probes
  go unanswered (the host's firewall drops them: 1 packet); `--rst` of them meet a
  closed port (RST+ACK: 2 packets), `--synack` an open one (SYN+ACK, then the scanner's
  kernel resets it: 3 packets).
- DNS: M query/answer pairs from `--clients` wing hosts to two resolvers, over a pool of
  `--names` names, each name always answered with the same address (A record).
- NTP: K client/server pairs (48-byte mode 3 / mode 4) to the site's time server.
- ICMP: L echo request/reply pairs from monitoring stations, each (station, host) pair once
  (an echo's identifier is not part of the flow key, so a pair seen twice would be one flow).

The servers and the scanner are off the wing, so their frames carry the VRRP gateway's
MAC; the wing's hosts have MACs of medical and IT vendors' OUIs. Flows start at `--rate`
per second (packet time) in a seeded random order of kinds; every flow has its own
5-tuple, so the engine finds exactly one flow per flow written (tests/test_flowgen.py
checks it). Frames are Ethernet II, IPv4 with correct header checksums, TCP/UDP checksums
left zero as NIC offload leaves them; the file is classic pcap (microseconds, host byte
order). Same arguments, same bytes.

Besides OUT.pcap it writes OUT.json (the summary printed on stdout): flows and packets by
kind and the arguments, which bench/bench_flowheavy.py reads.
"""

from __future__ import annotations

import argparse
import heapq
import ipaddress
import json
import struct
import sys
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from random import Random
from typing import Any, BinaryIO

GENERATOR_VERSION = 1
CAPTURE_EPOCH_S = 1_772_438_400  # 2026-03-02 08:00 UTC, a Monday morning
LINKTYPE_ETHERNET = 1
MIN_FRAME = 60

# Nmap's most scanned TCP ports first, then the wing's own services (DICOM, HL7/MLLP,
# vendor monitoring ports); more ports, when asked for, are taken from 1 upwards.
TOP_PORTS = (
    80, 23, 443, 21, 22, 25, 3389, 110, 445, 139, 143, 53, 135, 3306, 8080, 1723, 111,
    995, 993, 5900, 1025, 587, 8888, 199, 1720, 465, 548, 113, 81, 6001, 10000, 514, 5060,
    179, 1026, 2000, 8443, 8000, 32768, 554, 26, 1433, 49152, 2001, 515, 8008, 49154,
    1027, 5666, 646, 5000, 5631, 631, 49153, 8081, 2049, 88, 79, 5800, 106, 2121, 1110,
    49155, 6000, 513, 990, 5357, 427, 49156, 543, 544, 5101, 144, 7, 389, 8009, 3128,
    444, 9999, 5009, 7070, 5190, 3000, 5432, 1900, 3986, 13, 1029, 9, 5051, 6646, 49157,
    1028, 873, 1755, 2717, 4899, 9100, 119, 37, 104, 11112, 2575, 4242, 2761, 2762, 8200,
    7001, 24105, 502, 161, 102,
)  # fmt: skip

# Vendors' OUIs for the wing's hosts (patient monitors, pumps, modalities, workstations,
# lab analysers); the gateway is a VRRP virtual MAC (00:00:5e:00:01:VRID).
HOST_OUIS = (0x0009FB, 0x001A5C, 0x000B7E, 0x3C5282, 0x00C0B7, 0x00E0E4, 0x0050C2)
GATEWAY_MAC = bytes.fromhex("00005e000104")

SCANNER = "10.250.0.5"
MONITORS = ("10.250.0.20", "10.250.0.21", "10.250.0.22", "10.250.0.23")
RESOLVERS = ("10.1.1.53", "10.1.1.54")
NTP_SERVER = "10.1.1.123"
CLIENT_PORTS = (32768, 60999)  # Linux's ephemeral range

TCP, UDP, ICMP = 6, 17, 1
SYN, RST, ACK = 0x02, 0x04, 0x10

_PCAP_HEADER = struct.Struct("<IHHiIII")
_RECORD = struct.Struct("<IIII")
_IP4 = struct.Struct("!BBHHHBBH4s4s")
_TCP_SYN = struct.Struct("!HHIIBBHHH4s2s2sII4s")  # SYN with MSS, SACK, timestamps, WS
_MSS_SACK_TS = (b"\x02\x04\x05\xb4", b"\x04\x02", b"\x08\x0a")  # then TSval, TSecr, WS
_TCP_RST = struct.Struct("!HHIIBBHHH")
_UDP = struct.Struct("!HHHH")
_ICMP = struct.Struct("!BBHHH")
_DNS_HEADER = struct.Struct("!HHHHHH")
_DNS_ANSWER = struct.Struct("!HHHIH4s")

_NAME_WORDS = (
    "pacs", "ehr", "lis", "ris", "hl7", "dicom", "portal", "api", "update", "telemetry",
    "license", "ntp", "auth", "sso", "vpn", "mail", "files", "print", "backup", "cdn",
)  # fmt: skip
_NAME_DOMAINS = (
    "st-anne.example", "vendor-cloud.example", "medtech.example", "imaging.example",
    "updates.example.com", "pumps.example.net",
)  # fmt: skip


@dataclass(frozen=True)
class Settings:
    """What to generate (the command line's options)."""

    sweep: int = 0
    dns_pairs: int = 0
    ntp_pairs: int = 0
    icmp_pairs: int = 0
    seed: int = 1
    wing: str = "10.40.0.0/16"
    live: float = 0.25
    ports: int = 100
    rst: float = 0.08
    synack: float = 0.02
    clients: int = 2000
    names: int = 500
    rate: float = 2000.0


@dataclass
class Summary:
    """What was written: the engine must find exactly `flows` flows in `packets` frames."""

    flows: int
    packets: int
    flows_by_kind: dict[str, int]
    packets_by_kind: dict[str, int]
    wire_bytes: int
    duration_s: float
    generator_version: int
    settings: dict[str, Any]


def summary_path_for(pcap: str | Path) -> Path:
    """Where the summary of `pcap` is written: beside it, OUT.json."""
    return Path(pcap).with_suffix(".json")


def _checksum_words(address: bytes) -> int:
    return (address[0] << 8 | address[1]) + (address[2] << 8 | address[3])


class _Host:
    """One end: its IPv4 address, the MAC its frames carry and its checksum words."""

    __slots__ = ("addr", "mac", "words")

    def __init__(self, address: str, mac: bytes) -> None:
        self.addr = ipaddress.IPv4Address(address).packed
        self.mac = mac
        self.words = _checksum_words(self.addr)


class _Frames:
    """Renders Ethernet/IPv4 frames; IP ids advance per sender."""

    def __init__(self) -> None:
        self.ip_id: dict[bytes, int] = {}

    def ip(self, src: _Host, dst: _Host, proto: int, l4: bytes, ttl: int) -> bytes:
        ident = self.ip_id.get(src.addr, src.words & 0xFFFF)
        self.ip_id[src.addr] = ident + 1 & 0xFFFF
        total = 20 + len(l4)
        s = 0x4500 + total + ident + 0x4000 + (ttl << 8 | proto) + src.words + dst.words
        s = (s & 0xFFFF) + (s >> 16)
        s = (s & 0xFFFF) + (s >> 16)
        header = _IP4.pack(
            0x45, 0, total, ident, 0x4000, ttl, proto, ~s & 0xFFFF, src.addr, dst.addr
        )
        frame = dst.mac + src.mac + b"\x08\x00" + header + l4
        return frame if len(frame) >= MIN_FRAME else frame.ljust(MIN_FRAME, b"\x00")


def _dns_name(name: str) -> bytes:
    out = b""
    for label in name.split("."):
        out += bytes((len(label),)) + label.encode("ascii")
    return out + b"\x00"


class _Generator:
    def __init__(self, settings: Settings) -> None:
        self.s = settings
        self.rng = Random(settings.seed)
        self.frames = _Frames()
        self.gateway_side: dict[str, _Host] = {}
        self._wing_hosts()
        self._names()
        self.next_port = {client.addr: self.rng.randint(*CLIENT_PORTS) for client in self.clients}

    def _wing_hosts(self) -> None:
        s = self.s
        addresses: list[ipaddress.IPv4Address] = []
        for network in s.wing.split(","):
            net = ipaddress.IPv4Network(network.strip(), strict=True)
            addresses.extend(net.hosts())
        usable = [a for a in addresses if int(a) & 0xFF not in (0, 1, 2, 3, 255)]  # gateways
        count = max(1, round(len(usable) * s.live))
        live = sorted(self.rng.sample(usable, min(count, len(usable))))
        self.hosts = [
            _Host(
                str(a),
                (HOST_OUIS[i % len(HOST_OUIS)] << 24 | (i * 40503 + 17) & 0xFFFFFF).to_bytes(
                    6, "big"
                ),
            )
            for i, a in enumerate(live)
        ]
        self.clients = self.rng.sample(self.hosts, min(s.clients, len(self.hosts)))
        ports = list(TOP_PORTS[: s.ports])
        if s.ports > len(TOP_PORTS):
            taken = set(TOP_PORTS)
            ports += [p for p in range(1, 65536) if p not in taken][: s.ports - len(TOP_PORTS)]
        self.ports = ports
        if s.sweep > len(self.hosts) * len(ports):
            raise ValueError(
                f"--sweep {s.sweep} is more than the {len(self.hosts)} live hosts x "
                f"{len(ports)} ports of {s.wing}: widen --wing, --live or --ports"
            )
        per_client = (s.dns_pairs + s.ntp_pairs) / max(1, len(self.clients))
        if per_client > (CLIENT_PORTS[1] - CLIENT_PORTS[0]) / 4:
            raise ValueError("too many DNS/NTP pairs per client: raise --clients or --live")
        if s.icmp_pairs > len(MONITORS) * len(self.hosts):
            raise ValueError(f"--icmp-pairs is more than {len(MONITORS)} monitors x live hosts")

    def _names(self) -> None:
        self.name_pool: list[tuple[bytes, bytes]] = []
        for i in range(self.s.names):
            word = _NAME_WORDS[i % len(_NAME_WORDS)]
            domain = _NAME_DOMAINS[(i // len(_NAME_WORDS)) % len(_NAME_DOMAINS)]
            number = i // (len(_NAME_WORDS) * len(_NAME_DOMAINS))
            name = f"{word}{number or ''}.{domain}"
            if domain == "st-anne.example":
                address = bytes((10, 1, 2 + i // 250 % 200, 1 + i % 250))
            else:  # documentation ranges stand for the internet
                address = (
                    bytes((198, 51, 100, i % 254 + 1))
                    if i % 2
                    else bytes((203, 0, 113, i % 254 + 1))
                )
            self.name_pool.append((_dns_name(name), address))

    def off_wing(self, address: str) -> _Host:
        """A host beyond the gateway: on the wing's segment its frames carry the gateway's MAC."""
        host = self.gateway_side.get(address)
        if host is None:
            host = self.gateway_side[address] = _Host(address, GATEWAY_MAC)
        return host

    def client_port(self, client: _Host) -> int:
        port = self.next_port[client.addr]
        self.next_port[client.addr] = port + 1 if port < CLIENT_PORTS[1] else CLIENT_PORTS[0]
        return port

    # Each flow: a list of (microseconds after its start, frame).

    def sweep_flows(self) -> Iterator[tuple[str, list[tuple[int, bytes]]]]:
        s, rng, fr = self.s, self.rng, self.frames
        scanner = self.off_wing(SCANNER)
        ports = self.ports
        for index in rng.sample(range(len(self.hosts) * len(ports)), s.sweep):
            host, port = self.hosts[index // len(ports)], ports[index % len(ports)]
            sport = rng.randint(40000, 65000)
            seq = rng.getrandbits(32)
            syn = _TCP_SYN.pack(
                sport, port, seq, 0, 10 << 4, SYN, 1024, 0, 0,
                *_MSS_SACK_TS, rng.getrandbits(32), 0, b"\x01\x03\x03\x0a",
            )  # fmt: skip
            frames = [(0, fr.ip(scanner, host, TCP, syn, 52))]
            draw = rng.random()
            rtt = rng.randint(150, 2500)
            if draw < s.rst:
                reset = _TCP_RST.pack(
                    port, sport, 0, seq + 1 & 0xFFFFFFFF, 5 << 4, RST | ACK, 0, 0, 0
                )
                frames.append((rtt, fr.ip(host, scanner, TCP, reset, 64)))
                yield "sweep-rst", frames
            elif draw < s.rst + s.synack:
                their = rng.getrandbits(32)
                synack = _TCP_SYN.pack(
                    port, sport, their, seq + 1 & 0xFFFFFFFF, 10 << 4, SYN | ACK, 65160, 0, 0,
                    *_MSS_SACK_TS, rng.getrandbits(32), 0, b"\x01\x03\x03\x07",
                )  # fmt: skip
                reset = _TCP_RST.pack(sport, port, seq + 1 & 0xFFFFFFFF, 0, 5 << 4, RST, 0, 0, 0)
                frames.append((rtt, fr.ip(host, scanner, TCP, synack, 64)))
                frames.append((rtt + rng.randint(20, 200), fr.ip(scanner, host, TCP, reset, 52)))
                yield "sweep-synack", frames
            else:
                yield "sweep-silent", frames

    def dns_flow(self) -> list[tuple[int, bytes]]:
        rng, fr = self.rng, self.frames
        client = self.clients[rng.randrange(len(self.clients))]
        resolver = self.off_wing(RESOLVERS[rng.randrange(len(RESOLVERS))])
        qname, address = self.name_pool[
            min(int(rng.expovariate(8 / len(self.name_pool))), len(self.name_pool) - 1)
        ]
        ident = rng.getrandbits(16)
        question = qname + b"\x00\x01\x00\x01"
        query = _DNS_HEADER.pack(ident, 0x0100, 1, 0, 0, 0) + question
        answer = (
            _DNS_HEADER.pack(ident, 0x8180, 1, 1, 0, 0)
            + question
            + _DNS_ANSWER.pack(0xC00C, 1, 1, 300, 4, address)
        )
        sport = self.client_port(client)
        return [
            (0, fr.ip(client, resolver, UDP, _UDP.pack(sport, 53, 8 + len(query), 0) + query, 64)),
            (
                rng.randint(300, 20000),
                fr.ip(resolver, client, UDP, _UDP.pack(53, sport, 8 + len(answer), 0) + answer, 63),
            ),
        ]

    def ntp_flow(self) -> list[tuple[int, bytes]]:
        rng, fr = self.rng, self.frames
        client = self.clients[rng.randrange(len(self.clients))]
        server = self.off_wing(NTP_SERVER)
        sport = self.client_port(client)
        request = b"\x23" + bytes(39) + rng.randbytes(8)  # v4, mode 3, transmit time
        reply = (
            b"\x24\x02\x03\xe9"
            + bytes(8)
            + b"\x0a\x01\x01\x01"
            + rng.randbytes(16)
            + request[40:]
            + rng.randbytes(8)
        )
        return [
            (0, fr.ip(client, server, UDP, _UDP.pack(sport, 123, 56, 0) + request, 64)),
            (
                rng.randint(200, 3000),
                fr.ip(server, client, UDP, _UDP.pack(123, sport, 56, 0) + reply, 63),
            ),
        ]

    def icmp_flows(self) -> Iterator[list[tuple[int, bytes]]]:
        rng, fr = self.rng, self.frames
        monitors = [self.off_wing(m) for m in MONITORS]
        body = bytes(range(56))
        for number, index in enumerate(
            rng.sample(range(len(MONITORS) * len(self.hosts)), self.s.icmp_pairs)
        ):
            monitor, host = monitors[index % len(MONITORS)], self.hosts[index // len(MONITORS)]
            ident, seq = 0x4000 + index % 0x3FFF, number & 0xFFFF
            yield [
                (0, fr.ip(monitor, host, ICMP, _ICMP.pack(8, 0, 0, ident, seq) + body, 63)),
                (
                    rng.randint(150, 2500),
                    fr.ip(host, monitor, ICMP, _ICMP.pack(0, 0, 0, ident, seq) + body, 64),
                ),
            ]

    def flows(self) -> Iterator[tuple[str, list[tuple[int, bytes]]]]:
        """Every flow in start order, kinds mixed in a seeded random order."""
        s = self.s
        kinds = (
            ["sweep"] * s.sweep
            + ["dns"] * s.dns_pairs
            + ["ntp"] * s.ntp_pairs
            + ["icmp"] * s.icmp_pairs
        )
        self.rng.shuffle(kinds)
        sweep, icmp = self.sweep_flows(), self.icmp_flows()
        for kind in kinds:
            if kind == "sweep":
                yield next(sweep)
            elif kind == "dns":
                yield "dns", self.dns_flow()
            elif kind == "ntp":
                yield "ntp", self.ntp_flow()
            else:
                yield "icmp", next(icmp)


def _write_frames(out: BinaryIO, frames: Iterator[tuple[int, bytes]]) -> tuple[int, int]:
    pack = _RECORD.pack
    chunk: list[bytes] = []
    packets = wire = 0
    for ts_us, frame in frames:
        chunk.append(pack(ts_us // 1_000_000, ts_us % 1_000_000, len(frame), len(frame)))
        chunk.append(frame)
        packets += 1
        wire += len(frame)
        if len(chunk) >= 16384:
            out.write(b"".join(chunk))
            chunk.clear()
    out.write(b"".join(chunk))
    return packets, wire


def generate(pcap: str | Path, settings: Settings) -> Summary:
    """Write the capture and its summary (OUT.json); raises ValueError on impossible settings."""
    if min(settings.sweep, settings.dns_pairs, settings.ntp_pairs, settings.icmp_pairs) < 0:
        raise ValueError("flow counts must not be negative")
    if not 0 <= settings.rst + settings.synack <= 1 or min(settings.rst, settings.synack) < 0:
        raise ValueError("--rst and --synack are fractions of the sweep that add up to at most 1")
    if (
        settings.rate <= 0
        or settings.names < 1
        or settings.clients < 1
        or not 0 < settings.live <= 1
    ):
        raise ValueError("--rate, --names, --clients and --live must be positive (--live <= 1)")
    generator = _Generator(settings)
    flows_by_kind: dict[str, int] = {}
    packets_by_kind: dict[str, int] = {}
    interval_us = 1_000_000 / settings.rate
    start_us = CAPTURE_EPOCH_S * 1_000_000
    last_us = start_us

    def timed() -> Iterator[tuple[int, bytes]]:
        nonlocal last_us
        pending: list[tuple[int, int, bytes]] = []  # (time, order, frame) of later packets
        order = 0
        rng = Random(settings.seed ^ 0x71AE)
        for number, (kind, frames) in enumerate(generator.flows()):
            begin = start_us + int(number * interval_us + rng.random() * interval_us)
            flows_by_kind[kind] = flows_by_kind.get(kind, 0) + 1
            packets_by_kind[kind] = packets_by_kind.get(kind, 0) + len(frames)
            while pending and pending[0][0] <= begin:
                ts, _, frame = heapq.heappop(pending)
                yield ts, frame
            yield begin, frames[0][1]
            for offset, frame in frames[1:]:
                order += 1
                heapq.heappush(pending, (begin + offset, order, frame))
            last_us = begin
        while pending:
            ts, _, frame = heapq.heappop(pending)
            last_us = ts
            yield ts, frame

    path = Path(pcap)
    with open(path, "wb") as out:
        out.write(_PCAP_HEADER.pack(0xA1B2C3D4, 2, 4, 0, 0, 65535, LINKTYPE_ETHERNET))
        packets, wire = _write_frames(out, timed())
    summary = Summary(
        flows=sum(flows_by_kind.values()),
        packets=packets,
        flows_by_kind=dict(sorted(flows_by_kind.items())),
        packets_by_kind=dict(sorted(packets_by_kind.items())),
        wire_bytes=wire,
        duration_s=round((last_us - start_us) / 1e6, 6),
        generator_version=GENERATOR_VERSION,
        settings=asdict(settings),
    )
    summary_path_for(path).write_text(json.dumps(asdict(summary), indent=1) + "\n")
    return summary


def load_summary(pcap: str | Path) -> dict[str, Any]:
    """The summary generate() wrote beside `pcap`."""
    loaded: dict[str, Any] = json.loads(summary_path_for(pcap).read_text())
    return loaded


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.flowgen", description=__doc__.split("\n")[0]
    )
    d = Settings()
    parser.add_argument("pcap", help="capture file to write (its summary goes beside it, .json)")
    parser.add_argument("--sweep", type=int, default=d.sweep, help="SYN probes, one flow each")
    parser.add_argument("--dns-pairs", type=int, default=d.dns_pairs, help="DNS query/answer flows")
    parser.add_argument(
        "--ntp-pairs", type=int, default=d.ntp_pairs, help="NTP request/reply flows"
    )
    parser.add_argument("--icmp-pairs", type=int, default=d.icmp_pairs, help="ICMP echo flows")
    parser.add_argument("--seed", type=int, default=d.seed, help="same seed, same bytes")
    parser.add_argument(
        "--wing", default=d.wing, help="the swept networks, comma-separated (%(default)s)"
    )
    parser.add_argument(
        "--live", type=float, default=d.live, help="fraction of addresses in use (%(default)s)"
    )
    parser.add_argument(
        "--ports", type=int, default=d.ports, help="ports probed per host (%(default)s)"
    )
    parser.add_argument(
        "--rst", type=float, default=d.rst, help="fraction of probes reset (%(default)s)"
    )
    parser.add_argument(
        "--synack", type=float, default=d.synack, help="fraction of probes accepted (%(default)s)"
    )
    parser.add_argument(
        "--clients", type=int, default=d.clients, help="DNS/NTP clients (%(default)s)"
    )
    parser.add_argument(
        "--names", type=int, default=d.names, help="distinct DNS names (%(default)s)"
    )
    parser.add_argument(
        "--rate", type=float, default=d.rate, help="new flows per second (%(default)s)"
    )
    args = parser.parse_args(argv)
    settings = Settings(
        sweep=args.sweep,
        dns_pairs=args.dns_pairs,
        ntp_pairs=args.ntp_pairs,
        icmp_pairs=args.icmp_pairs,
        seed=args.seed,
        wing=args.wing,
        live=args.live,
        ports=args.ports,
        rst=args.rst,
        synack=args.synack,
        clients=args.clients,
        names=args.names,
        rate=args.rate,
    )
    try:
        summary = generate(args.pcap, settings)
    except ValueError as exc:
        print(f"flowgen: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(asdict(summary)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
