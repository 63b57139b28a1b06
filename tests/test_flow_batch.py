"""The C encoder of wire schema 3's flows body (native/flow_batch.c, the daemon's path):
records taken straight from the engine's ring encode exactly as the same records added
as FlowRecords; a range encodes like a batch of just those records; nothing carries
over from one batch to the next; bad ranges and records are refused; no leak. The
fragment is well-formed CBOR with keys 16..27 ascending. (The byte-for-byte comparison
with the Python reference encoder comes with the pipeline's switch to the C path.)
"""

from __future__ import annotations

import os
from dataclasses import replace

import cbor2
import pytest

from agent.engine import Engine, FlowBatch, summarize_file
from agent.flowrecord import FlowRecord
from agent.wire.samples import synthetic_flows
from tools.wingcap import generate


@pytest.fixture(scope="module")
def wing_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("wing") / "wing.pcap"
    generate(path, packets=30_000, seed=4, duration_s=700)
    return path


@pytest.fixture(scope="module")
def wing_records(wing_path) -> list[FlowRecord]:
    return list(summarize_file(wing_path))


def _by_time(records: list[FlowRecord]) -> list[FlowRecord]:
    return sorted(records, key=lambda r: (r.ts_us, r.serial))


def _as_map(fragment: bytes, entries: int) -> dict:
    return cbor2.loads(bytes([0xA0 + entries]) + fragment)


def test_records_taken_from_the_engine_encode_as_the_records_flows_gives(wing_path, wing_records):
    # The daemon's path: the ring straight into the batch, never a FlowRecord.
    batch = FlowBatch()
    with Engine() as engine:
        engine.open_file(wing_path)
        while not engine.exhausted:
            engine.poll_pending()
            while engine.take_into(batch, 700):
                pass
        while engine.flush_step():
            engine.take_into(batch, 1 << 20)
        engine.take_into(batch, 1 << 20)
    assert len(batch) == len(wing_records)
    added = FlowBatch()
    for record in wing_records:
        added.add(record)
    ours = batch.encode(0, len(batch))
    assert ours == added.encode(0, len(added))
    body = _as_map(ours.fragment, ours.entries)
    assert list(body) == sorted(body) and set(body) <= set(range(16, 28))
    assert body[21] == len(wing_records) and len(body[22]) == 13
    assert {23, 24, 25, 27} <= set(body)  # MACs and server names on the wing
    assert ours.names and len(set(ours.names)) == len(ours.names)
    named = {r.server_name for r in wing_records if r.server_name}
    assert set(ours.names) == named
    dropped = FlowBatch(collect_names=False)
    for record in wing_records:
        dropped.add(record)
    assert dropped.encode(0, len(dropped)).names is None


def test_a_range_is_encoded_like_a_batch_of_just_those_records(wing_records):
    batch = FlowBatch()
    for record in wing_records[:600]:
        batch.add(record)
    ordered = _by_time(wing_records[:600])
    for start, stop in ((0, 300), (300, 600), (17, 18), (0, 600)):
        fresh = FlowBatch()
        for record in ordered[start:stop]:
            fresh.add(record)
        assert batch.encode(start, stop) == fresh.encode(0, stop - start)


def test_nothing_carries_over_from_one_batch_to_the_next(wing_records):
    batch, fresh = FlowBatch(), FlowBatch()
    for record in wing_records[:400]:
        batch.add(record)
    batch.encode(0, 400)
    batch.clear()
    assert len(batch) == 0
    for record in wing_records[400:500]:
        batch.add(record)
        fresh.add(record)
    assert batch.encode(0, 100) == fresh.encode(0, 100)


def test_bad_ranges_and_records_are_refused():
    batch = FlowBatch()
    with pytest.raises(IndexError):
        batch.encode(0, 0)
    base = synthetic_flows(1)[0]
    batch.add(base)
    with pytest.raises(IndexError):
        batch.encode(0, 2)
    with pytest.raises(IndexError):
        batch.encode(1, 1)
    batch.add(replace(base, conn_state="XX"))
    with pytest.raises(ValueError):
        batch.encode(0, 2)
    assert len(batch.encode(0, 1).fragment) > 20
    with pytest.raises(ValueError):
        batch.add(replace(base, orig_addr=b"\x01\x02\x03"))
    with pytest.raises(ValueError):
        batch.add(replace(base, orig_l2_addr=b"\x01"))


@pytest.mark.skipif(
    bool(os.environ.get("IOMT_ENGINE_SO")),
    reason="another build of the engine (tools/sanitize.sh: ASan's quarantine grows RSS)",
)
def test_the_batch_path_does_not_leak(tmp_path, wing_records):
    # Every entry point of the batch, thousands of times, errors included: RSS stays flat.
    from tests.test_leak import TOLERANCE_BYTES, rss_growth

    named = [r for r in wing_records if r.server_name][:30] + wing_records[:70]

    def cycle() -> None:
        batch = FlowBatch()
        for record in named:
            batch.add(record)
        batch.encode(0, len(batch))
        batch.encode(10, 60)
        with pytest.raises(IndexError):
            batch.encode(5, 5)
        with pytest.raises(ValueError):
            batch.add(replace(named[0], orig_l2_addr=b"\x01"))
        batch.clear()

    assert rss_growth(cycle) < TOLERANCE_BYTES
