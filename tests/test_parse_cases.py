"""native/parse.c against the reference parser (tests/reference.py), frame by frame.

The C parser is compiled on its own into a small shared library and called through
ctypes, so every frame's verdict (ok / non_ip / malformed / truncated / later fragment)
and every field the flow table uses can be compared with the pure-Python reading of
docs/flow-semantics.md: on every frame of the public tcpdump corpus (hostile traffic
from many protocols) and on seeded random mutations of those frames.
"""

from __future__ import annotations

import ctypes
import random
import shutil
import struct
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import reference

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "pcaps" / "tcpdump"
DECODED_LINKTYPES = (0, 1, 12, 101, 113, 228, 229, 276)
RESULT_NAMES = ("ok", "non_ip", "malformed", "truncated", "fragment_later")  # enum order


class Packet(ctypes.Structure):
    """Mirror of struct packet in native/engine.h (layout checked against sizeof)."""

    _fields_ = (
        ("ts_us", ctypes.c_uint64),
        ("wire_len", ctypes.c_uint32),
        ("ip_len", ctypes.c_uint32),
        ("payload_len", ctypes.c_uint32),
        ("vlan", ctypes.c_uint16 * 2),
        ("vlan_count", ctypes.c_uint8),
        ("family", ctypes.c_uint8),
        ("proto", ctypes.c_uint8),
        ("tcp_flags", ctypes.c_uint8),
        ("src", ctypes.c_uint8 * 16),
        ("dst", ctypes.c_uint8 * 16),
        ("sport", ctypes.c_uint16),
        ("dport", ctypes.c_uint16),
        ("icmp_type", ctypes.c_uint8),
        ("icmp_code", ctypes.c_uint8),
        ("is_fragment", ctypes.c_uint8),
        ("_pad", ctypes.c_uint8),
        ("frag_id", ctypes.c_uint32),
        ("payload", ctypes.c_void_p),
        ("payload_caplen", ctypes.c_uint32),
        # Ethernet and non-IP fields for the device table (issue 6)
        ("mac_src", ctypes.c_uint8 * 6),
        ("mac_dst", ctypes.c_uint8 * 6),
        ("mac_src_key", ctypes.c_uint64),
        ("mac_dst_key", ctypes.c_uint64),
        ("has_macs", ctypes.c_uint8),
        ("l2_type", ctypes.c_uint16),
        ("l2_payload", ctypes.c_void_p),
        ("l2_caplen", ctypes.c_uint32),
    )


LAYOUT_PROBE = """
#include <stddef.h>
#include "engine.h"
size_t probe_packet_size(void) { return sizeof(struct packet); }
size_t probe_payload_caplen_offset(void) { return offsetof(struct packet, payload_caplen); }
"""


@pytest.fixture(scope="module")
def c_parse(tmp_path_factory: pytest.TempPathFactory):
    """parse_frame from native/parse.c, as a Python function returning (verdict, Packet)."""
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed: cannot build native/parse.c for this test")
    build = tmp_path_factory.mktemp("parse_lib")
    probe = build / "probe.c"
    probe.write_text(LAYOUT_PROBE)
    lib_path = build / "libparse.so"
    flags = ["-std=c11", "-O1", "-shared", "-fPIC", "-Wall", "-Wextra", "-Werror"]
    sources = [str(REPO / "native/parse.c"), str(probe)]
    subprocess.run(
        ["gcc", *flags, "-I", str(REPO / "native"), *sources, "-o", str(lib_path)], check=True
    )
    lib = ctypes.CDLL(str(lib_path))
    lib.probe_packet_size.restype = ctypes.c_size_t
    lib.probe_payload_caplen_offset.restype = ctypes.c_size_t
    assert lib.probe_packet_size() == ctypes.sizeof(Packet)
    assert lib.probe_payload_caplen_offset() == Packet.payload_caplen.offset
    parse_frame = lib.parse_frame
    parse_frame.restype = ctypes.c_int
    parse_frame.argtypes = (
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_uint32,
        ctypes.c_uint32,
        ctypes.POINTER(Packet),
    )

    def parse(linktype: int, data: bytes, wire_len: int) -> tuple[str, Packet]:
        packet = Packet()
        verdict = parse_frame(linktype, data, len(data), wire_len, ctypes.byref(packet))
        return RESULT_NAMES[verdict], packet

    return parse


def corpus_frames() -> Iterator[tuple[str, int, bytes, int]]:
    """(file name, link type, captured bytes, wire length) of every decodable frame."""
    for path in sorted(CORPUS.iterdir()):
        if path.suffix not in (".pcap", ".pcapng"):
            continue
        linktype, frames = reference.read_capture(path)
        if linktype in DECODED_LINKTYPES:
            for frame in frames:
                yield path.name, linktype, frame.data, frame.wire_len


def disagreement(c_parse, linktype: int, data: bytes, wire_len: int) -> str | None:
    """None when C and reference agree on this frame, else what differs."""
    expected = reference.parse_frame(linktype, data, wire_len)
    verdict, got = c_parse(linktype, data, wire_len)
    if verdict != expected.kind:
        return f"verdict {verdict} != reference {expected.kind}"
    if verdict not in ("ok", "fragment_later"):
        return None
    addr_len = 4 if got.family == 4 else 16
    fields = {
        "proto": (got.proto, expected.proto),
        "ports": ((got.sport, got.dport), (expected.sport, expected.dport)),
        "ip_len": (got.ip_len, expected.ip_len),
        "payload_len": (got.payload_len, expected.payload_len),
        "src": (bytes(got.src)[:addr_len], expected.src),
        "dst": (bytes(got.dst)[:addr_len], expected.dst),
        "vlans": (tuple(got.vlan[: got.vlan_count]), expected.vlans),
        "tcp_flags": (got.tcp_flags, expected.tcp_flags),
    }
    if verdict == "fragment_later" or expected.first_fragment:
        fields["frag_id"] = (got.frag_id, expected.frag_id)
        fields["is_fragment"] = (got.is_fragment, 1)
    else:
        fields["is_fragment"] = (got.is_fragment, 0)
    wrong = [f"{name} {c} != reference {r}" for name, (c, r) in fields.items() if c != r]
    return "; ".join(wrong) or None


def assert_all_agree(c_parse, cases: list[tuple[str, int, bytes, int]]) -> None:
    problems = []
    for name, linktype, data, wire_len in cases:
        problem = disagreement(c_parse, linktype, data, wire_len)
        if problem:
            problems.append(f"{name} (link {linktype}, {len(data)} bytes): {problem}")
    assert not problems, f"{len(problems)} of {len(cases)} frames differ:\n" + "\n".join(
        problems[:20]
    )


def require_corpus() -> None:
    if not CORPUS.is_dir():
        pytest.skip(f"public capture corpus absent ({CORPUS}); it is present in CI")


def test_parser_agrees_with_reference_on_every_public_capture_frame(c_parse):
    require_corpus()
    cases = list(corpus_frames())
    assert len(cases) > 1000  # the corpus really was read
    assert_all_agree(c_parse, cases)
    verdicts = {c_parse(linktype, data, wire)[0] for _, linktype, data, wire in cases}
    # Hostile traffic exercises more than the happy path.
    assert {"ok", "non_ip", "malformed", "truncated"} <= verdicts


def mutate(rng: random.Random, data: bytes) -> tuple[bytes, int]:
    """A damaged copy of a frame, and the wire length its record would claim."""
    frame = bytearray(data)
    choice = rng.randrange(4)
    if choice == 0 and frame:  # bit flips in the headers, where parsing decides things
        for _ in range(rng.randint(1, 4)):
            position = rng.randrange(min(len(frame), 80))
            frame[position] ^= 1 << rng.randrange(8)
    elif choice == 1 and frame:  # random byte values
        for _ in range(rng.randint(1, 3)):
            frame[rng.randrange(min(len(frame), 80))] = rng.randrange(256)
    elif choice == 2:  # short snap length
        frame = frame[: rng.randrange(len(frame) + 1)]
    wire_len = len(data)
    if choice == 3:  # the record's wire length lies, either way
        wire_len = rng.choice([0, len(frame) // 2, len(frame) + rng.randrange(1, 70000)])
    return bytes(frame), wire_len


def test_parser_agrees_with_reference_on_mutated_frames(c_parse):
    require_corpus()
    rng = random.Random(20261129)
    frames = list(corpus_frames())
    cases = []
    for _ in range(30000):
        name, linktype, data, _wire = rng.choice(frames)
        mutated, wire_len = mutate(rng, data)
        # Sometimes the same bytes under another link type: every decoder sees garbage.
        if rng.random() < 0.2:
            linktype = rng.choice(DECODED_LINKTYPES)
        cases.append((f"mutant of {name}", linktype, mutated, wire_len))
    assert_all_agree(c_parse, cases)


def test_parser_never_fills_ports_of_later_fragments(c_parse):
    # IPv4, offset 8 bytes, bytes where ports would be: 0x1234 0x5678.
    header = bytes.fromhex("45000020abcd0001401100000a0000010a000002")
    verdict, packet = c_parse(228, header + bytes.fromhex("123456780000000000000000"), 32)
    assert verdict == "fragment_later"
    assert (packet.sport, packet.dport, packet.frag_id) == (0, 0, 0xABCD)
    assert packet.payload_len == 12


def _v4(proto: int, l4: bytes, *, ihl: int = 5, total: int | None = None) -> bytes:
    total = 20 + 4 * (ihl - 5) + len(l4) if total is None else total
    header = struct.pack(
        ">BBHHHBBH4s4s",
        0x40 | ihl,
        0,
        total,
        1,
        0,
        64,
        proto,
        0,
        bytes([10, 0, 0, 1]),
        bytes([10, 0, 0, 2]),
    )
    return header + bytes(4 * (ihl - 5)) + l4


def _v6(next_header: int, rest: bytes, payload_len: int | None = None) -> bytes:
    length = len(rest) if payload_len is None else payload_len
    return (
        struct.pack(">IHBB", 0x60000000, length, next_header, 64)
        + bytes(15)
        + b"\x01"
        + (bytes(15) + b"\x02" + rest)
    )


UDP_53 = struct.pack(">HHHH", 5353, 53, 8, 0)
SLL_VLAN = bytes(14) + b"\x81\x00" + b"\x00\x2a\x08\x00" + _v4(17, UDP_53)
DOCUMENTED_CHOICES = {
    "SLL with an 802.1Q tag": (113, SLL_VLAN),
    "SLL2 with two tags": (
        276,
        b"\x88\xa8" + bytes(18) + b"\x00\x01\x81\x00\x00\x02\x08\x00" + _v4(17, UDP_53),
    ),
    "NULL AF_INET6 = 10 (Linux)": (0, b"\x0a\x00\x00\x00" + _v6(17, UDP_53)),
    "NULL AF_INET big-endian": (0, b"\x00\x00\x00\x02" + _v4(17, UDP_53)),
    "NULL AF 7": (0, b"\x07\x00\x00\x00" + _v4(17, UDP_53)),
    "raw IP version 5": (12, b"\x55" + bytes(30)),
    "IPv4 on the IPv6 link": (229, _v4(17, UDP_53)),
    "IHL 3 in a 10-byte capture": (101, b"\x43" + bytes(9)),
    "options not captured, total length bad": (101, _v4(17, b"", ihl=6, total=3)[:22]),
    "IPv6 nine extension headers": (
        229,
        _v6(60, b"".join(bytes([60 if i < 8 else 17, 0]) + bytes(6) for i in range(9)) + UDP_53),
    ),
    "IPv6 extension header past the payload length": (229, _v6(0, b"\x11\x03" + bytes(30))),
    "IPv6 payload length 0, padding after it": (229, _v6(0, bytes(8), payload_len=0)),
    "ICMP with one byte of IP payload": (228, _v4(1, b"\x08")),
    "UDP with 7 bytes of IP payload": (228, _v4(17, UDP_53[:7])),
    "TCP data offset 4": (228, _v4(6, struct.pack(">HHIIBBHHH", 1, 2, 0, 0, 0x40, 2, 0, 0, 0))),
}

# What each case must come to (both parsers could otherwise drift together).
EXPECTED_VERDICT = {
    "ICMP with one byte of IP payload": "malformed",
    "IHL 3 in a 10-byte capture": "malformed",
    "IPv4 on the IPv6 link": "malformed",
    "IPv6 extension header past the payload length": "malformed",
    "IPv6 nine extension headers": "ok",
    "IPv6 payload length 0, padding after it": "malformed",
    "NULL AF 7": "non_ip",
    "NULL AF_INET big-endian": "ok",
    "NULL AF_INET6 = 10 (Linux)": "ok",
    "SLL with an 802.1Q tag": "ok",
    "SLL2 with two tags": "ok",
    "TCP data offset 4": "malformed",
    "UDP with 7 bytes of IP payload": "malformed",
    "options not captured, total length bad": "truncated",
    "raw IP version 5": "malformed",
}


@pytest.mark.parametrize("case", sorted(DOCUMENTED_CHOICES))
def test_parser_and_reference_make_the_same_documented_choices(c_parse, case):
    linktype, frame = DOCUMENTED_CHOICES[case]
    assert c_parse(linktype, frame, len(frame))[0] == EXPECTED_VERDICT[case]
    assert disagreement(c_parse, linktype, frame, len(frame)) is None
    # and the frame is judged on its own terms, not by the wire length alone
    assert disagreement(c_parse, linktype, frame, 3) is None
