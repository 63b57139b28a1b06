"""Write a libFuzzer seed corpus for native/fuzz/fuzz_engine.c from real capture files.

Usage (from the repository root): PYTHONPATH=. python native/fuzz/make_seeds.py CAPTURE_DIR OUT_DIR

Every pcap / pcapng file under CAPTURE_DIR whose link type the engine decodes becomes
two seeds in the harness's input format (see the comment at the top of fuzz_engine.c):
its first MAX_FRAMES frames, each cut to MAX_FRAME_BYTES, as frames fed to the engine
and as a pcap file read by the engine's own reader (file mode). Files the reader refuses are
skipped; the captures themselves are never copied into the repository. Every pcapng file
(damaged ones too) also becomes a file-mode seed of its first MAX_PCAPNG_SEED bytes as
they are, for the engine's pcapng reader (native/pcapng.c), and one more seed is a pcapng
file made here with what that reader handles beyond a plain file: two sections of
opposite byte orders, interfaces of different link types, 2^-n and 10^-9 resolutions, a
time offset, simple, obsolete and unknown blocks.
"""

from __future__ import annotations

import struct
import sys
from pathlib import Path

from tests.reference import CaptureFormatError, read_capture

# Index = the harness's first input byte.
HARNESS_LINKTYPES = (1, 113, 276, 12, 101, 228, 229, 0)
MAX_FRAMES = 48
MAX_FRAME_BYTES = 1600
TS_STEP_UNIT_US = 10_000
# ring 64, max_flows 64: room for everything, the ring drained only when the engine asks
DEFAULT_SHAPE = 0b0000_1010
MAX_PCAPNG_SEED = 32768 - 2  # the harness runs with -max_len=32768
PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"


def encode_seed(linktype: int, frames: list[tuple[int, bytes, int]]) -> bytes:
    """The harness's input for (ts_us, captured bytes, wire_len) frames of one link type."""
    out = bytearray([HARNESS_LINKTYPES.index(linktype), DEFAULT_SHAPE])
    previous_ts_us = frames[0][0] if frames else 0
    for ts_us, data, wire_len in frames:
        data = data[:MAX_FRAME_BYTES]
        wire_extra = min(max(wire_len - len(data), 0), 252)  # 253-255: special records
        # 15 bits of 10 ms steps; bit 15 steps back (out-of-order timestamps).
        step = min(abs(ts_us - previous_ts_us) // TS_STEP_UNIT_US, 0x7FFF)
        if ts_us < previous_ts_us:
            step |= 0x8000
        previous_ts_us = ts_us
        out += struct.pack(">HBH", len(data), wire_extra, step) + data
    return bytes(out)


def encode_file_seed(linktype: int, frames: list[tuple[int, bytes, int]]) -> bytes:
    """File mode (byte 0 bit 7): the frames as a classic pcap file (microseconds, host
    order), for the engine's own reader."""
    out = bytearray([0x80, DEFAULT_SHAPE])
    out += struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, linktype)
    for ts_us, data, wire_len in frames:
        data = data[:MAX_FRAME_BYTES]
        seconds, micros = divmod(ts_us, 1_000_000)
        out += struct.pack("<IIII", seconds & 0xFFFFFFFF, micros, len(data), wire_len) + data
    return bytes(out)


def _ng_block(kind: int, body: bytes, order: str) -> bytes:
    body += b"\0" * (-len(body) % 4)
    return (
        struct.pack(order + "II", kind, 12 + len(body))
        + body
        + struct.pack(order + "I", 12 + len(body))
    )


def _ng_section(
    order: str, interfaces: list[tuple[int, int, int]], frames: list[tuple[int, int, bytes]]
) -> bytes:
    """A pcapng section: interfaces (link type, if_tsresol byte, if_tsoffset s) and
    frames (interface, ticks, bytes) as enhanced packet blocks."""
    out = _ng_block(0x0A0D0D0A, struct.pack(order + "IHHq", 0x1A2B3C4D, 1, 0, -1), order)
    for linktype, tsresol, offset in interfaces:
        options = struct.pack(order + "HHB3x", 9, 1, tsresol)
        options += struct.pack(order + "HHq", 14, 8, offset) + struct.pack(order + "HH", 0, 0)
        out += _ng_block(1, struct.pack(order + "HHI", linktype, 0, 0) + options, order)
    for iface, ticks, data in frames:
        head = struct.pack(
            order + "IIIII", iface, ticks >> 32, ticks & 0xFFFFFFFF, len(data), len(data)
        )
        out += _ng_block(6, head + data, order)
    return out


def pcapng_seed(ethernet_frames: list[bytes]) -> bytes:
    """File mode: a pcapng file with two sections (little, then big endian)."""
    frames = [f[:MAX_FRAME_BYTES] for f in ethernet_frames[:8]]
    raw = [f[14:] for f in frames]  # the IP packets alone (LINKTYPE_RAW)
    t0 = 1_700_000_000
    first = _ng_section(
        "<",
        [(1, 0x80 | 20, 0), (101, 9, t0)],
        [
            (
                i % 2,
                ((t0 + i) << 20) if i % 2 == 0 else i * 10**9,
                (frames if i % 2 == 0 else raw)[i],
            )
            for i in range(len(frames))
        ],
    )
    first += _ng_block(3, struct.pack("<I", len(frames[0])) + frames[0], "<")  # simple packet
    first += _ng_block(0x0BAD, b"unknown", "<")
    second = _ng_section(
        ">", [(1, 6, 0)], [(0, (t0 + 60) * 10**6 + i, f) for i, f in enumerate(frames)]
    )
    return bytes([0x80, DEFAULT_SHAPE]) + (first + second)[:MAX_PCAPNG_SEED]


def main(argv: list[str]) -> int:
    """Write the seeds; return the process exit code (2 on bad arguments)."""
    if len(argv) != 3:
        print("usage: make_seeds.py CAPTURE_DIR OUT_DIR", file=sys.stderr)
        return 2
    capture_dir, out_dir = Path(argv[1]), Path(argv[2])
    out_dir.mkdir(parents=True, exist_ok=True)
    written = 0
    ethernet_frames: list[bytes] = []
    for path in sorted(capture_dir.rglob("*")):
        if path.suffix not in (".pcap", ".pcapng", ".cap"):
            continue
        head = path.read_bytes()[:MAX_PCAPNG_SEED]
        if head[:4] == PCAPNG_MAGIC:
            (out_dir / f"{path.stem}.pcapng.seed").write_bytes(bytes([0x80, DEFAULT_SHAPE]) + head)
            written += 1
        try:
            linktype, frames = read_capture(path)
        # The corpus holds deliberately broken files; the reference reader's own error
        # or a short struct / missing interface in a bad pcapng both mean "skip it".
        except (CaptureFormatError, struct.error, IndexError, ZeroDivisionError):
            continue
        if linktype not in HARNESS_LINKTYPES or not frames:
            continue
        selected = [(f.ts_us, f.data, f.wire_len) for f in frames[:MAX_FRAMES]]
        if linktype == 1 and len(ethernet_frames) < 8:
            ethernet_frames += [
                f.data for f in frames[: 8 - len(ethernet_frames)] if len(f.data) > 14
            ]
        (out_dir / f"{path.stem}.seed").write_bytes(encode_seed(linktype, selected))
        (out_dir / f"{path.stem}.file.seed").write_bytes(encode_file_seed(linktype, selected))
        written += 2
    if ethernet_frames:
        (out_dir / "made.pcapng.seed").write_bytes(pcapng_seed(ethernet_frames))
        written += 1
    print(f"make_seeds: {written} seeds in {out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
