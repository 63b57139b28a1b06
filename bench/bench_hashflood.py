"""Hash flooding: what the review's colliding IPv6 first fragments cost against random ones.

    python -m bench.bench_hashflood [--packets 100000] [--repeat 3]

Writes two captures to bench/out/ (git ignores it) with the same shape: N IPv6 first
fragments (offset 0, more-fragments set) of UDP 5000 -> 6000, each from its own source.
- colliding: fragment ids 0..N-1, each with the source whose first 8 bytes (little-endian)
  are C1^-1 * (X ^ (id << 8)); under the fragment hash before issue 10 every one of them
  shared one bucket whatever the seed (native/tests/test_hash_flooding.c proves the set).
- random: random fragment ids and random source words.
Each is summarized in-process (open, poll loop, flush, as bench/engine_alone.py does),
the two alternating, `--repeat` times each; the least CPU time (time.process_time: the
engine runs in this thread, and CPU time does not count waiting for a core on a loaded
machine) counts. Prints microseconds per packet for each and the ratio, and
exits 1 when colliding traffic costs more than 2x random (issue 10's bound).
"""

from __future__ import annotations

import argparse
import random
import struct
import sys
import time
from pathlib import Path

from agent.engine import Engine

OUT = Path(__file__).resolve().parent / "out"
C1 = 0x87C37B91114253D5
MASK64 = (1 << 64) - 1
X = 0x5EED5EED5EED5EED
DESTINATION = bytes.fromhex("fd000000000000000000000000000002")
MACS = bytes.fromhex("020000000002020000000001")


def colliding_source(frag_id: int) -> bytes:
    """The source address that cancels `frag_id` in the old hash's first step."""
    word0 = (pow(C1, -1, 1 << 64) * (X ^ (frag_id << 8))) & MASK64
    return struct.pack("<Q", word0) + b"\x11" * 8


def first_fragment(source: bytes, frag_id: int) -> bytes:
    """Ethernet + IPv6 + fragment header (offset 0, M) + UDP header + 16 payload bytes."""
    udp = struct.pack(">HHHH", 5000, 6000, 8 + 64, 0) + b"f" * 16  # the datagram: 64 bytes
    fragment_header = struct.pack(">BBHI", 17, 0, 0x0001, frag_id)
    payload = fragment_header + udp
    ipv6 = struct.pack(">IHBB", 6 << 28, len(payload), 44, 64) + source + DESTINATION
    return MACS + b"\x86\xdd" + ipv6 + payload


def write_capture(path: Path, frames: list[bytes]) -> None:
    """A classic pcap (microseconds, Ethernet), one frame every 10 microseconds."""
    with path.open("wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        start_s = 1_780_000_000
        for i, frame in enumerate(frames):
            seconds, micros = divmod(i * 10, 1_000_000)
            out.write(struct.pack("<IIII", start_s + seconds, micros, len(frame), len(frame)))
            out.write(frame)


def colliding_frames(packets: int) -> list[bytes]:
    return [first_fragment(colliding_source(i), i) for i in range(packets)]


def random_frames(packets: int, seed: int = 10) -> list[bytes]:
    rng = random.Random(seed)
    return [
        first_fragment(rng.randbytes(8) + b"\x11" * 8, rng.getrandbits(32)) for _ in range(packets)
    ]


def cpu_seconds(path: Path) -> float:
    """CPU time of one summary of `path`: open, poll until exhausted, flush."""
    with Engine() as engine:
        started = time.process_time()
        engine.open_file(path)
        while not engine.exhausted:
            engine.poll()
        engine.flush()
        return time.process_time() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--packets", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    captures = {
        "colliding": (OUT / f"hashflood-colliding-{args.packets}.pcap", colliding_frames),
        "random": (OUT / f"hashflood-random-{args.packets}.pcap", random_frames),
    }
    for path, frames in captures.values():
        if not path.exists():
            write_capture(path, frames(args.packets))
    best = dict.fromkeys(captures, float("inf"))
    for _ in range(args.repeat):
        for name, (path, _) in captures.items():
            best[name] = min(best[name], cpu_seconds(path))
    cost = {name: seconds * 1e6 / args.packets for name, seconds in best.items()}
    for name in captures:
        print(
            f"{name:9} {cost[name]:.3f} us/packet ({args.packets} packets, best of {args.repeat})"
        )
    ratio = cost["colliding"] / cost["random"]
    print(f"colliding / random: {ratio:.2f}x (bound: 2x)")
    return 0 if ratio <= 2.0 else 1


if __name__ == "__main__":
    sys.exit(main())
