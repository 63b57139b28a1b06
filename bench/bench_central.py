"""Central ingest benchmark: CPU seconds of one ingest instance per 1,000 flows and per
1,000 device updates (verify + decode with agent.consumer, then store).

    .venv/bin/python -m bench.bench_central [--flows 20000] [--devices 2000] [--json]

Messages are made the way a sensor makes them (agent.wire encode, COSE_Sign1 with an
Ed25519 key): flows from agent.wire.samples (a wing's realistic mix), 1,000 per message;
device observations of 500 MACs with fingerprints, 100 per message, sent in rounds so
most are updates of known devices (the steady state) after a first round of new ones.
Each database gets the same messages: SQLite (a file in a temp dir) and, when it answers,
PostgreSQL at 127.0.0.1:5432 (a database made for the run and dropped). CPU is this
process's (time.process_time): the ingest instance's own work; PostgreSQL's server CPU
is another process and is reported apart (wall time). Goal: >= 10,000 flows/s and
>= 100 device updates/s of one instance's CPU.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.consumer import Consumer
from agent.cose import Signer
from agent.keys import TrustStore, kid_for
from agent.wire import BatchInfo, SensorIdentity, encode_flow_batch, topic_for
from agent.wire.encode import encode_devices
from agent.wire.samples import synthetic_flows
from central.classify.ruleset import load_ruleset
from central.db import open_database
from central.ingest.apply import IngestContext, store_message

SITE, WING, SENSOR = "bench-site", "4b", "bench-4b-01"
POSTGRES_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
VENDOR_CLASSES = [
    "CareFusion Alaris 8015",
    "Baxter Sigma Spectrum IQ",
    "MSFT 5.0",
    "Rauland Responder 5",
    "dhcpcd-9.4.1",
]


def make_messages(
    flows: int, device_updates: int
) -> tuple[list[tuple[bytes, str]], list[tuple[bytes, str]], TrustStore]:
    key = Ed25519PrivateKey.generate()
    signer = Signer(key)
    trust = TrustStore({kid_for(key.public_key()): key.public_key()})
    identity = SensorIdentity(SENSOR, SITE, WING, os.urandom(16))
    seq = 0
    flow_messages = []
    t0 = 1_767_225_600_000_000
    for n in range(flows // 1000):
        records = synthetic_flows(1000, seed=n + 1, window_end_us=t0 + n * 10_000_000)
        batch = BatchInfo(seq, t0 + (n - 1) * 10_000_000, t0 + n * 10_000_000)
        topic = topic_for("iomt", SITE, WING, SENSOR, "flows")
        flow_messages.append(
            (signer.sign(encode_flow_batch(records, identity, batch), topic), topic)
        )
        seq += 1
    rng = random.Random(7)
    device_messages = []
    macs = [f"02:4b:00:00:{n // 256:02x}:{n % 256:02x}" for n in range(500)]
    for n in range(device_updates // 100):
        chosen = macs[(n * 100) % 500 : (n * 100) % 500 + 100]
        items = []
        for index, mac in enumerate(chosen):
            round_no = n * 100 // 500
            items.append(
                {
                    "mac": mac,
                    "change": "update" if round_no else "new",
                    "first_seen_us": t0,
                    "last_seen_us": t0 + n * 1_000_000,
                    "ipv4": [f"10.4.{index // 200}.{index % 200 + 10}"],
                    "services": ["tcp/443"] if index % 5 == 0 else [],
                    "protocols": ["ssl", "dhcp"],
                    "peers": rng.randrange(1, 20),
                    "fingerprints": {
                        "dhcp_vendor_class": [VENDOR_CLASSES[index % len(VENDOR_CLASSES)]],
                        # a new SNI now and then: an update that adds a fingerprint
                        "tls_sni": [f"svc{round_no % 3}.example"],
                    },
                }
            )
        batch = BatchInfo(seq, t0 + n * 1_000_000, t0 + (n + 1) * 1_000_000)
        topic = topic_for("iomt", SITE, WING, SENSOR, "devices")
        device_messages.append((signer.sign(encode_devices(items, identity, batch), topic), topic))
        seq += 1
    return flow_messages, device_messages, trust


def run(url: str, messages: list[tuple[bytes, str]], trust: TrustStore) -> dict[str, float]:
    engine = open_database(url)
    consumer = Consumer(trust, report_gaps=False)
    context = IngestContext(ruleset=load_ruleset(), clock=lambda: datetime.now(UTC))
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for data, topic in messages:
        records = consumer.handle(data, topic)
        outcome = store_message(engine, records, context)
        assert outcome == "stored", outcome
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    engine.dispose()
    return {"cpu_s": cpu, "wall_s": wall}


@contextlib.contextmanager
def postgres_url() -> Iterator[str | None]:
    try:
        import psycopg

        name = f"iomt_bench_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(POSTGRES_ADMIN, autocommit=True, connect_timeout=3) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
    except Exception as exc:
        print(f"PostgreSQL skipped: {exc}", file=sys.stderr)
        yield None
        return
    try:
        yield POSTGRES_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flows", type=int, default=20_000)
    parser.add_argument("--devices", type=int, default=2_000, help="device updates")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    flow_messages, device_messages, trust = make_messages(args.flows, args.devices)
    results: dict[str, Any] = {
        "flows": len(flow_messages) * 1000,
        "device_updates": len(device_messages) * 100,
    }
    with tempfile.TemporaryDirectory() as tmp, postgres_url() as pg:
        databases = {"sqlite": f"sqlite:///{Path(tmp) / 'bench.db'}"}
        if pg is not None:
            databases["postgresql"] = pg
        for name, url in databases.items():
            flows = run(url, flow_messages, trust)
            devices = run(url, device_messages, trust)
            results[name] = {
                "cpu_s_per_1000_flows": flows["cpu_s"] / results["flows"] * 1000,
                "flows_per_cpu_s": results["flows"] / flows["cpu_s"],
                "flows_per_wall_s": results["flows"] / flows["wall_s"],
                "cpu_s_per_1000_device_updates": devices["cpu_s"]
                / results["device_updates"]
                * 1000,
                "device_updates_per_cpu_s": results["device_updates"] / devices["cpu_s"],
                "device_updates_per_wall_s": results["device_updates"] / devices["wall_s"],
            }
    if args.json:
        print(json.dumps(results, indent=1))
        return 0
    print(
        f"{results['flows']} flows in {len(flow_messages)} messages, "
        f"{results['device_updates']} device updates in {len(device_messages)} messages"
    )
    for name in ("sqlite", "postgresql"):
        if name not in results:
            continue
        r = results[name]
        print(
            f"{name:10s} flows: {r['cpu_s_per_1000_flows']:.3f} CPU s/1000 "
            f"({r['flows_per_cpu_s']:,.0f}/CPU s, {r['flows_per_wall_s']:,.0f}/wall s); "
            f"device updates: {r['cpu_s_per_1000_device_updates']:.3f} CPU s/1000 "
            f"({r['device_updates_per_cpu_s']:,.0f}/CPU s, "
            f"{r['device_updates_per_wall_s']:,.0f}/wall s)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
