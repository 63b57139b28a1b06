"""Real output, checked by implementations that share no code with ours.

- COSE: tests/interop/verify_cose.mjs, JavaScript with cbor-x and Node's own Ed25519,
  installed by this test into build/interop-node (npm, test-only, not committed); and
  pycose 1.1.0, the reference Python COSE library, in its own venv under
  build/interop-pycose (it needs cbor2 < 6, which the agent's venv cannot have).
- CDDL: pycddl (the Rust `cddl` crate) in test_wire_roundtrip.py.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from agent.cose import Signer, unverified_payload
from agent.flowrecord import FlowRecord
from agent.spool import Spool, SpoolSettings
from agent.wire import (
    BatchInfo,
    SensorIdentity,
    decode_payload,
    encode_flow_batch,
    encode_health,
    encode_status,
    topic_for,
)
from agent.wire.samples import synthetic_flows
from tests.support.agent_setup import signer_and_trust

ROOT = Path(__file__).resolve().parent.parent
INTEROP_SRC = ROOT / "tests" / "interop"
NODE_DIR = ROOT / "build" / "interop-node"
PYCOSE_VENV = ROOT / "build" / "interop-pycose" / "venv"
IDENTITY = SensorIdentity("wing4b-01", "st-mary", "4b", os.urandom(16))
FLOWS = topic_for("iomt", "st-mary", "4b", "wing4b-01", "flows")
SPOOL_V2 = ROOT / "tests" / "data" / "spool-v2"


@pytest.fixture(scope="module")
def node_verifier() -> Path:
    """The JS verifier with its dependency installed (once; npm cache makes reruns fast)."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node/npm not installed: the independent JavaScript verifier cannot run")
    NODE_DIR.mkdir(parents=True, exist_ok=True)
    for name in ("package.json", "verify_cose.mjs"):
        shutil.copyfile(INTEROP_SRC / name, NODE_DIR / name)
    if not (NODE_DIR / "node_modules" / "cbor-x").is_dir():
        result = subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--ignore-scripts"],
            cwd=NODE_DIR,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, f"npm install failed: {result.stderr[-2000:]}"
    return NODE_DIR / "verify_cose.mjs"


def _run(script: Path, trust: Path, topic: str, *files: Path) -> list[dict]:
    result = subprocess.run(
        ["node", str(script), str(trust), topic, *map(str, files)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


@pytest.fixture()
def keys(tmp_path: Path) -> tuple[Signer, Path]:
    signer, trust = signer_and_trust(tmp_path)
    # The independent verifiers read the keys at the top of the directory only.
    for bound in trust.glob("*/*.pub"):
        (trust / bound.name).write_bytes(bound.read_bytes())
    return signer, trust


def _as_js(record: FlowRecord) -> dict[str, object]:
    """A record as the JS verifier prints it: bytes as hex, integers above 2^53 as text."""
    out: dict[str, object] = {}
    for name in FlowRecord.__dataclass_fields__:
        value = getattr(record, name)
        if isinstance(value, bytes):
            value = value.hex()
        elif type(value) is int and value > 2**53 - 1:
            value = str(value)
        out[name] = value
    return out


def _edge_records() -> list[FlowRecord]:
    """IPv6, a MAC that is not its address's usual one, names, VLANs, a serial going
    back, numbers near 2^64."""
    base = synthetic_flows(1)[0]
    v6 = bytes.fromhex("20010db8000000000000000000000001")
    return [
        replace(base, serial=9, ts_us=10**15, vlan=4095, inner_vlan=7, server_name="pacs.x"),
        replace(base, serial=2, ts_us=10**15 + 1, end_reason="active", orig_l2_addr=b"\x02" * 6),
        replace(base, serial=11, ts_us=10**15 + 2, orig_addr=v6, resp_addr=bytes(15) + b"\x01",
                orig_l2_addr=None, resp_l2_addr=None, server_name="h:" + "0" * 32),
        replace(base, serial=2**64 - 1, ts_us=2**64 - 2, orig_pkts=2**64 - 1, resp_bytes=2**63),
    ]  # fmt: skip


def test_javascript_verifier_accepts_and_decodes_real_flow_batch(
    node_verifier: Path, keys: tuple[Signer, Path], tmp_path: Path
) -> None:
    signer, trust = keys
    records = synthetic_flows(600, seed=4) + _edge_records()
    batch = BatchInfo(seq=9, window_start_us=1, window_end_us=2, counters={"packets_seen": 77})
    path = tmp_path / "flows.cbor"
    path.write_bytes(signer.sign(encode_flow_batch(records, IDENTITY, batch), FLOWS))
    (result,) = _run(node_verifier, trust, FLOWS, path)
    assert result["ok"], result
    assert result["kid"] == signer.kid.hex()
    payload = result["payload"]
    assert (payload["0"], payload["2"], payload["5"], payload["6"], payload["9"]) == (
        3,
        "wing4b-01",
        IDENTITY.boot_id.hex(),
        9,
        {"0": 77},  # schema 3: counters by id (0 = packets_seen)
    )
    expected = sorted(records, key=lambda r: (r.ts_us, r.serial))
    assert payload["flows"] == [_as_js(record) for record in expected]


def test_javascript_verifier_decodes_the_schema_2_spool(
    node_verifier: Path, tmp_path: Path
) -> None:
    """The independent decoder reads version 2 rows as well: the same records as ours."""
    spool_dir = tmp_path / "spool"
    shutil.copytree(SPOOL_V2 / "spool", spool_dir)
    spool = Spool.open(SpoolSettings(dir=spool_dir))
    stored = [r for r in spool.read(0, 100) if r.topic.endswith("/flows")]
    spool.close()
    trust = SPOOL_V2 / "keys"
    for index, record in enumerate(stored):
        path = tmp_path / f"v2-{index}.cbor"
        path.write_bytes(record.payload)
        (result,) = _run(node_verifier, trust, record.topic, path)
        assert result["ok"] and result["payload"]["0"] == 2, result
        ours = decode_payload(unverified_payload(record.payload)).flows
        assert result["payload"]["flows"] == [_as_js(flow) for flow in ours]


def test_javascript_verifier_accepts_health_and_status(
    node_verifier: Path, keys: tuple[Signer, Path], tmp_path: Path
) -> None:
    signer, trust = keys
    health_topic = topic_for("iomt", "st-mary", "4b", "wing4b-01", "health")
    status_topic = topic_for("iomt", "st-mary", "4b", "wing4b-01", "status")
    batch = BatchInfo(seq=1, window_start_us=1, window_end_us=2)
    health = tmp_path / "health.cbor"
    health.write_bytes(
        signer.sign(
            encode_health({"box_cpu_percent": 12.5, "clock_synchronized": True}, IDENTITY, batch),
            health_topic,
        )
    )
    status = tmp_path / "status.cbor"
    status.write_bytes(signer.sign(encode_status("offline", IDENTITY, 5), status_topic))
    (h,) = _run(node_verifier, trust, health_topic, health)
    assert h["ok"] and h["payload"]["16"] == {"box_cpu_percent": 12.5, "clock_synchronized": True}
    (s,) = _run(node_verifier, trust, status_topic, status)
    assert s["ok"] and s["payload"]["16"] == "offline"


def test_javascript_verifier_refuses_tampering_and_other_topics(
    node_verifier: Path, keys: tuple[Signer, Path], tmp_path: Path
) -> None:
    """The check is real: the same verifier says no when it should."""
    signer, trust = keys
    batch = BatchInfo(seq=0, window_start_us=1, window_end_us=2)
    message = signer.sign(encode_flow_batch(synthetic_flows(5), IDENTITY, batch), FLOWS)
    tampered = bytearray(message)
    tampered[len(tampered) // 2] ^= 0x01
    good, bad = tmp_path / "good.cbor", tmp_path / "bad.cbor"
    good.write_bytes(message)
    bad.write_bytes(bytes(tampered))
    results = _run(node_verifier, trust, FLOWS, good, bad)
    assert [r["ok"] for r in results] == [True, False]
    other = topic_for("iomt", "st-mary", "5a", "wing4b-01", "flows")
    (moved,) = _run(node_verifier, trust, other, good)
    assert moved == {"file": str(good), "ok": False, "error": "bad signature"}


@pytest.fixture(scope="module")
def pycose_python() -> Path:
    """A venv with pycose 1.1.0 and cbor2 < 6 (made once, pip from PyPI)."""
    python = PYCOSE_VENV / "bin" / "python"
    probe = [str(python), "-c", "import pycose.messages, cbor2"]
    if not python.exists() or subprocess.run(probe, capture_output=True).returncode != 0:
        made = subprocess.run(
            [sys.executable, "-m", "venv", "--clear", str(PYCOSE_VENV)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        if made.returncode != 0:
            pytest.skip(f"cannot make a venv for pycose: {made.stderr.strip()[-300:]}")
        installed = subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "pycose==1.1.0", "cbor2<6"],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert installed.returncode == 0, f"pip install pycose failed: {installed.stderr[-2000:]}"
    return python


def test_pycose_verifies_real_messages_and_refuses_tampering(
    pycose_python: Path, keys: tuple[Signer, Path], tmp_path: Path
) -> None:
    signer, trust = keys
    batch = BatchInfo(seq=3, window_start_us=1, window_end_us=2, counters={"packets_seen": 1})
    flows = signer.sign(encode_flow_batch(synthetic_flows(800, seed=8), IDENTITY, batch), FLOWS)
    status_topic = topic_for("iomt", "st-mary", "4b", "wing4b-01", "status")
    tampered = bytearray(flows)
    tampered[-70] ^= 0x10  # inside the payload
    files = {"flows": flows, "tampered": bytes(tampered)}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    (tmp_path / "status").write_bytes(
        signer.sign(encode_status("online", IDENTITY, 1), status_topic)
    )
    result = subprocess.run(
        [
            str(pycose_python),
            str(INTEROP_SRC / "verify_pycose.py"),
            str(trust),
            FLOWS,
            str(tmp_path / "flows"),
            str(tmp_path / "tampered"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    good, bad = (json.loads(line) for line in result.stdout.splitlines())
    assert good["ok"] and good["kid"] == signer.kid.hex(), good
    assert not bad["ok"]
    status = subprocess.run(
        [
            str(pycose_python),
            str(INTEROP_SRC / "verify_pycose.py"),
            str(trust),
            status_topic,
            str(tmp_path / "status"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert json.loads(status.stdout)["ok"], status.stdout
