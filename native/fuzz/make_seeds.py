"""Write a libFuzzer seed corpus for native/fuzz/fuzz_engine.c from real capture files.

Usage (from the repository root): PYTHONPATH=. python native/fuzz/make_seeds.py CAPTURE_DIR OUT_DIR

Every pcap / pcapng file under CAPTURE_DIR whose link type the engine decodes becomes
two seeds in the harness's input format (see the comment at the top of fuzz_engine.c):
its first MAX_FRAMES frames, each cut to MAX_FRAME_BYTES, as frames fed to the engine
and as a pcap file read by the engine's own reader (file mode). Files the reader refuses are
skipped; the captures themselves are never copied into the repository.
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


def main(argv: list[str]) -> int:
    """Write the seeds; return the process exit code (2 on bad arguments)."""
    if len(argv) != 3:
        print("usage: make_seeds.py CAPTURE_DIR OUT_DIR", file=sys.stderr)
        return 2
    capture_dir, out_dir = Path(argv[1]), Path(argv[2])
    out_dir.mkdir(parents=True, exist_ok=True)
    written = 0
    for path in sorted(capture_dir.rglob("*")):
        if path.suffix not in (".pcap", ".pcapng", ".cap"):
            continue
        try:
            linktype, frames = read_capture(path)
        # The corpus holds deliberately broken files; the reference reader's own error
        # or a short struct / missing interface in a bad pcapng both mean "skip it".
        except (CaptureFormatError, struct.error, IndexError, ZeroDivisionError):
            continue
        if linktype not in HARNESS_LINKTYPES or not frames:
            continue
        selected = [(f.ts_us, f.data, f.wire_len) for f in frames[:MAX_FRAMES]]
        (out_dir / f"{path.stem}.seed").write_bytes(encode_seed(linktype, selected))
        (out_dir / f"{path.stem}.file.seed").write_bytes(encode_file_seed(linktype, selected))
        written += 2
    print(f"make_seeds: {written} seeds in {out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
