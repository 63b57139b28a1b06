"""Replays, stale status, bounded state and false gaps (issue 10 items 3, 4, 5).

A sensor's boots are counted per key id (wire schema 2, key 11), so a consumer tells
an old boot's captured messages from a new boot; status is judged by boot and time;
a gap is held while the sensor's spool still drains a backlog, and totals end true."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.bootcount import BootCounter
from agent.consumer import Consumer
from agent.consumer.tracker import BOOTS_KEPT, SequenceTracker
from agent.cose import Signer
from agent.errors import UsageError
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

SIGNER = Signer(Ed25519PrivateKey.generate())
FLOWS = topic_for("iomt", "st-mary", "4b", "wing4b-01", "flows")
HEALTH = topic_for("iomt", "st-mary", "4b", "wing4b-01", "health")
STATUS = topic_for("iomt", "st-mary", "4b", "wing4b-01", "status")


def _boot(count: int) -> SensorIdentity:
    return SensorIdentity("wing4b-01", "st-mary", "4b", os.urandom(16), count)


def _flows(seq: int, identity: SensorIdentity, signer: Signer = SIGNER, **batch: int) -> bytes:
    info = BatchInfo(seq=seq, window_start_us=seq, window_end_us=seq + 1, **batch)
    return signer.sign(encode_flow_batch(synthetic_flows(1, seed=seq), identity, info), FLOWS)


def _health(seq: int, identity: SensorIdentity, depth: int) -> bytes:
    info = BatchInfo(seq=seq, window_start_us=seq, window_end_us=seq + 1)
    figures = {"spool_depth_messages": depth}
    return SIGNER.sign(encode_health(figures, identity, info), HEALTH)


def _status(identity: SensorIdentity, time_us: int, state: str = "online") -> bytes:
    return SIGNER.sign(encode_status(state, identity, time_us), STATUS)


def _consumer(*signers: Signer) -> Consumer:
    return Consumer(TrustStore({s.kid: s.public_key() for s in signers or (SIGNER,)}))


def _types(records: list[dict]) -> list[str]:
    return [r["type"] for r in records]


def _reason(records: list[dict]) -> str:
    assert _types(records) == ["rejected"], records
    return records[0]["reason"]


# ---- item 3: replays ----------------------------------------------------------------


def test_an_old_boots_messages_replayed_after_newer_boots_are_rejected() -> None:
    consumer = _consumer()
    boots = [_boot(count) for count in range(BOOTS_KEPT + 2)]
    captured = [_flows(0, boots[0]), _flows(1, boots[0])]
    for identity in boots:
        assert "rejected" not in _types(consumer.handle(_flows(0, identity), FLOWS))
    for message in captured:  # boot 0 is older than every boot remembered
        assert _reason(consumer.handle(message, FLOWS)) == "replayed"


def test_replays_are_still_refused_after_a_restart_with_the_saved_state() -> None:
    consumer = _consumer()
    boots = [_boot(count) for count in range(BOOTS_KEPT + 2)]
    for identity in boots:
        consumer.handle(_flows(0, identity), FLOWS)
    restored = Consumer(
        TrustStore({SIGNER.kid: SIGNER.public_key()}),
        tracker=SequenceTracker.from_state(consumer.tracker.state()),
    )
    assert _reason(restored.handle(_flows(3, boots[0]), FLOWS)) == "replayed"
    assert _reason(restored.handle(_flows(3, boots[1]), FLOWS)) == "replayed"


def test_a_recent_boots_spooled_backlog_still_drains_after_the_next_boot_started() -> None:
    consumer = _consumer()
    old, new = _boot(4), _boot(5)
    consumer.handle(_flows(0, old), FLOWS)
    consumer.handle(_flows(0, new), FLOWS)
    records = consumer.handle(_flows(1, old), FLOWS)
    assert _types(records)[0] == "batch", records  # no rejection, no boot flapping back
    records = consumer.handle(_flows(1, new), FLOWS)
    assert _types(records)[0] == "batch", records


def test_a_boot_counter_reused_with_another_boot_id_is_a_replay() -> None:
    consumer = _consumer()
    consumer.handle(_flows(0, _boot(3)), FLOWS)
    assert _reason(consumer.handle(_flows(0, _boot(3)), FLOWS)) == "replayed"


def test_a_new_key_starts_its_count_afresh() -> None:
    reflashed = Signer(Ed25519PrivateKey.generate())
    consumer = _consumer(SIGNER, reflashed)
    for count in range(BOOTS_KEPT + 3):
        consumer.handle(_flows(0, _boot(count)), FLOWS)
    records = consumer.handle(_flows(0, _boot(0), reflashed), FLOWS)
    assert _types(records)[0] == "boot" and records[0]["boot_count"] == 0


def test_a_stale_or_repeated_status_does_not_pass_for_liveness() -> None:
    consumer = _consumer()
    old, new = _boot(7), _boot(8)
    retained_online = _status(old, 1_000)
    assert _types(consumer.handle(retained_online, STATUS)) == ["boot", "status"]
    assert consumer.handle(retained_online, STATUS) == []  # redelivered retained: duplicate
    consumer.handle(_flows(0, new), FLOWS)
    assert _reason(consumer.handle(retained_online, STATUS)) == "stale_status"
    assert _reason(consumer.handle(_status(old, 9_000, "offline"), STATUS)) == "stale_status"
    assert _types(consumer.handle(_status(new, 2_000), STATUS)) == ["status"]


def test_the_first_message_of_a_boot_reveals_the_previous_boots_lost_tail() -> None:
    consumer = _consumer()
    first, second = _boot(1), _boot(2)
    for seq in range(4):
        consumer.handle(_flows(seq, first), FLOWS)
    records = consumer.handle(_flows(0, second, previous_boot_last_seq=6), FLOWS)
    (gap,) = [r for r in records if r["type"] == "gap"]
    assert gap["boot"] == first.boot_id.hex()
    assert (gap["first_missing_seq"], gap["last_missing_seq"]) == (4, 6)
    late = consumer.handle(_flows(5, first), FLOWS)
    assert _types(late)[0] == "late"
    assert consumer.stats.missing_messages == 2


def test_the_sensor_counts_its_boots_per_key_beside_the_spool(tmp_path: Path) -> None:
    kid, other_kid = b"\x01" * 8, b"\x02" * 8
    first = BootCounter.start(tmp_path, kid)
    first.record_last_seq(41)
    second = BootCounter.start(tmp_path, kid)
    assert (first.count, second.count, second.previous_last_seq) == (0, 1, 41)
    assert BootCounter.resume(tmp_path, kid).count == 1  # a reload keeps its boot
    assert BootCounter.start(tmp_path, other_kid).count == 0  # a new key starts afresh
    (tmp_path / "boot-counter.json").write_text("{torn")
    with pytest.raises(UsageError, match="boot counter"):
        BootCounter.start(tmp_path, kid)


# ---- item 4: bounded state ----------------------------------------------------------


def test_forty_thousand_fake_sensor_ids_cost_bounded_state_and_linear_time() -> None:
    tracker = SequenceTracker(max_sensors=1000)
    started = time.monotonic()
    for index in range(40_000):
        tracker.observe(f"fake-{index}", index.to_bytes(16, "big"), 0)
    elapsed = time.monotonic() - started
    assert len(tracker.state()["sensors"]) == 1000
    assert tracker.sensors_forgotten == 39_000
    assert elapsed < 5, f"{elapsed:.1f} s for 40,000 sensors"


def test_many_boots_of_many_sensors_do_not_slow_each_other() -> None:
    tracker = SequenceTracker()
    started = time.monotonic()
    for index in range(20_000):
        tracker.observe(f"s{index % 2000}", index.to_bytes(16, "big"), 0)
    assert time.monotonic() - started < 5


# ---- item 5: false gaps while a backlog drains ----------------------------------------


def test_live_data_overtaking_a_backlog_makes_no_gap_while_health_says_it_is_spooled() -> None:
    consumer = _consumer()
    boot = _boot(0)
    for seq in range(10):
        consumer.handle(_flows(seq, boot), FLOWS)
    consumer.handle(_health(10, boot, depth=25), HEALTH)  # reconnected: backlog spooled
    out = [r for seq in (31, 32) for r in consumer.handle(_flows(seq, boot), FLOWS)]
    assert "gap" not in _types(out)
    out = [r for seq in range(11, 31) for r in consumer.handle(_flows(seq, boot), FLOWS)]
    assert "gap" not in _types(out) and "late" not in _types(out)
    assert "gap" not in _types(consumer.handle(_health(33, boot, depth=0), HEALTH))
    assert (consumer.stats.gaps, consumer.stats.missing_messages) == (0, 0)
    assert consumer.tracker.pending_messages() == 0


def test_a_held_gap_is_reported_once_the_spool_is_empty() -> None:
    consumer = _consumer()
    boot = _boot(0)
    consumer.handle(_flows(0, boot), FLOWS)
    consumer.handle(_health(1, boot, depth=9), HEALTH)
    consumer.handle(_flows(8, boot), FLOWS)  # 2..7 pending
    consumer.handle(_flows(3, boot), FLOWS)  # one of them drains
    assert consumer.tracker.pending_messages() == 5
    records = consumer.handle(_health(9, boot, depth=0), HEALTH)
    gaps = [(r["first_missing_seq"], r["last_missing_seq"]) for r in records if r["type"] == "gap"]
    assert gaps == [(2, 2), (4, 7)]
    assert consumer.stats.missing_messages == 5


def test_a_held_gap_is_reported_once_the_backlog_is_too_small_to_hold_it() -> None:
    # A spool that always has a message or two in flight is never empty at a health
    # message: a gap larger than what it holds is confirmed all the same.
    consumer = _consumer()
    boot = _boot(0)
    consumer.handle(_flows(0, boot), FLOWS)
    consumer.handle(_health(1, boot, depth=30), HEALTH)
    consumer.handle(_flows(20, boot), FLOWS)  # 2..19 pending: 18 messages
    assert "gap" not in _types(consumer.handle(_health(21, boot, depth=18), HEALTH))
    records = consumer.handle(_health(22, boot, depth=2), HEALTH)
    gaps = [(r["first_missing_seq"], r["last_missing_seq"]) for r in records if r["type"] == "gap"]
    assert gaps == [(2, 19)]
    assert _types(consumer.handle(_flows(7, boot), FLOWS))[0] == "late"  # counted back
    assert consumer.stats.missing_messages == 17


def test_without_backlog_news_a_gap_is_reported_and_late_arrivals_make_the_totals_true() -> None:
    consumer = _consumer()
    boot = _boot(0)
    for seq in [*range(10), 30, 31, *range(10, 30)]:
        records = consumer.handle(_flows(seq, boot), FLOWS)
    assert consumer.stats.gaps == 1 and consumer.stats.late == 20
    assert consumer.stats.missing_messages == 0
    assert _types(records)[0] == "late"


def test_the_version_1_state_file_layout_is_read() -> None:
    saved = {
        "current_boot": {"wing4b-01": "00" * 16},
        "boots": [{"sensor": "wing4b-01", "boot": "00" * 16, "highest_seq": 5,
                   "missing": [[2, 3]]}],
    }  # fmt: skip
    tracker = SequenceTracker.from_state(saved)
    assert tracker.observe("wing4b-01", bytes(16), 2).late_reported
    assert tracker.observe("wing4b-01", bytes(16), 5).duplicate
