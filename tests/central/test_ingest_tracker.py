"""A member of a shared subscription must not drop what the database has not seen: the
consumer's tracker forgets old missing ranges, the database's dedupe key does not."""

from __future__ import annotations

from agent.consumer.tracker import MAX_MISSING_RANGES, SequenceTracker
from central.ingest.boots import RecordingTracker

BOOT = bytes(16)


def _every_other_seq(tracker: SequenceTracker) -> None:
    # One instance of two sees every other message: one missing range per message.
    for seq in range(0, 2 * (MAX_MISSING_RANGES + 10), 2):
        tracker.observe("s1", BOOT, seq)


def test_the_plain_tracker_would_call_a_late_redelivery_a_duplicate() -> None:
    tracker = SequenceTracker(report_gaps=False)
    _every_other_seq(tracker)
    assert tracker.observe("s1", BOOT, 1).duplicate  # seq 1 was never seen: a loss


def test_the_ingest_tracker_passes_it_on_for_the_database_to_decide() -> None:
    tracker = RecordingTracker(report_gaps=False)
    _every_other_seq(tracker)
    assert not tracker.observe("s1", BOOT, 1).duplicate
    assert not tracker.observe("s1", BOOT, 2).duplicate  # a true repeat: the key refuses it
