"""`iomt-agent verify`: saved messages in, JSON lines out; bad input is one line, no traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agent.cose import Signer
from agent.keys import generate_key_pair, load_private_key
from agent.wire import BatchInfo, SensorIdentity, encode_flow_batch, encode_status, topic_for
from agent.wire.samples import synthetic_flows
from tests.support.agent_setup import run_agent, signer_and_trust

IDENTITY = SensorIdentity("wing4b-01", "st-mary", "4b", os.urandom(16))
TOPIC = topic_for("iomt", "st-mary", "4b", "wing4b-01", "flows")


@pytest.fixture()
def setup(tmp_path: Path) -> tuple[Path, Signer]:
    signer, trust = signer_and_trust(tmp_path)
    return trust, signer


def test_verify_prints_decoded_records(tmp_path: Path, setup: tuple[Path, Signer]) -> None:
    trust, signer = setup
    records = synthetic_flows(20, seed=2)
    files = []
    for seq in range(2):
        batch = BatchInfo(
            seq=seq, window_start_us=0, window_end_us=10, counters={"packets_seen": seq}
        )
        path = tmp_path / f"m{seq}.cbor"
        path.write_bytes(signer.sign(encode_flow_batch(records, IDENTITY, batch), TOPIC))
        files.append(str(path))
    result = run_agent("verify", "--trust", str(trust), "--topic", TOPIC, *files, files[0])
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["type"] for r in lines].count("flow") == 40  # the repeated file is dropped
    assert lines[0]["type"] == "boot"
    flows = [r for r in lines if r["type"] == "flow" and r["seq"] == 0]
    expected = sorted(records, key=lambda r: (r.ts_us, r.serial))
    assert [
        {k: f[k] for k in f if k not in ("type", "sensor", "site", "wing", "boot", "seq", "topic")}
        for f in flows
    ] == [r.to_json(IDENTITY.boot_id) for r in expected]


def test_verify_reports_a_rejection_and_exits_1(tmp_path: Path, setup: tuple[Path, Signer]) -> None:
    trust, signer = setup
    status_topic = topic_for("iomt", "st-mary", "4b", "wing4b-01", "status")
    path = tmp_path / "status.cbor"
    path.write_bytes(signer.sign(encode_status("online", IDENTITY, 1), status_topic))
    result = run_agent("verify", "--trust", str(trust), "--topic", TOPIC, str(path))
    assert result.returncode == 1
    (line,) = result.stdout.splitlines()
    record = json.loads(line)
    assert (record["type"], record["reason"], record["source"]) == (
        "rejected",
        "topic_mismatch",
        str(path),
    )


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--trust", "{tmp}/nowhere", "--topic", "t/a/b/c/flows", "{tmp}/x"], "does not exist"),
        (["--trust", "{trust}", "--topic", "t/a/b/c/flows", "{tmp}/missing.cbor"], "cannot read"),
        (["--trust", "{trust}", "--topic", "t"], "required"),
        (
            ["--trust", "{trust}", "--topic", "t/a/b/c/flows", "--max-message-bytes", "0", "{tmp}"],
            "--max-message-bytes must be positive",
        ),
    ],
)
def test_bad_input_is_one_line_exit_2(
    tmp_path: Path, setup: tuple[Path, Signer], args: list[str], expected: str
) -> None:
    trust, _ = setup
    argv = [a.format(tmp=tmp_path, trust=trust) for a in args]
    result = run_agent("verify", *argv)
    assert result.returncode == 2
    assert expected in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_verify_runs_where_the_c_extension_is_missing(
    tmp_path: Path, setup: tuple[Path, Signer]
) -> None:
    """A consumer machine has no libpcap: block the extension and run the whole CLI."""
    trust, signer = setup
    path = tmp_path / "m.cbor"
    batch = BatchInfo(seq=0, window_start_us=0, window_end_us=1)
    path.write_bytes(signer.sign(encode_flow_batch(synthetic_flows(3), IDENTITY, batch), TOPIC))
    program = (
        "import sys\n"
        "sys.modules['agent._engine'] = None  # any import of it now fails\n"
        "sys.modules['scapy'] = None\n"
        "from agent.cli import main\n"
        f"code = main(['verify', '--trust', {str(trust)!r}, '--topic', {TOPIC!r}, {str(path)!r}])\n"
        "assert 'agent.engine' not in sys.modules, 'the consumer path imported the engine'\n"
        "sys.exit(code)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert [json.loads(x)["type"] for x in result.stdout.splitlines()].count("flow") == 3


def test_a_key_in_a_sensor_directory_signs_for_that_sensor_only(tmp_path: Path) -> None:
    made = generate_key_pair(tmp_path / "keys")
    signer = Signer(load_private_key(made.private_path))
    trust = tmp_path / "trust"
    (trust / "wing4b-01").mkdir(parents=True)
    (trust / "wing4b-01" / made.trust_path.name).write_bytes(made.trust_path.read_bytes())
    other = SensorIdentity("wing4b-02", "st-mary", "4b", os.urandom(16))
    other_topic = topic_for("iomt", "st-mary", "4b", "wing4b-02", "flows")
    batch = BatchInfo(seq=0, window_start_us=0, window_end_us=10, counters={})
    own = tmp_path / "own.cbor"
    own.write_bytes(signer.sign(encode_flow_batch(synthetic_flows(2), IDENTITY, batch), TOPIC))
    forged = tmp_path / "forged.cbor"
    forged.write_bytes(
        signer.sign(encode_flow_batch(synthetic_flows(2), other, batch), other_topic)
    )

    accepted = run_agent("verify", "--trust", str(trust), "--topic", TOPIC, str(own))
    assert accepted.returncode == 0, accepted.stderr
    assert [json.loads(line)["type"] for line in accepted.stdout.splitlines()].count("flow") == 2

    refused = run_agent("verify", "--trust", str(trust), "--topic", other_topic, str(forged))
    assert refused.returncode == 1
    (line,) = refused.stdout.splitlines()
    assert json.loads(line)["reason"] == "key_not_for_sensor"

    # The same key also at the top of the directory: still bound by default ...
    (trust / made.trust_path.name).write_bytes(made.trust_path.read_bytes())
    refused = run_agent("verify", "--trust", str(trust), "--topic", other_topic, str(forged))
    assert refused.returncode == 1
    assert json.loads(refused.stdout)["reason"] == "key_not_for_sensor"
    # ... trusted for every sensor only when asked for (a single-sensor setup).
    loose = ["verify", "--trust", str(trust), "--allow-unbound-keys", "--topic"]
    unbound = run_agent(*loose, other_topic, str(forged))
    assert unbound.returncode == 0, unbound.stdout
    accepted = run_agent("verify", "--trust", str(trust), "--topic", TOPIC, str(own))
    assert accepted.returncode == 0, accepted.stdout
