"""`iomt-agent flows CAPTURE [--json]`: summarize a capture file locally, one line per flow.

No key, broker or configuration is needed. `--json` prints the contract's JSON object
per flow (Zeek conn.log names, docs/architecture.md), written by the engine in C
(native/json_lines.c: the same bytes as FlowRecord.to_json, at a few thousand
instructions per flow); without it, a compact table for a technician. A one-line counter
summary goes to stderr at the end.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from agent.engine import Engine, EngineCounters
    from agent.errors import CaptureError
    from agent.flowrecord import FlowRecord

RecordWriter = Callable[["FlowRecord"], None]


def register(parser: argparse.ArgumentParser) -> None:
    """Add the command's arguments."""
    parser.add_argument("capture", metavar="CAPTURE", help="pcap or pcapng file")
    parser.add_argument(
        "--json", action="store_true", help="one JSON object per flow (Zeek conn.log names)"
    )


def run(args: argparse.Namespace) -> int:
    """Print every flow of the capture; 0 on success. Raises UsageError for input that is
    not a readable capture, CaptureError for a truncated file (after printing its flows)."""
    from agent.engine import Engine

    out = sys.stdout
    with Engine() as engine:
        engine.open_file(args.capture)
        failure = _write_json(engine, out) if args.json else _write_table(engine, out)
        if failure:  # one error line, naming how far the file was read
            raise failure
        print(_summary(engine.counters()), file=sys.stderr)
    return 0


def _write_json(engine: Engine, out: TextIO) -> CaptureError | None:
    """Every record as a JSON line, written by the engine (native/json_lines.c) straight to
    out's file descriptor: the bytes FlowRecord.to_json through
    json.JSONEncoder(separators=(",", ":")) gives, without a Python object per flow.
    Returns the capture's failure, if any, after writing every flow read before it."""
    from agent.errors import CaptureError

    boot_id = os.urandom(16)  # uids are random per run, as the sensor's are per boot
    out.flush()  # nothing Python buffered may come after the engine's lines
    fd = out.fileno()
    failure: CaptureError | None = None
    while not engine.exhausted:
        try:
            engine.poll_json_lines(fd, boot_id)
        except CaptureError as exc:
            failure = exc
            break
    engine.flush_json_lines(fd, boot_id)
    return failure


def _write_table(engine: Engine, out: TextIO) -> CaptureError | None:
    """Every record as a table row; returns the capture's failure as _write_json does."""
    from agent.errors import CaptureError

    write = _table_writer(out)
    failure: CaptureError | None = None
    while not engine.exhausted:
        try:
            records = engine.poll()
        except CaptureError as exc:
            failure = exc
            records = []
        for record in records:
            write(record)
        if failure:
            break
    for record in engine.flush():
        write(record)
    out.flush()
    return failure


def _table_writer(out: TextIO) -> RecordWriter:
    from agent.flowrecord import PROTO_NAMES, format_addr

    # Sized for IPv4 (a technician's 100-column terminal); IPv6 endpoints push the
    # rest of their line to the right rather than widening every line.
    out.write(
        f"{'start (UTC)':<23} {'proto':<5} {'originator':>21} -> {'responder':<21} "
        f"{'service':<7} {'state':<6} {'pkts o/r':>11} {'bytes o/r':>17} end\n"
    )

    def endpoint(addr: bytes, port: int) -> str:
        text = format_addr(addr)
        return f"[{text}]:{port}" if len(addr) == 16 else f"{text}:{port}"

    def write(r: FlowRecord) -> None:
        seconds, micros = divmod(r.ts_us, 1_000_000)
        start = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(seconds)) + f".{micros // 1000:03d}"
        vlan = f" vlan {r.vlan}" if r.vlan is not None else ""
        out.write(
            f"{start:<23} {PROTO_NAMES.get(r.proto, str(r.proto)):<5} "
            f"{endpoint(r.orig_addr, r.orig_port):>21} -> "
            f"{endpoint(r.resp_addr, r.resp_port):<21} {r.service or '-':<7} {r.conn_state:<6} "
            f"{f'{r.orig_pkts}/{r.resp_pkts}':>11} "
            f"{f'{r.orig_ip_bytes}/{r.resp_ip_bytes}':>17} {r.end_reason}{vlan}\n"
        )

    return write


def _summary(c: EngineCounters) -> str:
    return (
        f"packets seen {c.packets_seen}, in flows {c.packets_in_flows}, non-IP {c.non_ip}, "
        f"malformed {c.malformed}, truncated {c.truncated}, "
        f"unmatched fragments {c.fragments_unmatched}, "
        f"drops {c.kernel_drops + c.interface_drops}; flows {c.flows_created}"
    )
