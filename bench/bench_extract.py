"""What device extraction costs: the engine on one capture with the device table and
extractors on (max_devices 4096, the default) and off (max_devices 0), side by side.

    python -m bench.bench_extract [--capture PATH] [--packets N] [--repeat R]

Without --capture it makes (once) the wing capture of N packets with tools.wingcap
(DICOM, HL7, DHCP, TLS, DNS ... sessions) under bench/out/. Each repeat runs both
settings back to back, in alternating order, in this process (imports done before the
clock starts); the clock (CPU time of the process) covers opening the file, polling
(records converted to FlowRecords, device events drained) and the final flush. Prints a
JSON object with median CPU seconds and packets/s for each setting, and the cost in
percent of throughput.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from agent.engine import Engine, EngineSettings

OUT_DIR = Path(__file__).resolve().parent / "out"


def run_once(path: str, max_devices: int) -> tuple[float, int, int]:
    """(CPU seconds, packets, device events) of one pass over `path`.

    CPU time (user + system of this process), not wall time: the bench shares its
    cores, and time spent descheduled says nothing about what extraction costs."""
    with Engine(EngineSettings(max_devices=max_devices)) as engine:
        if max_devices:
            engine.collect_device_events()
        started = time.process_time()
        engine.open_file(path)
        events = 0
        while not engine.exhausted:
            engine.poll()
            events += len(engine.take_device_events())
        engine.flush()
        events += len(engine.take_device_events())
        seconds = time.process_time() - started
        return seconds, engine.counters().packets_seen, events


def wing_capture(packets: int) -> str:
    """bench/out/wing-<packets>-s4.pcap, made with tools.wingcap when missing."""
    path = OUT_DIR / f"wing-{packets}-s4.pcap"
    if not path.exists():
        OUT_DIR.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [sys.executable, "-m", "tools.wingcap", str(path), "--packets", str(packets)],
            check=True,
        )
    return str(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--capture", help="a capture file (default: the wing capture)")
    parser.add_argument("--packets", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    path = args.capture or wing_capture(args.packets)
    times: dict[str, list[float]] = {"off": [], "on": []}
    packets = events = 0
    for i in range(args.repeat):
        order = ("off", "on") if i % 2 == 0 else ("on", "off")
        for name in order:
            seconds, packets, found = run_once(path, 4096 if name == "on" else 0)
            times[name].append(seconds)
            if name == "on":
                events = found
    off, on = statistics.median(times["off"]), statistics.median(times["on"])
    # The fastest run of each: the least disturbed by other work on a shared machine.
    off_min, on_min = min(times["off"]), min(times["on"])
    print(
        json.dumps(
            {
                "capture": path,
                "packets": packets,
                "repeat": args.repeat,
                "off_median_cpu_s": round(off, 4),
                "on_median_cpu_s": round(on, 4),
                "off_pps": round(packets / off),
                "on_pps": round(packets / on),
                "throughput_cost_percent": round(100 * (1 - off / on), 1),
                "off_min_cpu_s": round(off_min, 4),
                "on_min_cpu_s": round(on_min, 4),
                "throughput_cost_percent_of_fastest": round(100 * (1 - off_min / on_min), 1),
                "device_events": events,
            }
        )
    )


if __name__ == "__main__":
    main()
