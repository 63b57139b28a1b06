"""`./build.sh demo`: the main job, end to end, on a generated hospital-wing capture.

    python -m tools.demo [--packets N] [--seed S] [--keep]

1. generate a sample capture of ward 4B (tools/wingcap.py) in a temporary directory;
2. summarize it with the flow engine as `iomt-agent flows` does (flows by service,
   connection states, end reasons, counters), checked against the generator's truth;
3. replay it through the whole pipeline (`iomt-agent replay`: batches, deterministic
   CBOR, COSE_Sign1 with a fresh Ed25519 key, spool, MQTT) into a mosquitto the demo
   starts on a free loopback port;
4. print what `iomt-agent consume` received there, every signature verified: whole
   records of a flow, of the devices that matter in a wing (an infusion pump, a patient
   monitor, a CT scanner), of health and of status;
5. `iomt-central ingest` takes the same stream (plus a wing with a device of every role)
   into build/demo-central/inventory.db; a text summary of the inventory (counts by
   category, patient-data devices, new devices), then `iomt-central serve` and its URL.
"""

from __future__ import annotations

import argparse
import collections
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

from tools import central_demo

MOSQUITTO = "/usr/sbin/mosquitto"
DEMO_SENSOR = "wing4b-demo"

DEMO_CONFIG = """\
[sensor]
id = "{sensor}"
site = "st-anne"
wing = "4b"
[capture]
interfaces = ["eth1"]   # replay reads a file; a live `run` would capture here
[mqtt]
url = "{url}"
topic_prefix = "iomt"
[signing]
key = "{key}"
[spool]
dir = "{spool}"
[logging]
level = "info"
"""

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


# Zeek's conn_state codes (https://docs.zeek.org/en/master/scripts/base/protocols/conn/
# main.zeek.html, conn_state), as the flow records carry them.
CONN_STATES = {
    "S0": "SYN seen, no reply",
    "S1": "established, not yet closed",
    "SF": "established and closed normally",
    "REJ": "SYN answered with a reset",
    "S2": "established, only the originator closed",
    "S3": "established, only the responder closed",
    "RSTO": "established, the originator reset",
    "RSTR": "established, the responder reset",
    "RSTOS0": "SYN then a reset from the originator, no SYN-ACK",
    "RSTRH": "SYN-ACK then a reset from the responder, no SYN seen",
    "SH": "SYN then FIN from the originator, no SYN-ACK",
    "SHR": "SYN-ACK then FIN from the responder, no SYN seen",
    "OTH": "no SYN seen (mid-stream), or not TCP (UDP, ICMP: no handshake to judge)",
}
END_REASONS = {
    "idle": "nothing for the idle timeout ([flows] *_idle_timeout_s)",
    "active": "still running after [flows] active_timeout_s: reported, and it goes on",
    "end": "TCP closed (FIN both ways, or a reset) and lingered",
    "forced": "still open when the capture ended (the agent flushes every flow)",
    "resources": "evicted because the flow table was full",
}
# The wing's clinical devices by their vendor's MAC prefix (tools/wingcap_wing.py).
DEVICE_SAMPLES = [
    ("an infusion pump", "00:1a:5c"),
    ("a patient monitor", "00:09:fb"),
    ("an imaging modality", "00:0b:7e"),
]


def legend(counts: collections.Counter[str], meanings: dict[str, str]) -> list[str]:
    """One line per code seen, most frequent first: '   SF   12  established and ...'."""
    return [f"     {code:<7}{n:>6,}  {meanings.get(code, '')}" for code, n in counts.most_common()]


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
    lines.append("   connection states (Zeek conn_state codes):")
    lines += legend(states, CONN_STATES)
    lines.append("   end reasons (why each record was emitted):")
    lines += legend(reasons, END_REASONS)
    return lines


def run_local_summary(pcap: Path, truth: Path) -> bool:
    """Step 2: the flow engine alone, checked against the generator's ground truth."""
    from agent.engine import Engine
    from tools import wingcap

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
    active = sum(record.end_reason == "active" for record in records)
    print(
        f"   {len(records):,} records from {counters.flows_created:,} flows: a flow that runs "
        f"longer than [flows] active_timeout_s is reported\n   every interval, one record each "
        f"time ({active:,} records here end `active`), so a long DICOM or HL7 link is\n   seen "
        "while it lasts, not only when it ends. A consumer adds the records up by uid."
    )
    comparison = wingcap.compare_with_truth(records, counters, truth)
    exact = comparison.exact
    print(
        "   checked against the generator's ground truth: "
        + (
            f"all {comparison.expected_records:,} records and every counter match exactly."
            if exact
            else f"MISMATCH: {sum(comparison.missing.values())} records missing, "
            f"{sum(comparison.extra.values())} unexpected, counters that differ: "
            f"{comparison.counter_diff}."
        )
    )
    return exact


def start_broker(workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    """A mosquitto of the demo's own on a free loopback port (never the system one)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    conf = workdir / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    broker = subprocess.Popen(
        [MOSQUITTO, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return broker, port
        time.sleep(0.05)
    broker.kill()
    raise SystemExit("demo: mosquitto did not start")


def agent(*args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agent", *args], capture_output=True, text=True, **kwargs
    )


def run_pipeline(pcap: Path, workdir: Path) -> bool:
    """Steps 3-4: key, config, broker, replay through the whole pipeline, consume."""
    broker, port = start_broker(workdir)
    url = f"mqtt://127.0.0.1:{port}"
    try:
        keys = workdir / "keys"
        kid = agent("keygen", "--out", str(keys), check=True).stdout.strip()
        trust = workdir / "trust"
        # In the sensor's own directory: the key may sign for this sensor only.
        (trust / DEMO_SENSOR).mkdir(parents=True)
        shutil.copy(keys / f"{kid}.pub", trust / DEMO_SENSOR)
        config = workdir / "agent.toml"
        config.write_text(
            DEMO_CONFIG.format(
                sensor=DEMO_SENSOR, url=url, key=keys / "sensor.key", spool=workdir / "spool"
            )
        )
        print(
            f"\n3. The full pipeline: `iomt-agent replay {pcap.name} -c agent.toml` into a "
            f"local mosquitto ({url}),\n   signed with a new Ed25519 key (kid {kid}); "
            f"`iomt-agent consume` verifies what arrives."
        )
        central_config = central_demo.prepare(url, trust)
        ingest = central_demo.start_ingest(central_config)
        consumer = subprocess.Popen(
            [sys.executable, "-m", "agent", "consume", "--url", url, "--trust", str(trust),
             "--exit-after-idle", "3"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert consumer.stderr is not None
        consumer.stderr.readline()  # "subscribed to ..."
        replay = agent("replay", str(pcap), "-c", str(config))
        for line in replay.stderr.splitlines():
            print("   agent: " + line.split(" ", 1)[-1])
        # The wing with a device of every role the inventory tells apart (a second boot).
        from tests.support.hospital import write_wing_capture

        roles = agent(
            "replay", str(write_wing_capture(workdir / "roles.pcap", 3)), "-c", str(config)
        )
        out, _ = consumer.communicate(timeout=120)
        ingested, _ = ingest.communicate(timeout=300)
    finally:
        broker.terminate()
        broker.wait()
    records = [json.loads(line) for line in out.splitlines()]
    kinds = collections.Counter(record["type"] for record in records)
    seqs = sorted({r["seq"] for r in records if "seq" in r})
    print(
        "\n4. The consumer verified every signature and received: "
        + ", ".join(f"{kind} {n:,}" for kind, n in sorted(kinds.items()))
        + f";\n   data messages seq {seqs[0] if seqs else '-'}..{seqs[-1] if seqs else '-'}"
        f" with no gap, nothing rejected."
        if kinds["gap"] == 0 and kinds["rejected"] == 0
        else f"\n4. PROBLEM: the consumer reported {dict(kinds)}"
    )
    samples: list[tuple[str, dict[str, Any] | None]] = [
        ("a flow (HL7 over MLLP)", _first(records, "flow", lambda r: r.get("service") == "hl7")),
    ]
    for what, prefix in DEVICE_SAMPLES:
        device = _richest_device(records, prefix)
        modality = (device or {}).get("fingerprints", {}).get("dicom_modality")
        samples.append((f"{what} ({modality[0]})" if modality else what, device))
    samples.append(("the last health message", _last(records, "health")))
    samples.append(("the last status message", _last(records, "status")))
    for what, example in samples:
        if example is not None:
            print(f"\n   {what}, whole:")
            print(textwrap.indent(json.dumps(example, indent=2), "     "))
    print(
        f"\n5. iomt-central ingested the same stream ({ingested.strip()}) into "
        f"{central_config.parent}/inventory.db:"
    )
    for line in central_demo.summary_lines(central_config):
        print("   " + line)
    return (
        replay.returncode == 0
        and roles.returncode == 0
        and ingest.returncode == 0
        and kinds["flow"] > 0
        and kinds["gap"] == kinds["rejected"] == 0
    )


def _first(records: list[dict[str, Any]], kind: str, test: Any) -> dict[str, Any] | None:
    return next((r for r in records if r["type"] == kind and test(r)), None)


def _last(records: list[dict[str, Any]], kind: str) -> dict[str, Any] | None:
    return next((r for r in reversed(records) if r["type"] == kind), None)


def _richest_device(records: list[dict[str, Any]], mac_prefix: str) -> dict[str, Any] | None:
    """The device record with that MAC prefix that says the most (a CT first, then the
    most fingerprints)."""
    devices = [r for r in records if r["type"] == "device" and r["mac"].startswith(mac_prefix)]
    return max(
        devices,
        key=lambda r: (
            "CT" in r.get("fingerprints", {}).get("dicom_modality", []),
            len(r.get("fingerprints", {})),
            len(r.get("protocols", [])),
        ),
        default=None,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.demo", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--packets", type=int, default=50_000, help="frames in the sample capture")
    parser.add_argument("--seed", type=int, default=4, help="same seed, same capture")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (printed)")
    args = parser.parse_args(argv)
    from tools import wingcap

    if not Path(MOSQUITTO).exists():
        print(f"demo: {MOSQUITTO} is missing: run ./build.sh demo", file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="iomt-demo-"))
    pcap = workdir / "ward4b.pcap"
    print("iomt-agent demo: a generated hospital-wing capture, end to end\n")
    made = wingcap.generate(pcap, args.packets, args.seed)
    print(
        f"1. Generated {pcap} (seed {args.seed}): {made.packets:,} frames, "
        f"{made.wire_bytes / 1e6:.1f} MB on the wire, {wingcap.DEFAULT_DURATION_S // 60} min of "
        f"ward 4B: DICOM, HL7/MLLP, TLS, DNS, DHCP, NTP, ICMP, IPv6, VLAN/QinQ, scans."
    )
    try:
        exact = run_local_summary(pcap, made.truth)
        delivered = run_pipeline(pcap, workdir)
    finally:
        if args.keep:
            print(f"\nKept {workdir}; try: .venv/bin/iomt-agent flows {pcap} --json | head")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
            print(
                "\nThe capture, configuration, key and spool were removed; keep them with "
                "`.venv/bin/python -m tools.demo --keep`."
            )
    if not (exact and delivered):
        return 1
    return central_demo.serve(central_demo.DATA / "central.toml")


if __name__ == "__main__":
    sys.exit(main())
