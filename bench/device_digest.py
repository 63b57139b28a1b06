"""Digests of everything the device table and extractors put out, to prove a refactor of
native/devices.c or native/extract_*.c changes no output.

    python -m bench.device_digest [--packets N] [--corpus DIR] [--slots 4096,12]

For each capture and device-table size it runs the engine over the file and hashes, in
order: every fingerprint event (MAC, time, kind, value), every flow record (its
extractor label included), the final device table (every entry as Python reads it) and
the device counters. Captures: the wing capture of N packets (tools.wingcap, seed 4,
made once under bench/out/), the medical seed captures (tests/support/medical.py, one
per protocol, good and broken) and, with --corpus, every pcap/pcapng in DIR. Prints one
line per (capture set, slots) and a total; equal totals before and after a change mean
the same output, byte for byte.
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
from pathlib import Path

from agent.engine import CaptureError, Engine, EngineSettings
from agent.errors import UsageError
from bench.bench_extract import wing_capture


def run_digest(path: Path, max_devices: int, digest: hashlib._Hash) -> None:
    """Feed one capture's device output (and its records' labels) into `digest`."""
    with Engine(EngineSettings(max_devices=max_devices)) as engine:
        engine.collect_device_events()
        records = []
        try:
            engine.open_file(path)
            while not engine.exhausted:
                records.extend(engine.poll())
        except (CaptureError, UsageError) as exc:  # a file the engine refuses: output too
            digest.update(type(exc).__name__.encode())
        records.extend(engine.flush())
        for event in engine.take_device_events():
            digest.update(repr(tuple(event)).encode())
        for record in sorted(records, key=lambda r: (r.serial, r.ts_us)):
            digest.update(repr(record).encode())
        for device in engine.devices():
            digest.update(repr(tuple(device)).encode())
        digest.update(repr(sorted(engine.device_counters().items())).encode())


def capture_sets(packets: int, corpus: str | None, tmp: Path) -> dict[str, list[Path]]:
    from tests.support.medical import write_seed_captures

    sets = {
        f"wing-{packets}": [Path(wing_capture(packets))],
        "medical": sorted(write_seed_captures(tmp / "medical")),
    }
    if corpus:
        root = Path(corpus)
        sets["corpus"] = sorted(p for p in root.iterdir() if p.suffix in (".pcap", ".pcapng"))
    return sets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packets", type=int, default=200_000)
    parser.add_argument("--corpus", help="a directory of captures (e.g. the tcpdump corpus)")
    parser.add_argument("--slots", default="4096,12", help="device-table sizes to run")
    args = parser.parse_args()
    total = hashlib.sha256()
    with tempfile.TemporaryDirectory() as tmp:
        for name, paths in capture_sets(args.packets, args.corpus, Path(tmp)).items():
            for slots in (int(s) for s in args.slots.split(",")):
                digest = hashlib.sha256()
                for path in paths:
                    digest.update(path.name.encode())
                    run_digest(path, slots, digest)
                total.update(digest.digest())
                print(f"{name:14} slots {slots:5}  {digest.hexdigest()}")
    print(f"{'total':26}  {total.hexdigest()}")


if __name__ == "__main__":
    main()
