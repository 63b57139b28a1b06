"""One byte limit for a message (docs/WIRE.md, agent.wire.schema.MAX_MESSAGE_BYTES): the
sender cuts batches to fit it, the consumer refuses more and bounds what it queues."""

from __future__ import annotations

import os
import random
from dataclasses import replace
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.consumer.mqtt import QOS0_QUEUED, Inbox
from agent.cose import Signer, unverified_payload
from agent.flowrecord import FlowRecord
from agent.shipper import Shipper
from agent.spool import Spool, SpoolSettings
from agent.wire import SensorIdentity
from agent.wire.decode import decode_payload
from agent.wire.samples import synthetic_flows
from agent.wire.schema import MAX_MESSAGE_BYTES

IDENTITY = SensorIdentity("wing4b-01", "st-mary", "4b", os.urandom(16))


def _spread(records: list[FlowRecord]) -> list[FlowRecord]:
    """Every flow between addresses of its own, and far apart in time: the most bytes a
    flow can take on the wire."""
    rng = random.Random(5)
    out = []
    for index, record in enumerate(records):
        out.append(
            replace(
                record,
                orig_addr=rng.randbytes(16),
                resp_addr=rng.randbytes(16),
                ts_us=1_700_000_000_000_000 + index * 3_000_000_000,
                orig_bytes=2**40 + index,
            )
        )
    return out


def test_a_batch_larger_than_the_limit_goes_out_as_several_messages_in_order(
    tmp_path: Path,
) -> None:
    spool = Spool.open(SpoolSettings(dir=tmp_path, max_bytes=64 << 20))
    shipper = Shipper(IDENTITY, "iomt", Signer(Ed25519PrivateKey.generate()), spool)
    records = _spread(synthetic_flows(6000, seed=3))
    shipper.ship_flows(records, 0, 1, {"packets_seen": 7})
    stored = spool.read(0, 1000)
    assert len(stored) > 1, "6000 wide flows do not fit one message"
    assert all(len(r.payload) <= MAX_MESSAGE_BYTES for r in stored)
    messages = [decode_payload(unverified_payload(r.payload)) for r in stored]
    assert [m.seq for m in messages] == list(range(len(messages)))
    shipped = [flow for m in messages for flow in m.flows]
    assert shipped == sorted(records, key=lambda r: (r.ts_us, r.serial))
    assert [m.counters for m in messages] == [{"packets_seen": 7}] + [{}] * (len(messages) - 1)


def test_the_inbox_keeps_a_bounded_number_of_qos0_messages_and_counts_the_rest() -> None:
    inbox = Inbox()
    kept = [inbox.put(b"x" * 1024, "t", 0, 0) for _ in range(QOS0_QUEUED + 50)]
    assert kept.count(True) == QOS0_QUEUED and inbox.dropped == 50
    assert inbox.put(b"y", "t", 7, 1), "QoS 1 is bounded by the broker's Receive Maximum"
    inbox.get(0.1)
    assert inbox.put(b"z", "t", 0, 0), "room again once one was taken"
