"""The C encoder of wire schema 3's flows body (native/flow_batch.c, the daemon's path)
writes exactly the bytes of the independent Python reference (agent/wire/columns.py,
agent/wire/encode.py) for the same records and envelope, and its payloads decode back to
exactly the records `flows` gives.

Records come from real captures (generated wing traffic, random traffic with VLANs and
IPv6, the tcpdump corpus when present) and from hostile hand-made ones (64-bit extremes,
routed hosts with several MACs, ties for the default MAC), in batch-sized slices, with the
three [privacy] tls_sni treatments of server names. Also: records taken straight from the
engine's ring encode as the same records added as FlowRecords; a range encodes like a
batch of just those records; nothing carries over between batches; refusals; no leak.
"""

from __future__ import annotations

import ipaddress
import os
import random
from dataclasses import replace
from pathlib import Path

import cbor2
import pytest

from agent.devices import HostnameHasher, ServerNamePrivacy
from agent.engine import Engine, EngineSettings, FlowBatch, summarize_file
from agent.flowrecord import FlowRecord
from agent.wire import BatchInfo, SensorIdentity, decode_payload, encode_flow_batch
from agent.wire.columns import encode_flows_fragment
from agent.wire.encode import join_flows_payload
from agent.wire.samples import synthetic_flows
from tests.support import pcapgen
from tests.support.trafficgen import random_frames
from tools.wingcap import generate

IDENTITY = SensorIdentity("wing4b-01", "st-mary", "4b", bytes(range(16)), 7)
BATCH = BatchInfo(
    seq=3,
    window_start_us=1_767_225_590_000_000,
    window_end_us=1_767_225_600_000_000,
    counters={"packets_seen": 123_456, "flows_created": 900},
    losses={"spool_messages": 2},
)
TCPDUMP = Path(__file__).resolve().parents[2] / "shared" / "pcaps" / "tcpdump"
U64 = 2**64 - 1


def _by_time(records: list[FlowRecord]) -> list[FlowRecord]:
    return sorted(records, key=lambda r: (r.ts_us, r.serial))


def _privacy(treatment: str) -> ServerNamePrivacy:
    return ServerNamePrivacy(treatment, HostnameHasher(b"0123456789abcdef-site-secret"))


def c_payload(records: list[FlowRecord], treatment: str = "clear") -> bytes:
    privacy = _privacy(treatment)
    batch = FlowBatch(collect_names=privacy.collects)
    for record in records:
        batch.add(record)
    fragment, entries, names = batch.encode(0, len(batch))
    if names is not None:
        names = privacy.names(names)
    return joined(fragment, entries, names)


def joined(fragment: bytes, entries: int, names: list[str] | None) -> bytes:
    """The payload the shipper makes of C's output (agent/shipper.py)."""
    return join_flows_payload(IDENTITY, BATCH, fragment, entries, names)


def reference_payload(records: list[FlowRecord], treatment: str = "clear") -> bytes:
    return encode_flow_batch(_privacy(treatment)(list(records)), IDENTITY, BATCH)


def assert_identical(records: list[FlowRecord], treatment: str = "clear") -> bytes:
    """C and reference agree byte for byte; the payload decodes to the records."""
    ours = c_payload(records, treatment)
    theirs = reference_payload(records, treatment)
    if treatment == "clear":  # the body alone too: the fragment and its names
        batch = FlowBatch()
        for record in records:
            batch.add(record)
        fragment = encode_flows_fragment(records)
        assert batch.encode(0, len(batch)) == (
            fragment.data,
            fragment.entries,
            list(fragment.server_names) if fragment.server_names else None,
        )
    assert ours == theirs, f"{len(records)} records, {treatment}: first difference at " + str(
        next(i for i, (a, b) in enumerate(zip(ours, theirs, strict=False)) if a != b)
        if ours[: len(theirs)] != theirs[: len(ours)]
        else min(len(ours), len(theirs))
    )
    decoded = decode_payload(ours).flows
    assert decoded == _by_time(_privacy(treatment)(list(records)))
    return ours


def slices(records: list[FlowRecord], seed: int) -> list[list[FlowRecord]]:
    """Batch-sized runs of records in the order they ended (as windows take them)."""
    rng = random.Random(seed)
    out = [records]
    for size in (1, 2, 50, 1000):
        if len(records) > size:
            for _ in range(2):
                start = rng.randrange(len(records) - size)
                out.append(records[start : start + size])
    return out


@pytest.fixture(scope="module")
def wing_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("wing") / "wing.pcap"
    generate(path, packets=30_000, seed=4, duration_s=700)
    return path


@pytest.fixture(scope="module")
def wing_records(wing_path) -> list[FlowRecord]:
    return list(summarize_file(wing_path))


@pytest.mark.parametrize("treatment", ["clear", "hash", "drop"])
def test_c_payload_is_the_reference_payload_on_the_wing_capture(wing_records, treatment):
    assert any(r.server_name for r in wing_records)
    assert any(r.orig_l2_addr for r in wing_records)
    for chunk in slices(wing_records, 1):
        assert_identical(chunk, treatment)


@pytest.mark.parametrize("seed, link", [(1, "ethernet"), (3, "sll2"), (4, "raw")])
def test_c_payload_is_the_reference_payload_on_random_traffic(tmp_path, seed, link):
    # VLANs (two tags too), IPv6, ICMP, SCTP, fragments, every end reason.
    path = tmp_path / "random.pcap"
    linktype = {
        "ethernet": pcapgen.LINKTYPE_ETHERNET,
        "sll2": pcapgen.LINKTYPE_LINUX_SLL2,
        "raw": pcapgen.LINKTYPE_RAW,
    }[link]
    pcapgen.write_pcap(path, random_frames(seed, 5000, link), linktype=linktype)
    settings = EngineSettings(max_flows=48, udp_idle_timeout_s=5, tcp_syn_idle_timeout_s=3)
    records = list(summarize_file(path, settings))
    assert any(len(r.orig_addr) == 16 for r in records)
    if link == "ethernet":
        assert any(r.inner_vlan is not None for r in records)
    for chunk in slices(records, seed):
        assert_identical(chunk)


@pytest.mark.skipif(not TCPDUMP.is_dir(), reason="the tcpdump corpus is not here")
def test_c_payload_is_the_reference_payload_on_the_tcpdump_corpus():
    checked = 0
    for path in sorted(TCPDUMP.iterdir()):
        try:
            records = list(summarize_file(path))
        except Exception:
            continue
        for chunk in slices(records, checked)[:3] if records else []:
            assert_identical(chunk, "hash" if checked % 2 else "clear")
        checked += bool(records)
    assert checked > 100


def _hostile_records() -> list[FlowRecord]:
    """64-bit extremes, serials jumping both ways, IPv6 and IPv4 mixed, VLAN 4095, and
    routed hosts: one address behind several MACs, one MAC (a router) for many addresses,
    ties for the default MAC, ends without MACs."""
    base = synthetic_flows(1)[0]
    router, pump_a, pump_b, pump_c = (bytes([2, 0, 0, 0, 0, i]) for i in (1, 2, 3, 4))
    v6 = ipaddress.IPv6Address("2001:db8::1").packed
    v6b = ipaddress.IPv6Address("::").packed
    host = bytes([10, 0, 0, 7])
    return [
        replace(base, serial=U64, ts_us=U64, duration_us=U64, orig_pkts=U64, resp_bytes=U64),
        replace(base, serial=0, ts_us=0, orig_port=65535, resp_port=0, vlan=4095),
        replace(base, serial=U64 - 1, ts_us=5, vlan=1, inner_vlan=4095, service="ssl"),
        replace(base, serial=2, ts_us=5, orig_addr=v6, resp_addr=v6b, proto=58),
        replace(base, serial=9, ts_us=6, orig_addr=host, orig_l2_addr=pump_a, resp_l2_addr=router),
        replace(base, serial=10, ts_us=7, orig_addr=host, orig_l2_addr=pump_b),
        replace(base, serial=11, ts_us=8, orig_addr=host, orig_l2_addr=pump_b, resp_l2_addr=pump_c),
        replace(base, serial=12, ts_us=9, resp_addr=host, resp_l2_addr=pump_a),
        replace(
            base,
            serial=13,
            ts_us=9,
            orig_addr=bytes(4),
            resp_addr=bytes([255] * 4),
            orig_l2_addr=router,
            resp_l2_addr=router,
            server_name="a" * 253,
        ),
        replace(
            base,
            serial=14,
            ts_us=10,
            server_name="pacs.st-mary.example",
            conn_state="OTH",
            history="",
            end_reason="resources",
        ),
        replace(base, serial=15, ts_us=10, server_name="pacs.st-mary.example", history="ShADadFf"),
    ]


@pytest.mark.parametrize("treatment", ["clear", "hash", "drop"])
def test_c_payload_is_the_reference_payload_on_hostile_records(treatment):
    records = _hostile_records()
    payload = assert_identical(records, treatment)
    assert 26 in _body_keys(payload)  # a MAC that is not its address's default
    rng = random.Random(5)
    for _ in range(50):
        chunk = rng.sample(records, rng.randrange(1, len(records) + 1))
        assert_identical(chunk, treatment)


def _body_keys(payload: bytes) -> set[int]:
    return set(cbor2.loads(payload))


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
    assert joined(*ours) == reference_payload(wing_records)
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
