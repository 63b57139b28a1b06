"""Real records end to end: a generated wing capture through the engine, encoded,
signed, consumed: the consumer prints exactly what `flows --json` prints."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.consumer import Consumer
from agent.cose import Signer
from agent.keys import TrustStore
from agent.wire import BatchInfo, SensorIdentity, encode_flow_batch, topic_for
from tests.support.agent_setup import run_agent

ROOT = Path(__file__).resolve().parent.parent
ORIGIN_FIELDS = ("type", "sensor", "site", "wing", "boot", "seq", "topic")


@pytest.fixture(scope="module")
def wing_capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pcap = tmp_path_factory.mktemp("wing") / "wing.pcap"
    made = subprocess.run(
        [sys.executable, "-m", "tools.wingcap", str(pcap), "--packets", "20000"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert made.returncode == 0, made.stderr
    return pcap


def test_consumed_flows_equal_the_engines_records(wing_capture: Path) -> None:
    engine = pytest.importorskip("agent.engine", reason="the C extension is not built")
    records = list(engine.summarize_file(wing_capture))
    assert len(records) > 500
    identity = SensorIdentity("wing4b-01", "st-mary", "4b", os.urandom(16))
    topic = topic_for("iomt", "st-mary", "4b", "wing4b-01", "flows")
    signer = Signer(Ed25519PrivateKey.generate())
    consumer = Consumer(TrustStore({signer.kid: signer.public_key()}))
    decoded = []
    for seq, start in enumerate(range(0, len(records), 1000)):
        batch = BatchInfo(seq=seq, window_start_us=0, window_end_us=1)
        message = signer.sign(
            encode_flow_batch(records[start : start + 1000], identity, batch), topic
        )
        assert len(message) <= 40 * len(records[start : start + 1000]) or start + 1000 > len(
            records
        )
        for record in consumer.handle(message, topic):
            if record["type"] == "flow":
                decoded.append({k: v for k, v in record.items() if k not in ORIGIN_FIELDS})
    expected = [r.to_json(identity.boot_id) for r in records]
    key = lambda record: json.dumps(record, sort_keys=True)  # noqa: E731
    assert sorted(map(key, decoded)) == sorted(map(key, expected))


def test_flows_json_command_and_consumer_agree_field_for_field(
    wing_capture: Path, tmp_path: Path
) -> None:
    """The contract: decoded flows use exactly the JSON fields of `flows --json`."""
    pytest.importorskip("agent.engine", reason="the C extension is not built")
    printed = run_agent("flows", str(wing_capture), "--json")
    assert printed.returncode == 0, printed.stderr
    cli_flows = [json.loads(line) for line in printed.stdout.splitlines()]
    from agent.engine import summarize_file

    records = list(summarize_file(wing_capture))
    identity = SensorIdentity("s", "site", "w", os.urandom(16))
    signer = Signer(Ed25519PrivateKey.generate())
    topic = topic_for("iomt", "site", "w", "s", "flows")
    consumer = Consumer(TrustStore({signer.kid: signer.public_key()}))
    message = signer.sign(encode_flow_batch(records, identity, BatchInfo(0, 0, 1)), topic)
    flows = [r for r in consumer.handle(message, topic) if r["type"] == "flow"]
    # The uid is salted with each side's own boot id; every other field and value is
    # equal, and no field is missing or extra (the keys are part of each dump).
    strip = lambda r: json.dumps(  # noqa: E731
        {k: v for k, v in r.items() if k not in (*ORIGIN_FIELDS, "uid")}, sort_keys=True
    )
    assert sorted(map(strip, flows)) == sorted(map(strip, cli_flows))
