"""Wire format benchmark: bytes per flow on the wire, schema 2 against schema 3, and
encode+sign and verify+decode throughput.

    .venv/bin/python -m bench.bench_wire [--packets N] [--repeats R] [--json]
                                         [--quiet-packets N] [--breakdown] [--no-softflowd]

1. Makes the bench capture with tools/wingcap.py (seed 4, 1,000,000 frames by default;
   bench/bench_flows.py's copy in bench/out/ when it exists, else build/wire-bench/)
   and a quiet wing's hour (tools/wingcap, 120,000 frames over 3600 s), and summarizes
   each with the engine into FlowRecords (real records, not synthetic).
2. Splits the records, in the order the engine emitted them, into batches of a fixed
   number of flows (50 ... 4000) and into fixed time windows (10 s ... 300 s); for
   each, encodes and signs every batch exactly as the pipeline does, with schema 3 (the
   sender's) and schema 2 (tests/support/wire_v2.py, the previous sender's), and reports
   the signed message bytes per flow (COSE envelope, every engine counter and the tables
   included; no compression, no MQTT/TCP headers) and flow records per second (best of R
   runs, one core).
3. Verify+decode throughput of the consumer (Consumer.handle: records out), same batches.
4. --breakdown: where schema 3's bytes go, per key and per column, at 1000- and 50-flow
   batches of the bench capture and 60 s windows of the quiet wing.
5. Runs softflowd over the bench capture with IPFIX biflow export (-v 10 -b) to a local
   UDP socket and reports its IPFIX message bytes per flow record, for comparison.
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
from agent.wire.canonical import dumps, strict_loads
from agent.wire.schema import V3_COLUMN_NAMES, V3_COLUMNS
from tests.support.wire_v2 import encode_flow_batch_v2

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "build" / "wire-bench"
IDENTITY = SensorIdentity("wing4b-01", "st-mary", "4b", os.urandom(16), boot_count=41)
TOPIC = topic_for("iomt", "st-mary", "4b", "wing4b-01", "flows")
# What the pipeline sends per window: every cumulative engine counter, at realistic sizes.
COUNTERS = cumulative_counters(EngineCounters(*[12_345_678] * len(fields(EngineCounters))))
LOSSES = {"spool_messages": 0, "spool_bytes": 0}


ENCODERS: dict[str, Callable[[list[FlowRecord], SensorIdentity, BatchInfo], bytes]] = {
    "v3": encode_flow_batch,
    "v2": encode_flow_batch_v2,
}


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


def quiet_capture(packets: int, duration_s: int = 3600) -> Path:
    """A quiet wing: tools/wingcap's default seed, `packets` frames over `duration_s`."""
    WORK.mkdir(parents=True, exist_ok=True)
    pcap = WORK / f"quiet-{packets}-{duration_s}s.pcap"
    if not pcap.exists():
        command = [sys.executable, "-m", "tools.wingcap", str(pcap), "--packets", str(packets)]
        command += ["--duration-s", str(duration_s)]
        subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
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


def encode_and_sign(
    batches: list[list[FlowRecord]], signer: Signer, schema: str = "v3"
) -> list[bytes]:
    encode = ENCODERS[schema]
    out = []
    for seq, batch in enumerate(batches):
        info = BatchInfo(seq, 1_772_438_400_000_000, 1_772_438_410_000_000, COUNTERS, LOSSES)
        out.append(signer.sign(encode(batch, IDENTITY, info), TOPIC))
    return out


def best_of(repeats: int, work: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - started)
    return best


def measure(
    capture: str, name: str, batches: list[list[FlowRecord]], repeats: int
) -> dict[str, object]:
    key = Ed25519PrivateKey.generate()
    signer = Signer(key)
    flows = sum(len(b) for b in batches)
    trust = TrustStore({signer.kid: key.public_key()})
    row: dict[str, object] = {
        "capture": capture,
        "batching": name,
        "messages": len(batches),
        "flows": flows,
        "flows_per_message": round(flows / len(batches), 1),
    }
    for schema in ENCODERS:
        messages = encode_and_sign(batches, signer, schema)
        row[f"{schema}_bytes_per_flow"] = round(sum(len(m) for m in messages) / flows, 2)
        row[f"{schema}_largest_message_bytes"] = max(len(m) for m in messages)

        def consume(messages: list[bytes] = messages) -> None:
            consumer = Consumer(trust, max_message_bytes=16 << 20)
            for message in messages:
                consumer.handle(message, TOPIC)

        row[f"{schema}_verify_decode_records_per_s"] = round(flows / best_of(repeats, consume))
    encode_s = best_of(repeats, lambda: encode_and_sign(batches, signer))
    row["v3_encode_sign_records_per_s"] = round(flows / encode_s)
    return row


def breakdown(batches: list[list[FlowRecord]]) -> dict[str, float]:
    """Schema 3's signed bytes per flow by part: each payload key (its key and value as
    encoded), each column of key 22, and the COSE_Sign1 around the payload."""
    signer = Signer(Ed25519PrivateKey.generate())
    flows = sum(len(b) for b in batches)
    parts: dict[str, int] = {}
    for seq, batch in enumerate(batches):
        info = BatchInfo(seq, 1_772_438_400_000_000, 1_772_438_410_000_000, COUNTERS, LOSSES)
        payload = encode_flow_batch(batch, IDENTITY, info)
        signed = signer.sign(payload, TOPIC)
        parts["COSE_Sign1 (header, signature, lengths)"] = (
            parts.get("COSE_Sign1 (header, signature, lengths)", 0) + len(signed) - len(payload)
        )
        decoded = strict_loads(payload)
        parts["payload map head"] = parts.get("payload map head", 0) + (
            1 if len(decoded) < 24 else 2
        )
        for key, value in decoded.items():
            size = len(dumps(key)) + len(dumps(value))
            if key == V3_COLUMNS:
                parts["key 22 head"] = parts.get("key 22 head", 0) + len(dumps(key)) + 1
                for name, column in zip(V3_COLUMN_NAMES, value, strict=True):
                    label = f"22: {name}"
                    parts[label] = parts.get(label, 0) + len(dumps(column))
                continue
            label = f"key {key}"
            parts[label] = parts.get(label, 0) + size
    return {label: round(size / flows, 2) for label, size in parts.items()}


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
    parser.add_argument("--quiet-packets", type=int, default=120_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--breakdown", action="store_true", help="where schema 3's bytes go")
    parser.add_argument("--no-softflowd", action="store_true", help="skip the IPFIX comparison")
    parser.add_argument(
        "--without-macs",
        action="store_true",
        help="drop the flows' MACs first: the size of the same records without them",
    )
    args = parser.parse_args()

    pcap = bench_capture(args.packets)
    quiet = quiet_capture(args.quiet_packets)
    records = engine_records(pcap)
    quiet_records = engine_records(quiet)
    if args.without_macs:
        records = [replace(r, orig_l2_addr=None, resp_l2_addr=None) for r in records]
        quiet_records = [replace(r, orig_l2_addr=None, resp_l2_addr=None) for r in quiet_records]
    bench_name, quiet_name = "bench", "quiet wing"
    rows = [
        measure(bench_name, f"{n} flows", by_count(records, n), args.repeats)
        for n in (50, 250, 1000, 4000)
    ]
    rows += [
        measure(bench_name, f"{s} s window", by_window(records, s), args.repeats)
        for s in (10, 30, 60, 300)
    ]
    rows += [
        measure(quiet_name, f"{s} s window", by_window(quiet_records, s), args.repeats)
        for s in (30, 60)
    ]
    rows.append(measure(quiet_name, "1000 flows", by_count(quiet_records, 1000), args.repeats))
    parts = {}
    if args.breakdown:
        parts = {
            "bench, 1000 flows": breakdown(by_count(records, 1000)),
            "bench, 50 flows": breakdown(by_count(records, 50)),
            "quiet wing, 60 s window": breakdown(by_window(quiet_records, 60)),
        }
    ipfix = None if args.no_softflowd else softflowd_ipfix(pcap)
    result = {
        "captures": {
            bench_name: {"file": str(pcap.relative_to(ROOT)), "records": len(records)},
            quiet_name: {"file": str(quiet.relative_to(ROOT)), "records": len(quiet_records)},
        },
        "wire": rows,
        "breakdown": parts,
        "softflowd": ipfix,
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    for name, capture in result["captures"].items():
        print(f"{name} capture {capture['file']}: {capture['records']} flow records")
    print(
        "| capture | batching | messages | flows/message | v2 bytes/flow | v3 bytes/flow | "
        "v3 largest message | v3 encode+sign rec/s | v2 verify+decode rec/s | "
        "v3 verify+decode rec/s |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        print(
            f"| {row['capture']} | {row['batching']} | {row['messages']} | "
            f"{row['flows_per_message']} | {row['v2_bytes_per_flow']} | "
            f"{row['v3_bytes_per_flow']} | {row['v3_largest_message_bytes']} | "
            f"{row['v3_encode_sign_records_per_s']:,} | "
            f"{row['v2_verify_decode_records_per_s']:,} | "
            f"{row['v3_verify_decode_records_per_s']:,} |"
        )
    for title, table in parts.items():
        print(f"\nwhere schema 3's bytes go, {title} (signed bytes per flow):")
        for label, size in sorted(table.items(), key=lambda item: -item[1]):
            print(f"  {label:45} {size:7.2f}")
        print(f"  {'total':45} {sum(table.values()):7.2f}")
    if ipfix:
        print(
            f"softflowd IPFIX biflow, same capture: {ipfix['flow_records']} records in "
            f"{ipfix['messages']} messages, {ipfix['bytes_per_flow']} bytes/flow"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
