"""The engine's own pcapng reader (native/pcapng.c) on handcrafted files.

Each file is built here block by block, so every case is exactly what it says: both byte
orders, several sections, a link type per interface, time resolutions of 10^-n and 2^-n
seconds with offsets, simple and obsolete packet blocks, unknown blocks, and damaged
files (cut blocks, bad or huge lengths, lengths that disagree, fields past their block).
A frame's time is read from its flow record (one UDP flow per frame), so every time is
checked exactly, on every architecture (tools/cross-test.sh runs this file on armhf,
whose libpcap kept pcapng seconds in a 32-bit time_t).
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from agent.engine import Engine
from agent.errors import CaptureError, UsageError
from tests.support.pcapgen import ether, udp

SHB, IDB, PB, SPB, NRB, ISB, EPB = 0x0A0D0D0A, 1, 2, 3, 4, 5, 6
ETHERNET, RAW, USER0 = 1, 101, 147
T0_S = 1_700_000_000  # 2023-11-14, in seconds


def pad4(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 4)


def block(
    kind: int,
    body: bytes,
    order: str = "<",
    *,
    length: int | None = None,
    trailer: int | None = None,
) -> bytes:
    total = 12 + len(body) if length is None else length
    end = total if trailer is None else trailer
    return struct.pack(order + "II", kind, total) + body + struct.pack(order + "I", end)


def shb(order: str = "<", major: int = 1, minor: int = 0) -> bytes:
    return block(SHB, struct.pack(order + "IHHq", 0x1A2B3C4D, major, minor, -1), order)


def option(code: int, value: bytes, order: str = "<") -> bytes:
    return struct.pack(order + "HH", code, len(value)) + pad4(value)


def idb(
    linktype: int = ETHERNET,
    snaplen: int = 0,
    order: str = "<",
    *,
    tsresol: int | None = None,
    tsoffset: int | None = None,
    extra: bytes = b"",
) -> bytes:
    options = extra
    if tsresol is not None:
        options += option(9, bytes([tsresol]), order)
    if tsoffset is not None:
        options += option(14, struct.pack(order + "q", tsoffset), order)
    if options:
        options += option(0, b"", order)
    return block(IDB, struct.pack(order + "HHI", linktype, 0, snaplen) + options, order)


def epb(
    data: bytes,
    ticks: int,
    iface: int = 0,
    order: str = "<",
    *,
    caplen: int | None = None,
    wire_len: int | None = None,
) -> bytes:
    head = struct.pack(
        order + "IIIII",
        iface,
        ticks >> 32,
        ticks & 0xFFFFFFFF,
        len(data) if caplen is None else caplen,
        len(data) if wire_len is None else wire_len,
    )
    return block(EPB, head + pad4(data), order)


def pb(data: bytes, ticks: int, iface: int = 0, order: str = "<") -> bytes:
    head = struct.pack(
        order + "HHIIII", iface, 0, ticks >> 32, ticks & 0xFFFFFFFF, len(data), len(data)
    )
    return block(PB, head + pad4(data), order)


def spb(data: bytes, order: str = "<") -> bytes:
    return block(SPB, struct.pack(order + "I", len(data)) + pad4(data), order)


def frame(port: int, raw: bool = False) -> bytes:
    """One UDP datagram from port `port`: a flow of its own."""
    packet = udp("10.0.0.1", "10.0.0.2", port, 53, b"x" * 8)
    return bytes(packet) if raw else ether(packet)


def read(path: Path) -> tuple[dict[int, int], dict[str, int], str | None]:
    """Every flow's start time by originator port, the counters, and the error, if any."""
    records = []
    error = None
    with Engine() as engine:
        engine.open_file(path)
        try:
            while not engine.exhausted:
                records.extend(engine.poll())
        except CaptureError as exc:
            error = str(exc)
        records.extend(engine.flush())
        counters = engine.counters()
    times = {r.orig_port: r.ts_us for r in records}
    assert len(times) == len(records)
    return (
        times,
        {
            "packets_seen": counters.packets_seen,
            "non_ip": counters.non_ip,
            "truncated": counters.truncated,
        },
        error,
    )


def write(tmp_path: Path, *blocks: bytes) -> Path:
    path = tmp_path / "handmade.pcapng"
    path.write_bytes(b"".join(blocks))
    return path


# ---------------------------------------------------------------- well-formed files


@pytest.mark.parametrize("order", ["<", ">"], ids=["little-endian", "big-endian"])
def test_either_byte_order_gives_the_same_frames(tmp_path, order):
    us = T0_S * 1_000_000
    path = write(
        tmp_path,
        shb(order),
        idb(order=order),
        epb(frame(1000), us, order=order),
        epb(frame(1001), us + 7, order=order),
    )
    times, counters, error = read(path)
    assert error is None
    assert times == {1000: us, 1001: us + 7}
    assert counters["packets_seen"] == 2


# (if_tsresol byte, units per second): 10^-n and 2^-n.
RESOLUTIONS = [
    (0, 10**0),
    (3, 10**3),
    (6, 10**6),
    (9, 10**9),
    (19, 10**19),
    (0x80 | 10, 2**10),
    (0x80 | 20, 2**20),
    (0x80 | 30, 2**30),
    (0x80 | 63, 2**63),
]


@pytest.mark.parametrize(
    ("tsresol", "units"), RESOLUTIONS, ids=[f"units-{u}" for _, u in RESOLUTIONS]
)
def test_time_resolutions_are_exact(tmp_path, tsresol, units):
    # A time with a fraction (every resolution), and the largest fraction it can carry:
    # microseconds are rounded down, as libpcap does, but never overflow on the way (its
    # 2^-n arithmetic multiplies the fraction by 10^6 in 64 bits: wrong past 2^-44).
    seconds = min(T0_S, 2**64 // units - 1)  # 2^64 ticks of 2^-63 s are only 2 s
    ticks = [seconds * units + units // 3, seconds * units + units - 1]
    path = write(
        tmp_path,
        shb(),
        idb(tsresol=tsresol),
        *(epb(frame(2000 + i), t) for i, t in enumerate(ticks)),
    )
    times, _, error = read(path)
    assert error is None
    assert times == {2000 + i: t * 10**6 // units for i, t in enumerate(ticks)}


def test_times_past_2106_and_near_2_to_the_64_are_exact(tmp_path):
    # From 2^32 s (2106-02-07) on, a 32-bit time_t (bookworm's armhf libpcap) wrapped.
    past_2106 = (2**32 + 86_400) * 10**9 + 123_456_789  # ns
    path = write(
        tmp_path,
        shb(),
        idb(tsresol=9),
        epb(frame(3000), past_2106),
        epb(frame(3001), past_2106 + 1000),
    )
    times, _, error = read(path)
    assert error is None
    assert times == {3000: past_2106 // 1000, 3001: past_2106 // 1000 + 1}
    top = write(tmp_path, shb(), idb(), epb(frame(3002), 2**64 - 1))
    assert read(top)[0] == {3002: 2**64 - 1}


def test_tsoffset_moves_times_and_saturates(tmp_path):
    path = write(
        tmp_path,
        shb(),
        idb(tsoffset=T0_S),  # 0: relative times
        idb(tsoffset=-10, tsresol=9),  # 1: ten seconds back
        idb(tsoffset=-(2**63)),  # 2: before 1970: 0
        idb(tsoffset=2**63 - 1),  # 3: past 2^64 us: saturates
        epb(frame(4000), 1_500_000, iface=0),
        epb(frame(4001), (T0_S + 10) * 10**9 + 5_000, iface=1),
        epb(frame(4002), 5 * 10**6, iface=2),
        epb(frame(4003), 5 * 10**6, iface=3),
    )
    times, _, error = read(path)
    assert error is None
    assert times == {
        4000: T0_S * 10**6 + 1_500_000,
        4001: T0_S * 10**6 + 5,
        4002: 0,
        4003: 2**64 - 1,
    }


def test_each_interface_has_its_own_link_type(tmp_path):
    # libpcap refuses a file whose interfaces differ in link type; the engine reads each
    # frame as its interface says. A type the parser does not decode counts as non-IP.
    us = T0_S * 10**6
    path = write(
        tmp_path,
        shb(),
        idb(ETHERNET),
        idb(RAW),
        idb(USER0),
        epb(frame(5000), us, iface=0),
        epb(frame(5001, raw=True), us + 1, iface=1),
        epb(frame(5002), us + 2, iface=2),
    )
    times, counters, error = read(path)
    assert error is None
    assert times == {5000: us, 5001: us + 1}
    assert counters["non_ip"] == 1


def test_sections_each_have_their_byte_order_and_interfaces(tmp_path):
    # libpcap refuses a section of the other byte order; the format allows it.
    us = T0_S * 10**6
    path = write(
        tmp_path,
        shb("<"),
        idb(ETHERNET),
        epb(frame(6000), us),
        shb(">"),
        idb(RAW, order=">", tsresol=9),
        epb(frame(6001, raw=True), (us + 5) * 1000, order=">"),
        shb("<", minor=2),
        idb(ETHERNET, tsresol=0x80 | 20),
        epb(frame(6002), (T0_S + 1) << 20),
    )
    times, counters, error = read(path)
    assert error is None
    assert times == {6000: us, 6001: us + 5, 6002: us + 10**6}
    assert counters["packets_seen"] == 3


def test_simple_and_obsolete_packet_blocks_and_unknown_blocks(tmp_path):
    us = T0_S * 10**6
    data = frame(7001)
    path = write(
        tmp_path,
        shb(),
        block(0x0BADBEEF, b"\1\2\3\4"),
        idb(snaplen=42, tsoffset=T0_S),
        idb(tsoffset=T0_S),
        block(NRB, b"\0" * 8),
        pb(frame(7000), 0, iface=1),
        spb(data),  # no time: 0 ticks, plus the interface's offset
        block(ISB, b"\0" * 20),
        block(0x40000BAD, b""),
    )
    times, counters, error = read(path)
    assert error is None
    assert times == {7000: us, 7001: us}
    # The simple block's frame is cut to interface 0's snap length (42 bytes: the UDP
    # header is there, its payload is not).
    assert counters["packets_seen"] == 2


def test_an_empty_packet_is_counted_not_read(tmp_path):
    path = write(tmp_path, shb(), idb(), epb(b"", T0_S * 10**6, wire_len=60))
    times, counters, error = read(path)
    assert (times, error) == ({}, None)
    assert counters["truncated"] == 1


# ---------------------------------------------------------------- damaged files


def good_start() -> bytes:
    return shb() + idb() + epb(frame(8000), T0_S * 10**6)


DAMAGED = {
    # name: (the bytes after good_start(), what the error says, truncated?)
    "cut-inside-a-block": (epb(frame(8001), 0)[:30], "truncated pcapng file", True),
    "cut-inside-a-header": (epb(frame(8001), 0)[:5], "truncated pcapng file", True),
    "length-zero": (struct.pack("<II", EPB, 0) + b"\0" * 16, "invalid length 0", False),
    "length-below-12": (struct.pack("<II", EPB, 8) + b"\0" * 16, "invalid length 8", False),
    "length-not-a-multiple-of-4": (block(EPB, b"\0" * 20, length=34), "invalid length 34", False),
    "length-huge": (struct.pack("<II", EPB, 0xFFFFFFFC) + b"\0" * 64, "more than the", False),
    "length-past-the-end": (
        struct.pack("<II", EPB, 4096) + b"\0" * 64,
        "truncated pcapng file",
        True,
    ),
    "trailer-disagrees": (block(EPB, b"\0" * 20, trailer=36), "and 36 in its trailer", False),
    "caplen-past-the-block": (epb(frame(8001), 0, caplen=4000), "longer than the block", False),
    "caplen-above-snaplen": (epb(b"\0" * 300000, 0), "above its interface's snap length", False),
    "unknown-interface": (epb(frame(8001), 0, iface=1), "names an interface", False),
    "epb-too-short": (block(EPB, b"\0" * 16), "is too short", False),
    "spb-too-short": (block(SPB, b""), "is too short", False),
    "option-past-the-block": (
        block(IDB, struct.pack("<HHIHH", 1, 0, 0, 2, 64)),
        "option longer than its block",
        False,
    ),
    "tsresol-2-to-the-64": (idb(tsresol=0x80 | 64), "finer than 2^-63", False),
    "tsresol-10-to-the-20": (idb(tsresol=20), "finer than 10^-19", False),
    "tsresol-twice": (
        block(IDB, struct.pack("<HHI", 1, 0, 0) + option(9, b"\6") * 2),
        "two",
        False,
    ),
    "tsoffset-short": (
        block(IDB, struct.pack("<HHI", 1, 0, 0) + option(14, b"\0" * 4)),
        "if_tsoffset",
        False,
    ),
    "endofopt-with-a-value": (
        block(IDB, struct.pack("<HHI", 1, 0, 0) + option(0, b"ab")),
        "end-of-options",
        False,
    ),
    "section-bad-magic": (
        block(SHB, struct.pack("<IHHq", 0x11223344, 1, 0, -1)),
        "bad byte-order magic",
        False,
    ),
    "section-major-2": (shb(major=2), "pcapng version 2.0", False),
    "section-huge": (struct.pack("<III", SHB, 2**30, 0x1A2B3C4D), "invalid length", False),
    "section-cut": (shb()[:10], "truncated pcapng file", True),
    "packet-in-a-section-without-interfaces": (
        shb() + epb(frame(8001), 0),
        "names an interface",
        False,
    ),
}


@pytest.mark.parametrize("name", sorted(DAMAGED))
def test_damaged_files_end_with_an_error_after_the_good_frames(tmp_path, name):
    damage, message, truncated = DAMAGED[name]
    times, counters, error = read(write(tmp_path, good_start(), damage))
    assert times == {8000: T0_S * 10**6}  # the frame before the damage is read
    assert counters["packets_seen"] == 1
    assert error is not None and message in error, error
    assert ("file ends inside a packet" in error) == truncated, error


def test_too_many_interfaces_in_a_section_is_an_error(tmp_path):
    path = write(tmp_path, good_start(), idb() * 65536)
    times, _, error = read(path)
    assert times == {8000: T0_S * 10**6}
    assert error is not None and "65536" in error


@pytest.mark.parametrize(
    ("blocks", "message"),
    [
        ([shb()], "no interface description"),
        ([shb(), block(0x0BAD, b""), epb(frame(1), 0)], "before any interface description"),
        ([shb(minor=1), idb()], "pcapng version 1.1"),
        ([shb()[:20]], "truncated pcapng file"),
        ([shb(), idb(tsresol=0x80 | 64)], "finer than 2^-63"),
    ],
    ids=["no-interface", "packet-first", "version-1.1", "cut-header", "bad-first-interface"],
)
def test_files_refused_at_open(tmp_path, blocks, message):
    path = write(tmp_path, *blocks)
    refused = pytest.raises(UsageError, match="not a readable pcap or pcapng capture")
    with refused as caught, Engine() as engine:
        engine.open_file(path)
    assert message in str(caught.value)


def test_a_first_interface_of_an_unsupported_link_type_is_refused(tmp_path):
    path = write(tmp_path, shb(), idb(USER0), epb(frame(1), 0))
    refused = pytest.raises(UsageError, match=r"link type 147 \(\w+\) is not supported")
    with refused, Engine() as engine:
        engine.open_file(path)
