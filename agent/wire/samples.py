"""Synthetic but realistic flow records of one hospital wing, for tests and benchmarks.

A mix modelled on what a wing's SPAN port carries: DNS and NTP to local servers, HL7
over MLLP to the interface engine, DICOM to the PACS, HTTPS to a few cloud services,
mDNS/SSDP multicast chatter (some IPv6), pings, and long-lived monitor streams that
the engine reports every 300 s (`active` records, old serials). About 60 devices, a
dozen servers, 40 internet hosts. Each end that sent carries its MAC as a sensor on the
wing's segment sees it: a wing device its own, a server or internet host the router's.
Seeded: the same seed gives the same records.
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Callable

from agent.flowrecord import FlowRecord

_SYN, _FIN, _RST, _PSH, _ACK = 0x02, 0x01, 0x04, 0x08, 0x10


def _v4(text: str) -> bytes:
    return ipaddress.IPv4Address(text).packed


def _v6(text: str) -> bytes:
    return ipaddress.IPv6Address(text).packed


class _Wing:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.devices = [_v4(f"10.4.2.{n}") for n in range(20, 80)]
        self.devices_v6 = [_v6(f"fe80::2{n:02x}:3eff:fe00:{n:x}") for n in range(20, 50)]
        self.dns, self.ntp = _v4("10.0.0.53"), _v4("10.0.0.123")
        self.hl7_engine, self.pacs = _v4("10.0.8.25"), _v4("10.0.9.10")
        self.cloud = [
            _v4(f"52.{rng.randrange(1, 255)}.{rng.randrange(256)}.{n}") for n in range(40)
        ]
        self.mdns4, self.mdns6 = _v4("224.0.0.251"), _v6("ff02::fb")
        self.ssdp = _v4("239.255.255.250")

    ROUTER_MAC = bytes.fromhex("00000c9ff001")

    def mac_of(self, addr: bytes) -> bytes:
        """What the segment shows for `addr`: a wing device's own MAC, else the router's."""
        if addr in self.devices or addr in self.devices_v6:
            return bytes.fromhex("001a5c00") + addr[-2:]
        return self.ROUTER_MAC

    def device(self) -> bytes:
        return self.rng.choice(self.devices)

    def eph(self) -> int:
        return self.rng.randrange(32768, 61000)


def _tcp(
    wing: _Wing,
    orig: bytes,
    resp: bytes,
    port: int,
    pkts: tuple[int, int],
    payload: tuple[int, int],
) -> dict[str, object]:
    rng = wing.rng
    op = rng.randrange(*pkts)
    rp = max(1, op - rng.randrange(0, max(1, op // 3)))
    ob = rng.randrange(*payload)
    rb = rng.randrange(*payload) * 3
    return {
        "proto": 6,
        "orig_addr": orig,
        "orig_port": wing.eph(),
        "resp_addr": resp,
        "resp_port": port,
        "orig_pkts": op,
        "orig_ip_bytes": ob + 52 * op,
        "orig_bytes": ob,
        "resp_pkts": rp,
        "resp_ip_bytes": rb + 52 * rp,
        "resp_bytes": rb,
        "orig_tcp_flags": _SYN | _ACK | _PSH | _FIN,
        "resp_tcp_flags": _SYN | _ACK | _PSH | _FIN,
        "conn_state": "SF",
        "history": "ShADadFf",
        "duration_us": rng.randrange(2_000, 4_000_000),
    }


def _udp(
    wing: _Wing, orig: bytes, resp: bytes, sport: int, dport: int, one_way: bool, size: int
) -> dict[str, object]:
    rng = wing.rng
    ob = rng.randrange(size // 2, size)
    rb = 0 if one_way else rng.randrange(size, size * 3)
    header = 48 if len(orig) == 16 else 28
    return {
        "proto": 17,
        "orig_addr": orig,
        "orig_port": sport,
        "resp_addr": resp,
        "resp_port": dport,
        "orig_pkts": 1,
        "orig_ip_bytes": ob + header,
        "orig_bytes": ob,
        "resp_pkts": 0 if one_way else 1,
        "resp_ip_bytes": 0 if one_way else rb + header,
        "resp_bytes": rb,
        "orig_tcp_flags": 0,
        "resp_tcp_flags": 0,
        "conn_state": "S0" if one_way else "SF",
        "history": "D" if one_way else "Dd",
        "duration_us": 0 if one_way else rng.randrange(300, 40_000),
    }


def _kinds(wing: _Wing) -> list[tuple[float, Callable[[], dict[str, object]]]]:
    rng = wing.rng
    return [
        (
            0.30,
            lambda: {
                **_udp(wing, wing.device(), wing.dns, wing.eph(), 53, False, 60),
                "service": "dns",
            },
        ),
        (0.05, lambda: _udp(wing, wing.device(), wing.ntp, 123, 123, False, 48)),
        (0.12, lambda: _tcp(wing, wing.device(), wing.hl7_engine, 2575, (6, 30), (200, 4000))),
        (
            0.20,
            lambda: {
                **_tcp(wing, wing.device(), rng.choice(wing.cloud), 443, (8, 120), (500, 40_000)),
                "service": "ssl",
            },
        ),
        (
            0.03,
            lambda: {
                **_tcp(wing, wing.device(), wing.pacs, 104, (200, 4000), (200_000, 3_000_000)),
                "service": "dicom",
            },
        ),
        (
            0.10,
            lambda: {
                **_udp(wing, wing.device(), wing.mdns4, 5353, 5353, True, 300),
                "service": "dns",
            },
        ),
        (0.05, lambda: _udp(wing, rng.choice(wing.devices_v6), wing.mdns6, 5353, 5353, True, 300)),
        (0.07, lambda: _udp(wing, wing.device(), wing.ssdp, wing.eph(), 1900, True, 400)),
        (
            0.04,
            lambda: {
                **_udp(wing, wing.device(), rng.choice(wing.devices), 8, 0, False, 56),
                "proto": 1,
                "conn_state": "OTH",
                "history": "",
            },
        ),
        (
            0.04,
            lambda: {
                **_tcp(wing, wing.device(), wing.device(), 23, (1, 2), (0, 1)),
                "conn_state": "S0",
                "history": "S",
                "resp_pkts": 0,
                "resp_ip_bytes": 0,
                "resp_bytes": 0,
                "orig_bytes": 0,
                "orig_ip_bytes": 44,
                "orig_pkts": 1,
                "orig_tcp_flags": _SYN,
                "resp_tcp_flags": 0,
                "duration_us": 0,
            },
        ),
    ]


def synthetic_flows(
    count: int, seed: int = 1, window_end_us: int = 1_767_225_600_000_000
) -> list[FlowRecord]:
    """`count` records as the engine would emit them in one 10 s window ending at
    `window_end_us` (expiry order, not sorted by start time)."""
    rng = random.Random(seed)
    wing = _Wing(rng)
    kinds = _kinds(wing)
    weights = [w for w, _ in kinds]
    # Long monitor streams (IntelliVue-like) reported as `active` every 300 s.
    monitors = [(wing.device(), 1000 + n) for n in range(8)]
    records = []
    serial = 5_000_000 + seed * 1000
    for index in range(count):
        if index % 97 == 0:
            orig, old_serial = rng.choice(monitors)
            fields: dict[str, object] = {
                **_udp(wing, orig, wing.hl7_engine, 24105, 24105, False, 1200),
                "orig_pkts": 3000,
                "resp_pkts": 3000,
                "duration_us": 299_990_000,
                "end_reason": "active",
                "serial": old_serial,
                "ts_us": window_end_us - 300_000_000 - rng.randrange(10_000_000),
            }
        else:
            fields = rng.choices(kinds, weights)[0][1]()
            serial += rng.randrange(1, 3)
            idle_s = 60 if fields["proto"] != 6 else 5
            end_us = window_end_us - rng.randrange(10_000_000)
            fields.update(
                serial=serial,
                ts_us=end_us - idle_s * 1_000_000 - int(fields["duration_us"]),  # type: ignore[call-overload]
                end_reason="idle" if fields["proto"] != 6 else "end",
            )
        fields.setdefault("service", None)
        fields.update(vlan=None, inner_vlan=None)
        fields["orig_l2_addr"] = wing.mac_of(fields["orig_addr"])  # type: ignore[arg-type]
        if fields["resp_pkts"]:
            fields["resp_l2_addr"] = wing.mac_of(fields["resp_addr"])  # type: ignore[arg-type]
        records.append(FlowRecord(**fields))  # type: ignore[arg-type]
    return records
