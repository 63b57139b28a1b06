"""A small reader of pcap and pcapng files for tests/reference.py: no libpcap, no scapy.

The reference reads captures itself so that it shares nothing with the engine (which
reads them through libpcap); tests/test_reference.py checks this reader against scapy's.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path


class CaptureFormatError(Exception):
    """The file is not a pcap / pcapng file this reader understands."""


@dataclass(frozen=True)
class CapturedFrame:
    ts_us: int
    data: bytes  # the captured bytes (caplen of them)
    wire_len: int  # the frame's original length


def read_capture(path: str | Path) -> tuple[int, list[CapturedFrame]]:
    """Read a whole pcap or pcapng file: (link type, frames in file order).

    Raises CaptureFormatError for anything else, or for a pcapng file whose interfaces
    do not share one link type (libpcap refuses those too).
    """
    blob = Path(path).read_bytes()
    if len(blob) < 4:
        raise CaptureFormatError("file too short")
    if blob[:4] == b"\x0a\x0d\x0d\x0a":
        return _read_pcapng(blob)
    return _read_pcap(blob)


def _read_pcap(blob: bytes) -> tuple[int, list[CapturedFrame]]:
    magics = {
        b"\xd4\xc3\xb2\xa1": ("<", 1000),  # microseconds, little endian; value = ns per unit
        b"\xa1\xb2\xc3\xd4": (">", 1000),
        b"\x4d\x3c\xb2\xa1": ("<", 1),  # nanoseconds
        b"\xa1\xb2\x3c\x4d": (">", 1),
    }
    if blob[:4] not in magics or len(blob) < 24:
        raise CaptureFormatError("not a pcap file")
    endian, ns_per_unit = magics[blob[:4]]
    linktype = struct.unpack(endian + "I", blob[20:24])[0] & 0x0FFFFFFF
    frames = []
    pos = 24
    while pos + 16 <= len(blob):
        sec, frac, caplen, wire_len = struct.unpack(endian + "IIII", blob[pos : pos + 16])
        pos += 16
        data = blob[pos : pos + caplen]
        if len(data) < caplen:
            raise CaptureFormatError("truncated record")
        pos += caplen
        ts_us = sec * 1_000_000 + frac * ns_per_unit // 1000
        frames.append(CapturedFrame(ts_us, data, wire_len))
    return linktype, frames


def _read_pcapng(blob: bytes) -> tuple[int, list[CapturedFrame]]:
    endian = "<"
    linktypes: list[int] = []
    # Per interface: timestamp units per second (if_tsresol, default 10^6).
    units_per_s: list[int] = []
    frames = []
    pos = 0
    while pos + 12 <= len(blob):
        block_type = struct.unpack(endian + "I", blob[pos : pos + 4])[0]
        if block_type == 0x0A0D0D0A:  # section header: learn the byte order
            endian = "<" if blob[pos + 8 : pos + 12] == b"\x4d\x3c\x2b\x1a" else ">"
            linktypes, units_per_s = [], []
        block_len = struct.unpack(endian + "I", blob[pos + 4 : pos + 8])[0]
        if block_len < 12 or pos + block_len > len(blob):
            raise CaptureFormatError("bad pcapng block length")
        body = blob[pos + 8 : pos + block_len - 4]
        if block_type == 1:  # interface description
            linktype = struct.unpack(endian + "H", body[0:2])[0]
            linktypes.append(linktype)
            units_per_s.append(_pcapng_tsresol(body[8:], endian))
        elif block_type == 6:  # enhanced packet
            iface, ts_hi, ts_lo, caplen, wire_len = struct.unpack(endian + "IIIII", body[:20])
            ticks = (ts_hi << 32) | ts_lo
            ts_us = ticks * 1_000_000 // units_per_s[iface]
            frames.append(CapturedFrame(ts_us, body[20 : 20 + caplen], wire_len))
        pos += block_len
    if not linktypes or len(set(linktypes)) != 1:
        raise CaptureFormatError("pcapng file without one common link type")
    return linktypes[0], frames


def _pcapng_tsresol(options: bytes, endian: str) -> int:
    pos = 0
    while pos + 4 <= len(options):
        code, length = struct.unpack(endian + "HH", options[pos : pos + 4])
        if code == 0:
            break
        if code == 9 and length >= 1:
            value = options[pos + 4]
            return 2 ** (value & 0x7F) if value & 0x80 else 10 ** (value & 0x7F)
        pos += 4 + (length + 3) // 4 * 4
    return 1_000_000
