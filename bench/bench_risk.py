"""Risk evaluation cost: per 1,000 devices and per million flows (one core, CPU time).

    .venv/bin/python -m bench.bench_risk [--devices N] [--flows M] [--repeats R] [--json]

Builds a synthetic hospital of N devices (the wing's categories in proportion, zones by
CIDR, a deny-by-default policy with rules) and M flow records between them (HL7, DICOM,
TLS, DNS, some telnet/FTP/SNMP, some internet traffic and a few scans), then measures,
best of R runs:
1. findings from the flows (central.risk.detect.RiskEvaluator.add_flows), per million
   flows, with and without a policy to decide every flow against;
2. device-level findings + scores + fix-first + roll-ups (finish, score_all, fix_first,
   rollups), per 1,000 devices;
3. the policy simulation over communications rows (one row per distinct flow key);
4. with --database-flows K (default 100,000; 0 skips): the whole evaluation run against a
   SQLite inventory holding the devices and K flows (central.risk.store.evaluate: read
   the flows table, findings, merge, alerts, scores, snapshot), per million flows; then
   the same traffic again an hour later (findings and alerts exist: the steady state).
"""

from __future__ import annotations

import argparse
import json
import random
import time
import tomllib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from agent.config.problems import Problems
from central.policy.baseline import Communication, HostInfo
from central.policy.config import parse_containment
from central.policy.rules import Policy
from central.policy.simulate import simulate
from central.risk.detect import RiskEvaluator
from central.risk.model import DeviceFacts, ObservedFlow
from central.risk.rules import load_rules
from central.risk.scoring import fix_first, rollups, score_all

T0 = datetime(2026, 1, 5, tzinfo=UTC)
# (category, criticality, phi, share of devices, the subnet its zone owns)
MIX = [
    ("infusion_pump", "life-sustaining", True, 0.30, 2),
    ("patient_monitor", "monitoring", True, 0.20, 2),
    ("imaging", "diagnostic", True, 0.05, 3),
    ("workstation", "administrative", False, 0.25, 5),
    ("label_printer", "administrative", False, 0.05, 5),
    ("ip_camera", "administrative", False, 0.05, 6),
    ("lab_analyzer", "diagnostic", True, 0.05, 7),
    ("server", "clinical IT", True, 0.05, 9),
]
POLICY = """
[zones.bedside]
medical = true
cidrs = ["10.2.0.0/16"]
[zones.imaging]
medical = true
cidrs = ["10.3.0.0/16"]
[zones.office]
cidrs = ["10.5.0.0/16", "10.6.0.0/16"]
[zones.lab]
medical = true
cidrs = ["10.7.0.0/16"]
[zones.servers]
cidrs = ["10.9.0.0/16"]
[policy]
default_action = "deny"
[[policy.rules]]
from = "bedside"
to = "servers"
services = ["hl7", "tcp/443"]
action = "allow"
[[policy.rules]]
from = "imaging"
to = "servers"
services = ["dicom"]
action = "allow"
[[policy.rules]]
from = "office"
to = "servers"
action = "allow"
[[policy.rules]]
from = "any"
to = "servers"
services = ["dns"]
action = "allow"
"""


def make_devices(count: int, rng: random.Random) -> list[DeviceFacts]:
    devices = []
    for index in range(count):
        roll, total = rng.random(), 0.0
        category, criticality, phi, _share, subnet = MIX[-1]
        for row in MIX:
            total += row[3]
            if roll <= total:
                category, criticality, phi, _share, subnet = row
                break
        address = f"10.{subnet}.{index // 250}.{index % 250 + 1}"
        devices.append(
            DeviceFacts(
                id=f"d{index}",
                site="st-mary",
                addresses=(address,),
                wings=(f"w{index % 20}",),
                category=category,
                criticality=criticality,
                handles_phi=phi,
                first_seen=T0 - timedelta(days=30),
                created_at=T0 - timedelta(days=30),
            )
        )
    return devices


def make_flows(devices: list[DeviceFacts], count: int, rng: random.Random) -> list[ObservedFlow]:
    servers = [d for d in devices if d.category == "server"] or devices[:1]
    by_category: dict[str, list[DeviceFacts]] = {}
    for device in devices:
        by_category.setdefault(device.category, []).append(device)
    flows = []
    for index in range(count):
        roll = rng.random()
        src = devices[rng.randrange(len(devices))]
        # Each device talks to its own two servers (an HL7 engine, a PACS ...), as in a
        # hospital; one flow in ten goes to any server.
        home = servers[(int(src.id[1:]) + (index & 1)) % len(servers)]
        server = rng.choice(servers) if rng.random() < 0.1 else home
        dst, port, service, proto, state = server.addresses[0], 443, "ssl", "tcp", "SF"
        if src.category in ("infusion_pump", "patient_monitor") and roll < 0.5:
            port, service = 2575, "hl7"
        elif src.category == "imaging" and roll < 0.7:
            port, service = 104, "dicom"
        elif roll < 0.15:
            port, service, proto, state = 53, "dns", "udp", ""
        elif roll < 0.16:
            port, service = 23, "telnet"
        elif roll < 0.17:
            port, service = 21, "ftp"
        elif roll < 0.175:
            port, service, proto, state = 161, "snmp_default_community", "udp", ""
        elif roll < 0.19:
            dst = f"52.1.{rng.randrange(4)}.{rng.randrange(1, 51)}"  # 200 cloud addresses
        elif roll < 0.191:  # a scan burst: one host, many ports, unanswered
            port, service, state = rng.randrange(1, 1024), None, "S0"
        flows.append(
            ObservedFlow(
                site="st-mary",
                ts=T0 + timedelta(seconds=index * 0.01),
                orig_h=src.addresses[0],
                orig_p=40000 + index % 20000,
                resp_h=dst,
                resp_p=port,
                proto=proto,
                service=service,
                conn_state=state or None,
                resp_bytes=100,
                resp_pkts=2,
                community_id=f"1:{index}",
            )
        )
    return flows


def cpu_best(function: Callable[[], object], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.process_time()
        function()
        best = min(best, time.process_time() - start)
    return best


def database_run(devices: list[DeviceFacts], flows: list[ObservedFlow], policy: Policy) -> dict:
    import tempfile

    from central.db import open_database
    from central.risk.store import RiskContext, evaluate
    from tests.central.risk_db import insert_flows, seed_devices

    with tempfile.TemporaryDirectory() as directory:
        engine = open_database(f"sqlite:///{directory}/bench.db")
        with engine.begin() as connection:
            seed_devices(connection, devices, T0)
            insert_flows(connection, flows, T0)
        start = time.process_time()
        with engine.begin() as connection:
            result = evaluate(connection, RiskContext(load_rules(), policy, settle_s=0), T0)
        cpu = time.process_time() - start
        # Steady state: the same traffic again an hour later; the findings and alerts
        # exist, so it is counts and updates rather than new rows.
        with engine.begin() as connection:
            insert_flows(connection, flows, T0 + timedelta(hours=1))
        start = time.process_time()
        with engine.begin() as connection:
            again = evaluate(
                connection, RiskContext(load_rules(), policy, settle_s=0), T0 + timedelta(hours=1)
            )
        cpu_again = time.process_time() - start
        engine.dispose()
    return {
        "database_flows": len(flows),
        "database_findings_changed": result.findings_changed,
        "database_alert_events": len(result.events),
        "database_cpu_s_per_million_flows": round(cpu * 1_000_000 / len(flows), 2),
        "database_again_alert_events": len(again.events),
        "database_again_cpu_s_per_million_flows": round(cpu_again * 1_000_000 / len(flows), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=5000)
    parser.add_argument("--flows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--database-flows", type=int, default=100_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rng = random.Random(14)
    rules = load_rules()
    devices = make_devices(args.devices, rng)
    flows = make_flows(devices, args.flows, rng)
    problems = Problems()
    policy = parse_containment(tomllib.loads(POLICY), Path("bench.toml"), problems)
    assert not problems.errors, problems.errors

    def flows_only(with_policy: Policy | None) -> Callable[[], object]:
        def run() -> object:
            evaluator = RiskEvaluator(rules, devices, T0, policy=with_policy)
            evaluator.add_flows(flows)
            return evaluator

        return run

    evaluator = flows_only(policy)()
    assert isinstance(evaluator, RiskEvaluator)
    findings = evaluator.finish()

    def device_side() -> object:
        scores = score_all(rules, devices, findings)
        fix_first(rules, devices, scores)
        return rollups(devices, scores, findings)

    def finish_only() -> object:
        again = RiskEvaluator(rules, devices, T0, policy=policy)
        return again.finish()

    keys: dict[tuple, int] = {}
    for flow in flows:
        key = (flow.orig_h, flow.resp_h, flow.proto, flow.resp_p, flow.service)
        keys[key] = keys.get(key, 0) + 1
    rows = [
        Communication("st-mary", o, r, p, port, s, n, T0, T0)
        for (o, r, p, port, s), n in keys.items()
    ]
    hosts = {
        ("st-mary", d.addresses[0]): HostInfo(d.id, d.site, d.category, d.wings, (), d.criticality)
        for d in devices
    }

    per_million = 1_000_000 / args.flows
    per_thousand = 1000 / args.devices
    results = {
        "date": datetime.now(UTC).isoformat(timespec="minutes"),
        "devices": args.devices,
        "flows": args.flows,
        "findings": len(findings),
        "flows_cpu_s_per_million_no_policy": round(
            cpu_best(flows_only(None), args.repeats) * per_million, 2
        ),
        "flows_cpu_s_per_million_with_policy": round(
            cpu_best(flows_only(policy), args.repeats) * per_million, 2
        ),
        "device_findings_cpu_s_per_1000_devices": round(
            cpu_best(finish_only, args.repeats) * per_thousand, 4
        ),
        "scores_rollups_cpu_s_per_1000_devices": round(
            cpu_best(device_side, args.repeats) * per_thousand, 4
        ),
        "simulation_rows": len(rows),
        "simulation_cpu_s": round(cpu_best(lambda: simulate(policy, rows, hosts), args.repeats), 3),
    }
    if args.database_flows:
        results.update(database_run(devices, flows[: args.database_flows], policy))
    if args.json:
        print(json.dumps(results))
        return
    for key, value in results.items():
        print(f"{key:42} {value}")


if __name__ == "__main__":
    main()
