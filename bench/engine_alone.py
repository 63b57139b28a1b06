"""The engine alone on one capture file, timed in-process (run by bench/bench_flows.py).

    python -m bench.engine_alone CAPTURE

Imports are done before the clock starts; the clock covers opening the file, the
polling loop (records converted to FlowRecord, as every caller gets them) and the
final flush. Prints one JSON object: seconds, packets, records, bytes_per_slot, max_flows.
"""

from __future__ import annotations

import json
import sys
import time

from agent.engine import Engine


def measure(path: str) -> dict[str, float | int]:
    """Summarize `path` once with default settings; the figures of that run."""
    with Engine() as engine:
        started = time.perf_counter()
        engine.open_file(path)
        records = 0
        while not engine.exhausted:
            records += len(engine.poll())
        records += len(engine.flush())
        seconds = time.perf_counter() - started
        counters = engine.counters()
        return {
            "seconds": seconds,
            "packets": counters.packets_seen,
            "records": records,
            "bytes_per_slot": engine.bytes_per_slot,
            "max_flows": counters.max_flows,
        }


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m bench.engine_alone CAPTURE")
    print(json.dumps(measure(sys.argv[1])))
