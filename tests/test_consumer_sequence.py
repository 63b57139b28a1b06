"""Per (sensor, boot): duplicates dropped and counted, gaps reported, new boots noticed."""

from __future__ import annotations

import os
from dataclasses import replace

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.consumer import Consumer
from agent.consumer.tracker import BOOTS_KEPT, SequenceTracker, Verdict
from agent.cose import Signer
from agent.keys import TrustStore
from agent.wire import (
    BatchInfo,
    SensorIdentity,
    encode_flow_batch,
    encode_health,
    encode_status,
    topic_for,
)
from agent.wire.samples import synthetic_flows

IDENTITY = SensorIdentity("wing4b-01", "st-mary", "4b", os.urandom(16))
FLOWS = topic_for("iomt", "st-mary", "4b", "wing4b-01", "flows")
HEALTH = topic_for("iomt", "st-mary", "4b", "wing4b-01", "health")
STATUS = topic_for("iomt", "st-mary", "4b", "wing4b-01", "status")
SIGNER = Signer(Ed25519PrivateKey.generate())


def _flows(seq: int, identity: SensorIdentity = IDENTITY) -> bytes:
    batch = BatchInfo(seq=seq, window_start_us=seq * 10, window_end_us=seq * 10 + 10)
    return SIGNER.sign(encode_flow_batch(synthetic_flows(2, seed=seq), identity, batch), FLOWS)


def _health(seq: int) -> bytes:
    batch = BatchInfo(seq=seq, window_start_us=0, window_end_us=1)
    return SIGNER.sign(encode_health({"agent_rss_bytes": 1}, IDENTITY, batch), HEALTH)


@pytest.fixture()
def consumer() -> Consumer:
    return Consumer(TrustStore({SIGNER.kid: SIGNER.public_key()}))


def _types(records: list[dict]) -> list[str]:
    return [r["type"] for r in records]


def test_duplicates_are_dropped_and_counted(consumer: Consumer) -> None:
    message = _flows(0)
    assert "flow" in _types(consumer.handle(message, FLOWS))
    assert consumer.handle(message, FLOWS) == []
    assert consumer.handle(message, FLOWS) == []
    assert consumer.stats.duplicates == 2


def test_one_sequence_across_data_kinds(consumer: Consumer) -> None:
    consumer.handle(_flows(0), FLOWS)
    assert _types(consumer.handle(_health(1), HEALTH)) == ["health"]
    assert _types(consumer.handle(_flows(2), FLOWS))[0] == "batch"
    assert consumer.stats.gaps == 0


def test_gap_is_reported_and_a_late_message_still_delivered(consumer: Consumer) -> None:
    consumer.handle(_flows(0), FLOWS)
    records = consumer.handle(_flows(4), FLOWS)
    gap = records[0]
    assert gap["type"] == "gap"
    assert (gap["first_missing_seq"], gap["last_missing_seq"], gap["missing"]) == (1, 3, 3)
    assert (gap["sensor"], gap["boot"]) == ("wing4b-01", IDENTITY.boot_id.hex())
    late = consumer.handle(_flows(2), FLOWS)
    assert _types(late)[:2] == ["late", "batch"] and late[0]["seq"] == 2
    assert consumer.handle(_flows(2), FLOWS) == []  # and only once
    # The totals are true: 3 reported missing, one of them arrived after all.
    assert consumer.stats.missing_messages == 2 and consumer.stats.late == 1
    assert consumer.stats.duplicates == 1


def test_new_boot_is_noticed_and_its_sequence_starts_over(consumer: Consumer) -> None:
    consumer.handle(_flows(0), FLOWS)
    consumer.handle(_flows(1), FLOWS)
    rebooted = replace(IDENTITY, boot_id=os.urandom(16))
    records = consumer.handle(_flows(0, rebooted), FLOWS)
    assert records[0]["type"] == "boot"
    assert records[0]["previous_boot"] == IDENTITY.boot_id.hex()
    assert records[0]["boot"] == rebooted.boot_id.hex()
    assert "gap" not in _types(records) and consumer.stats.duplicates == 0
    # A new boot whose first messages were lost: the gap runs from 0.
    third = replace(IDENTITY, boot_id=os.urandom(16))
    records = consumer.handle(_flows(3, third), FLOWS)
    assert _types(records)[:2] == ["boot", "gap"]
    assert (records[1]["first_missing_seq"], records[1]["last_missing_seq"]) == (0, 2)


def test_flows_carry_their_origin_and_the_sensor_uid(consumer: Consumer) -> None:
    records = consumer.handle(_flows(0), FLOWS)
    flows = [r for r in records if r["type"] == "flow"]
    expected = sorted(synthetic_flows(2, seed=0), key=lambda r: (r.ts_us, r.serial))
    for record, original in zip(flows, expected, strict=True):
        assert record == {
            "type": "flow",
            **original.to_json(IDENTITY.boot_id),
            "sensor": "wing4b-01",
            "site": "st-mary",
            "wing": "4b",
            "boot": IDENTITY.boot_id.hex(),
            "seq": 0,
            "topic": FLOWS,
        }


def test_status_stands_outside_the_sequence(consumer: Consumer) -> None:
    online = SIGNER.sign(encode_status("online", IDENTITY, 7, agent_version="9.8.7"), STATUS)
    (boot, status) = consumer.handle(online, STATUS)
    assert boot["type"] == "boot"
    assert status == {
        "type": "status",
        "sensor": "wing4b-01",
        "site": "st-mary",
        "wing": "4b",
        "boot": IDENTITY.boot_id.hex(),
        "topic": STATUS,
        "state": "online",
        "time": 7e-6,
        "agent_version": "9.8.7",
        "loss_totals": {},
        "missing_interfaces": [],
    }
    assert _types(consumer.handle(_flows(0), FLOWS))[0] == "batch"  # seq 0: no gap


def test_shared_subscription_member_reports_no_gaps_but_keeps_late_messages() -> None:
    member = Consumer(TrustStore({SIGNER.kid: SIGNER.public_key()}), report_gaps=False)
    member.handle(_flows(0), FLOWS)
    assert "gap" not in _types(member.handle(_flows(5), FLOWS))
    assert _types(member.handle(_flows(3), FLOWS))[0] == "batch"  # not a duplicate
    assert member.handle(_flows(3), FLOWS) == []


def test_a_sensor_that_reboots_often_costs_a_bounded_number_of_boots():
    tracker = SequenceTracker()
    for boot in range(3 * BOOTS_KEPT):
        tracker.observe("wing4b-01", boot.to_bytes(16, "big"), 0)
    saved = tracker.state()
    assert len(saved["sensors"][0]["boots"]) == BOOTS_KEPT
    restored = SequenceTracker.from_state(saved)
    newest = (3 * BOOTS_KEPT - 1).to_bytes(16, "big")
    assert restored.observe("wing4b-01", newest, 0).duplicate
    assert restored.observe("wing4b-01", newest, 1) == Verdict()


def test_the_first_messages_of_a_sensor_may_arrive_out_of_order():
    # The sensor's spooled seq 0 can reach the broker after its live seq 1.
    tracker = SequenceTracker()
    boot = os.urandom(16)
    assert tracker.observe("wing4b-01", boot, 1) == Verdict(new_boot=True)
    assert tracker.observe("wing4b-01", boot, 0) == Verdict(late=True)
    assert tracker.observe("wing4b-01", boot, 0).duplicate
    assert tracker.observe("wing4b-01", boot, 1).duplicate
    assert tracker.observe("wing4b-01", boot, 2) == Verdict()
