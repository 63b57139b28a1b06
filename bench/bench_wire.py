"""Wire format benchmark: bytes per flow on the wire, and encode+sign throughput.

    .venv/bin/python -m bench.bench_wire [--packets N] [--repeats R] [--json]

1. Makes the bench capture with tools/wingcap.py (seed 4, 1,000,000 frames by default;
   bench/bench_flows.py's copy in bench/out/ when it exists, else build/wire-bench/)
   and summarizes it with the engine into FlowRecords (real records, not synthetic).
2. Splits the records, in the order the engine emitted them, into batches of a fixed
   number of flows (250 ... 4000) and into fixed time windows (10 s, 60 s, 300 s); for
   each, encodes and signs every batch exactly as the pipeline does and reports the
   signed message bytes per flow (COSE envelope, counters and tables included; no
   compression, no MQTT/TCP headers) and flow records per second (best of R runs, one
   core).
3. Runs softflowd over the same capture with IPFIX biflow export (-v 10 -b) to a local
   UDP socket and reports its IPFIX message bytes per flow record, for comparison.
4. Decode+verify throughput of the consumer, for the same batches.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import fields, replace
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.consumer import Consumer
from agent.cose import Signer
from agent.engine import EngineCounters
from agent.flowrecord import FlowRecord
from agent.keys import TrustStore
from agent.pipeline import cumulative_counters
from agent.wire import BatchInfo, SensorIdentity, encode_flow_batch, topic_for

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "build" / "wire-bench"
IDENTITY = SensorIdentity("wing4b-01", "st-mary", "4b", os.urandom(16))
TOPIC = topic_for("iomt", "st-mary", "4b", "wing4b-01", "flows")
# What the pipeline sends per window: every cumulative engine counter, at realistic sizes.
COUNTERS = cumulative_counters(EngineCounters(*[12_345_678] * len(fields(EngineCounters))))
LOSSES = {"spool_messages": 0, "spool_bytes": 0}


def bench_capture(packets: int) -> Path:
    """The bench capture (tools/wingcap, seed 4); bench_flows.py's copy when it has one."""
    WORK.mkdir(parents=True, exist_ok=True)
    shared = ROOT / "bench" / "out" / f"wing-{packets}-s4.pcap"
    if shared.exists():
        return shared
    pcap = WORK / f"wing-{packets}.pcap"
    if not pcap.exists():
        subprocess.run(
            [sys.executable, "-m", "tools.wingcap", str(pcap), "--packets", str(packets)],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
    return pcap


def engine_records(pcap: Path) -> list[FlowRecord]:
    from agent.engine import summarize_file

    return list(summarize_file(pcap))


def by_count(records: list[FlowRecord], size: int) -> list[list[FlowRecord]]:
    return [records[i : i + size] for i in range(0, len(records), size)]


def by_window(records: list[FlowRecord], window_s: int) -> list[list[FlowRecord]]:
    """Batches as a time-window batcher would cut them: by when a record ended."""
    batches: dict[int, list[FlowRecord]] = {}
    for record in records:
        end_s = (record.ts_us + record.duration_us) // 1_000_000
        batches.setdefault(end_s // window_s, []).append(record)
    return [batches[key] for key in sorted(batches)]


def encode_and_sign(batches: list[list[FlowRecord]], signer: Signer) -> list[bytes]:
    out = []
    for seq, batch in enumerate(batches):
        info = BatchInfo(seq, 1_772_438_400_000_000, 1_772_438_410_000_000, COUNTERS, LOSSES)
        out.append(signer.sign(encode_flow_batch(batch, IDENTITY, info), TOPIC))
    return out


def best_of(repeats: int, work: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - started)
    return best


def measure(name: str, batches: list[list[FlowRecord]], repeats: int) -> dict[str, object]:
    key = Ed25519PrivateKey.generate()
    signer = Signer(key)
    flows = sum(len(b) for b in batches)
    messages = encode_and_sign(batches, signer)
    wire_bytes = sum(len(m) for m in messages)
    encode_s = best_of(repeats, lambda: encode_and_sign(batches, signer))
    trust = TrustStore({signer.kid: key.public_key()})

    def consume() -> None:
        consumer = Consumer(trust, max_message_bytes=16 << 20)
        for message in messages:
            consumer.handle(message, TOPIC)

    decode_s = best_of(repeats, consume)
    return {
        "batching": name,
        "messages": len(messages),
        "flows": flows,
        "flows_per_message": round(flows / len(messages), 1),
        "bytes_per_flow": round(wire_bytes / flows, 2),
        "largest_message_bytes": max(len(m) for m in messages),
        "encode_sign_records_per_s": round(flows / encode_s),
        "verify_decode_records_per_s": round(flows / decode_s),
    }


def softflowd_ipfix(pcap: Path) -> dict[str, object] | None:
    """IPFIX biflow bytes per flow record from softflowd over the same capture."""
    if shutil.which("softflowd") is None:
        return None
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 << 20)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.5)
    port = sock.getsockname()[1]
    received: list[bytes] = []
    exporter_done = threading.Event()

    def collect() -> None:
        # Until the exporter has exited and then nothing arrived for the socket timeout.
        while True:
            try:
                received.append(sock.recv(65535))
            except TimeoutError:
                if exporter_done.is_set():
                    return

    collector = threading.Thread(target=collect)
    collector.start()
    # The flags bench/bench_flows.py uses; without a control socket (-c none) softflowd
    # exits at the end of the file, after exporting every flow.
    try:
        subprocess.run(
            [
                "softflowd",
                "-r",
                str(pcap),
                "-n",
                f"127.0.0.1:{port}",
                "-v",
                "10",
                "-b",
                "-6",
                "-T",
                "vlan",
                "-m",
                "262144",
                "-c",
                "none",
                "-d",
                "-p",
                str(WORK / "softflowd.pid"),
            ],
            check=True,
            capture_output=True,
            timeout=600,
        )
    finally:
        exporter_done.set()
        collector.join()
        sock.close()
    data_records = _ipfix_data_records(received)
    total = sum(len(d) for d in received)
    return {
        "exporter": "softflowd -v 10 -b (IPFIX biflow)",
        "messages": len(received),
        "flow_records": data_records,
        "bytes_per_flow": round(total / data_records, 2) if data_records else None,
    }


def _ipfix_data_records(datagrams: list[bytes]) -> int:
    """Count data records: per set id >= 256, set length over the template's record size."""
    template_size: dict[int, int] = {}
    count = 0
    for message in datagrams:
        offset = 16
        while offset + 4 <= len(message):
            set_id = int.from_bytes(message[offset : offset + 2], "big")
            set_len = int.from_bytes(message[offset + 2 : offset + 4], "big")
            body = message[offset + 4 : offset + set_len]
            if set_id == 2:  # template set: id, field count, then (type, length[, PEN])
                pos = 0
                while pos + 4 <= len(body):
                    tid = int.from_bytes(body[pos : pos + 2], "big")
                    nfields = int.from_bytes(body[pos + 2 : pos + 4], "big")
                    pos += 4
                    size = 0
                    for _ in range(nfields):
                        ftype = int.from_bytes(body[pos : pos + 2], "big")
                        size += int.from_bytes(body[pos + 2 : pos + 4], "big")
                        pos += 8 if ftype & 0x8000 else 4
                    template_size[tid] = size
            elif set_id >= 256 and template_size.get(set_id):
                count += len(body) // template_size[set_id]
            if set_len < 4:
                break
            offset += set_len
    return count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packets", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument(
        "--without-macs",
        action="store_true",
        help="drop the flows' MACs first: the size of the same records without them",
    )
    args = parser.parse_args()

    pcap = bench_capture(args.packets)
    records = engine_records(pcap)
    if args.without_macs:
        records = [replace(r, orig_l2_addr=None, resp_l2_addr=None) for r in records]
    rows = [
        measure(f"{n} flows", by_count(records, n), args.repeats)
        for n in (250, 500, 1000, 2000, 4000)
    ]
    rows += [measure(f"{s} s window", by_window(records, s), args.repeats) for s in (10, 60, 300)]
    ipfix = softflowd_ipfix(pcap)
    result = {
        "capture": str(pcap.relative_to(ROOT)),
        "records": len(records),
        "wire": rows,
        "softflowd": ipfix,
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"capture {result['capture']}: {len(records)} flow records from the engine")
    print(
        "| batching | messages | flows/message | bytes/flow | largest message | "
        "encode+sign records/s | verify+decode records/s |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        print(
            f"| {row['batching']} | {row['messages']} | {row['flows_per_message']} | "
            f"{row['bytes_per_flow']} | {row['largest_message_bytes']} | "
            f"{row['encode_sign_records_per_s']:,} | {row['verify_decode_records_per_s']:,} |"
        )
    if ipfix:
        print(
            f"softflowd IPFIX biflow, same capture: {ipfix['flow_records']} records in "
            f"{ipfix['messages']} messages, {ipfix['bytes_per_flow']} bytes/flow"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
