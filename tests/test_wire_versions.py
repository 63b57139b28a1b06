"""Consumers read the previous schema versions too: spools written by schema 1 (before
the boot counter) and schema 2 (before the columnar flows) drain through the current
spool and consumer after an upgrade, and a fleet can be upgraded box by box."""

from __future__ import annotations

import shutil
from pathlib import Path

from agent.consumer import Consumer
from agent.cose import unverified_payload
from agent.keys import TrustStore
from agent.spool import Spool, SpoolSettings
from agent.wire import SCHEMA_VERSION
from agent.wire.decode import decode_payload

SPOOL_V1 = Path(__file__).parent / "data" / "spool-v1"
SPOOL_V2 = Path(__file__).parent / "data" / "spool-v2"


def _trust(tmp_path: Path, spool: Path = SPOOL_V1) -> Path:
    trust = tmp_path / "trust" / "wing4b-01"
    trust.mkdir(parents=True)
    for key in (spool / "keys").glob("*.pub"):
        shutil.copyfile(key, trust / key.name)
    return tmp_path / "trust"


def test_a_spool_written_by_schema_1_drains_through_the_current_consumer(tmp_path: Path) -> None:
    shutil.copytree(SPOOL_V1 / "spool", tmp_path / "spool")
    spool = Spool.open(SpoolSettings(dir=tmp_path / "spool"))
    stored = spool.read(0, 100)
    spool.close()
    assert len(stored) == 4
    assert {decode_payload(unverified_payload(r.payload)).version for r in stored} == {1}

    consumer = Consumer(TrustStore.from_dir(_trust(tmp_path)))
    records = [record for r in stored for record in consumer.handle(r.payload, r.topic)]
    kinds = [record["type"] for record in records]
    assert "rejected" not in kinds, records
    assert kinds.count("flow") == 8 and kinds.count("health") == 1 and kinds.count("device") == 1
    assert sorted({record["seq"] for record in records if "seq" in record}) == [0, 1, 2, 3]
    assert consumer.stats.gaps == 0


def test_a_spool_written_by_schema_2_drains_through_the_current_consumer(tmp_path: Path) -> None:
    shutil.copytree(SPOOL_V2 / "spool", tmp_path / "spool")
    spool = Spool.open(SpoolSettings(dir=tmp_path / "spool"))
    stored = spool.read(0, 100)
    spool.close()
    assert len(stored) == 4
    assert {decode_payload(unverified_payload(r.payload)).version for r in stored} == {2}

    consumer = Consumer(TrustStore.from_dir(_trust(tmp_path, SPOOL_V2)))
    records = [record for r in stored for record in consumer.handle(r.payload, r.topic)]
    kinds = [record["type"] for record in records]
    assert "rejected" not in kinds, records
    assert kinds.count("flow") == 8 and kinds.count("health") == 1 and kinds.count("device") == 1
    assert sorted({record["seq"] for record in records if "seq" in record}) == [0, 1, 2, 3]
    assert consumer.stats.gaps == 0
    boot = next(record for record in records if record["type"] == "boot")
    assert boot["boot_count"] == 7
    flows = [record for record in records if record["type"] == "flow"]
    # The optional version 2 additions read back: a server name, MACs, a flow without MACs.
    assert [f.get("server_name") for f in flows].count("pacs.st-mary.example") == 1
    assert sum(1 for f in flows if f.get("orig_l2_addr") is None) == 1
    batches = [record for record in records if record["type"] == "batch"]
    assert batches[0]["counters"] == {"packets_seen": 1200, "flows_created": 40}
    assert batches[-1]["counters"] == {"packets_seen": 400, "kernel_drops": 2}


def test_the_current_sender_writes_the_current_version() -> None:
    assert SCHEMA_VERSION == 3


def test_the_schema_2_spool_validates_against_the_version_2_cddl(tmp_path: Path) -> None:
    import pytest

    pycddl = pytest.importorskip("pycddl", reason="pycddl (test extra) is not installed")
    cddl = pycddl.Schema((Path(__file__).parents[1] / "docs" / "summary-v2.cddl").read_text())
    shutil.copytree(SPOOL_V2 / "spool", tmp_path / "spool")
    spool = Spool.open(SpoolSettings(dir=tmp_path / "spool"))
    stored = spool.read(0, 100)
    spool.close()
    for record in stored:
        cddl.validate_cbor(unverified_payload(record.payload))


def test_a_version_3_first_message_validates_against_the_published_cddl() -> None:
    import os

    import pytest

    pycddl = pytest.importorskip("pycddl", reason="pycddl (test extra) is not installed")
    from agent.wire import BatchInfo, SensorIdentity, encode_flow_batch, encode_status
    from agent.wire.samples import synthetic_flows

    cddl = pycddl.Schema((Path(__file__).parents[1] / "docs" / "summary.cddl").read_text())
    identity = SensorIdentity("wing4b-01", "st-mary", "4b", os.urandom(16), 12)
    first = BatchInfo(0, 0, 1, {"packets_seen": 3}, {}, previous_boot_last_seq=4711)
    payload = encode_flow_batch(synthetic_flows(3), identity, first)
    assert decode_payload(payload).previous_boot_last_seq == 4711
    assert decode_payload(payload).identity.boot_count == 12
    cddl.validate_cbor(payload)
    cddl.validate_cbor(encode_status("online", identity, 5))
