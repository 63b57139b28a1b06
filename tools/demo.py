"""`./build.sh demo`: the main job, end to end, on a generated hospital-wing capture.

    python -m tools.demo [--packets N] [--seed S] [--keep]

For now: generate a sample capture of ward 4B (tools/wingcap.py) in a temporary
directory, summarize it with the flow engine exactly as `iomt-agent flows` does, print
a short human summary (flows by service, connection states, end reasons, the engine's
counters) and check every record and counter against the generator's ground truth.
Later steps grow this into the full pipeline (broker, signing, consumer).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# (label, IP protocol, server ports): how the summary groups flows.
SERVICES = [
    ("DICOM (TCP 104, 11112)", 6, {104, 11112}),
    ("HL7 over MLLP (TCP 2575)", 6, {2575}),
    ("TLS / HTTPS (TCP 443)", 6, {443}),
    ("DNS (UDP 53)", 17, {53}),
    ("DHCP (UDP 67/68)", 17, {67, 68}),
    ("NTP (UDP 123)", 17, {123}),
    ("syslog (UDP 514)", 17, {514}),
    ("ICMP / ICMPv6", 1, None),
    ("ICMP / ICMPv6", 58, None),
    ("VRRP (IP 112)", 112, None),
]


def service_of(proto: int, resp_port: int) -> str:
    """The summary's service label for a flow (scans land in 'other TCP')."""
    for label, service_proto, ports in SERVICES:
        if proto == service_proto and (ports is None or resp_port in ports):
            return label
    return {6: "other TCP (scans)", 17: "other UDP"}.get(proto, f"IP protocol {proto}")


def summarize(records: list[Any]) -> list[str]:
    """Human lines: flows, packets and bytes by service, then states and end reasons."""
    by_service: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0, 0])
    states: collections.Counter[str] = collections.Counter()
    reasons: collections.Counter[str] = collections.Counter()
    for record in records:
        row = by_service[service_of(record.proto, record.resp_port)]
        row[0] += 1
        row[1] += record.orig_pkts + record.resp_pkts
        row[2] += record.orig_ip_bytes + record.resp_ip_bytes
        states[record.conn_state] += 1
        reasons[record.end_reason] += 1
    lines = [f"   {'service':<26} {'records':>8} {'packets':>10} {'IP bytes':>14}"]
    for label, (count, packets, ip_bytes) in sorted(by_service.items(), key=lambda i: -i[1][1]):
        lines.append(f"   {label:<26} {count:>8,} {packets:>10,} {ip_bytes:>14,}")
    lines.append(
        "   connection states: " + ", ".join(f"{s} {n:,}" for s, n in states.most_common())
    )
    lines.append("   end reasons: " + ", ".join(f"{r} {n:,}" for r, n in reasons.most_common()))
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.demo", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--packets", type=int, default=50_000, help="frames in the sample capture")
    parser.add_argument("--seed", type=int, default=4, help="same seed, same capture")
    parser.add_argument("--keep", action="store_true", help="keep the capture (path printed)")
    args = parser.parse_args(argv)

    from agent.engine import Engine
    from agent.flowrecord import format_addr
    from tools import wingcap

    workdir = Path(tempfile.mkdtemp(prefix="iomt-demo-"))
    pcap = workdir / "ward4b.pcap"
    print("iomt-agent demo: a generated hospital-wing capture through the flow engine\n")
    made = wingcap.generate(pcap, args.packets, args.seed)
    print(
        f"1. Generated {pcap} (seed {args.seed}): {made.packets:,} frames, "
        f"{made.wire_bytes / 1e6:.1f} MB on the wire, {wingcap.DEFAULT_DURATION_S // 60} min of "
        f"ward 4B: DICOM, HL7/MLLP, TLS, DNS, DHCP, NTP, ICMP, IPv6, VLAN/QinQ, scans.\n"
        f"   Its ground truth (what the engine must report) is in {made.truth.name}."
    )

    started = time.perf_counter()
    with Engine() as engine:
        engine.open_file(pcap)
        records = []
        while not engine.exhausted:
            records.extend(engine.poll())
        records.extend(engine.flush())
        counters = engine.counters()
    seconds = time.perf_counter() - started
    print(
        f"\n2. Summarized it with the flow engine (as `iomt-agent flows {pcap.name}` does): "
        f"{len(records):,} flow records in {seconds:.2f} s."
    )
    print("\n".join(summarize(records)))
    print(
        f"   engine counters: packets seen {counters.packets_seen:,}, in flows "
        f"{counters.packets_in_flows:,}, non-IP {counters.non_ip:,}, malformed "
        f"{counters.malformed}, truncated {counters.truncated}, flows {counters.flows_created:,}"
    )

    expected, summary = wingcap.load_truth(made.truth)
    names = [name for name in expected[0] if name not in ("flow",)]
    got: collections.Counter[tuple[Any, ...]] = collections.Counter()
    for record in records:
        values = {name: getattr(record, name) for name in names}
        values["orig_addr"] = format_addr(record.orig_addr)
        values["resp_addr"] = format_addr(record.resp_addr)
        got[tuple(values[name] for name in names)] += 1
    want = collections.Counter(tuple(r[name] for name in names) for r in expected)
    want_counters = dict(summary["counters"])
    ended = want_counters.pop("flows_ended")
    want_counters.update({f"flows_ended_{reason}": n for reason, n in ended.items()})
    counters_ok = all(getattr(counters, name) == n for name, n in want_counters.items())
    exact = got == want and counters_ok
    print(
        "\n3. Checked against the generator's ground truth: "
        + (
            f"all {len(expected):,} records and every counter match exactly."
            if exact
            else f"MISMATCH: {sum((want - got).values())} records missing, "
            f"{sum((got - want).values())} unexpected, counters match: {counters_ok}."
        )
    )

    print(f"\n4. The same capture through the command line: iomt-agent flows {pcap.name} | head -6")
    table = subprocess.run(
        [sys.executable, "-m", "agent", "flows", str(pcap)],
        capture_output=True,
        text=True,
        check=False,
    )
    for line in table.stdout.splitlines()[:6]:
        print("   " + line)
    print(
        f"   ... {len(table.stdout.splitlines()) - 1:,} flow lines; stderr: {table.stderr.strip()}"
    )

    long_flow = next((r for r in records if r.end_reason == "active" and r.resp_port == 104), None)
    if long_flow is not None:
        print("\n   A long DICOM transfer, reported before it ended (end_reason active), as JSON:")
        print("   " + json.dumps(long_flow.to_json(os.urandom(16))))

    if args.keep:
        print(f"\nKept {pcap}; try: .venv/bin/iomt-agent flows {pcap} --json | head")
    else:
        for path in (pcap, made.truth):
            path.unlink()
        workdir.rmdir()
    print("\nNext steps of the demo (later issues): broker, signing, consumer.")
    return 0 if exact else 1


if __name__ == "__main__":
    sys.exit(main())
