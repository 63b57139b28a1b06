"""The C encoder (native/flow_batch.c through agent.engine.FlowBatch) writes exactly the
bytes of the independent Python reference (agent.wire.columns) for the same records:
the hand-checked golden records, synthetic edge cases, and every 50- and 1000-record
batch of a generated wing capture. The C path joins its fragment through the same
join_flows_payload, so equal fragments mean equal payloads."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from agent.engine import FlowBatch, summarize_file
from agent.flowrecord import FlowRecord
from agent.wire import BatchInfo, SensorIdentity, encode_flow_batch, join_flows_payload
from agent.wire.columns import encode_flows_fragment
from agent.wire.samples import synthetic_flows
from tests.test_wire_columns import GOLDEN_FRAGMENT, GOLDEN_RECORDS
from tests.test_wire_interop import _edge_records
from tools.wingcap import generate

IDENTITY = SensorIdentity("wing4b-01", "st-mary", "4b", bytes(16), boot_count=2)
BATCH = BatchInfo(0, 1, 2, {"packets_seen": 5, "kernel_drops": 1}, previous_boot_last_seq=9)


def _c_payload(records: list[FlowRecord]) -> bytes:
    batch = FlowBatch(collect_names=True)
    for record in records:
        batch.add(record)
    fragment, entries, names = batch.encode(0, len(batch))
    return join_flows_payload(IDENTITY, BATCH, fragment, entries, names)


def _c_fragment(records: list[FlowRecord]) -> tuple[bytes, int, list[str]]:
    batch = FlowBatch(collect_names=True)
    for record in records:
        batch.add(record)
    fragment, entries, names = batch.encode(0, len(batch))
    return fragment, entries, list(names or [])


def _reference(records: list[FlowRecord]) -> tuple[bytes, int, list[str]]:
    ours = encode_flows_fragment(records)
    return ours.data, ours.entries, ours.server_names


def test_the_c_encoder_writes_the_golden_bytes() -> None:
    assert _c_fragment(GOLDEN_RECORDS)[0].hex() == GOLDEN_FRAGMENT
    assert _c_payload(GOLDEN_RECORDS) == encode_flow_batch(GOLDEN_RECORDS, IDENTITY, BATCH)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_c_encoder_matches_the_reference_on_synthetic_edge_cases(seed: int) -> None:
    records = synthetic_flows(700, seed=seed) + _edge_records()
    records[5] = replace(records[5], orig_l2_addr=bytes(6))  # off its address's default
    assert _c_fragment(records) == _reference(records)
    assert _c_payload(records) == encode_flow_batch(records, IDENTITY, BATCH)
    one = records[:1]
    assert _c_fragment(one) == _reference(one)


def test_the_c_encoder_matches_the_reference_on_every_batch_of_a_wing(tmp_path: Path) -> None:
    path = tmp_path / "wing.pcap"
    generate(path, packets=30_000, seed=7, duration_s=900)
    records = list(summarize_file(path))
    assert len(records) > 1000
    assert any(r.orig_l2_addr for r in records) and any(len(r.orig_addr) == 16 for r in records)
    for size in (50, 1000):
        for start in range(0, len(records), size):
            chunk = records[start : start + size]
            assert _c_fragment(chunk) == _reference(chunk), (size, start)
