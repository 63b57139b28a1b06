"""The spool on a real filesystem: order, acks, recovery from damage, bounds, SIGKILL."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agent.errors import AgentError
from agent.spool import Spool, SpoolSettings
from agent.spool.record import scan_segment

TOPIC = "iomt/st-mary/4b/wing4b-01/flows"


def payload_for(seq: int, size: int = 300) -> bytes:
    head = f"batch-{seq:08d}|".encode()
    return head + bytes((seq + i) % 251 for i in range(size - len(head)))


def open_spool(directory: Path, **overrides: object) -> Spool:
    settings = SpoolSettings(dir=directory, **overrides)  # type: ignore[arg-type]
    return Spool.open(settings)


def fill(spool: Spool, count: int, start: int = 0, size: int = 300) -> None:
    for seq in range(start, start + count):
        assert spool.append(TOPIC, "flows", seq, payload_for(seq, size)) is not None


def seqs_of(spool: Spool) -> list[int]:
    return [record.seq for record in spool.read(0, 1_000_000)]


def largest_segment(directory: Path) -> Path:
    """The segment file holding the most records (the one a test damages)."""
    return max(directory.glob("*.seg"), key=lambda p: p.stat().st_size)


def test_records_come_back_in_order_and_intact_after_reopen(tmp_path: Path) -> None:
    spool = open_spool(tmp_path, segment_bytes=4096)
    fill(spool, 100)
    spool.close()
    reopened = open_spool(tmp_path, segment_bytes=4096)
    records = reopened.read(0, 1000)
    assert [r.seq for r in records] == list(range(100))
    assert all(r.payload == payload_for(r.seq) and r.topic == TOPIC for r in records)
    assert reopened.recovery.damage == ()
    assert reopened.recovery.records_kept == 100
    assert len(list(tmp_path.glob("*.seg"))) > 5  # really several segments


def test_acknowledged_records_are_gone_and_their_segments_deleted(tmp_path: Path) -> None:
    spool = open_spool(tmp_path, segment_bytes=4096)
    fill(spool, 100)
    segments_before = len(list(tmp_path.glob("*.seg")))
    for record in spool.read(0, 65):
        spool.ack(record.rid)
    assert seqs_of(spool) == list(range(65, 100))
    assert spool.stats().depth_messages == 35
    assert len(list(tmp_path.glob("*.seg"))) < segments_before
    spool.close()
    reopened = open_spool(tmp_path, segment_bytes=4096)
    assert seqs_of(reopened) == list(range(65, 100))
    assert reopened.recovery.records_already_acked > 0


def test_out_of_order_acks_keep_the_unacked_record(tmp_path: Path) -> None:
    spool = open_spool(tmp_path)
    fill(spool, 5)
    rids = [r.rid for r in spool.read(0, 10)]
    for rid in (rids[1], rids[3], rids[4]):
        spool.ack(rid)
    assert seqs_of(spool) == [0, 2]
    assert spool.oldest_unacked_rid() == rids[0]


def test_torn_tail_is_cut_and_reported(tmp_path: Path) -> None:
    spool = open_spool(tmp_path)
    fill(spool, 10)
    spool.close()
    segment = largest_segment(tmp_path)
    size = segment.stat().st_size
    os.truncate(segment, size - 50)  # a power cut in the middle of the last record
    reopened = open_spool(tmp_path)
    assert seqs_of(reopened) == list(range(9))
    (damage,) = reopened.recovery.damage
    assert damage.action == "truncated" and damage.segment == segment.name
    assert damage.offset + damage.length == size - 50
    assert segment.stat().st_size == damage.offset  # really cut on disk
    assert "truncated" in reopened.recovery.describe()


@pytest.mark.parametrize("seed", range(20))
def test_random_damage_costs_only_the_records_it_touched(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    size = rng.randint(40, 700)
    spool = open_spool(tmp_path, segment_bytes=8192)
    fill(spool, 120, size=size)
    spool.close()
    victim = rng.choice(sorted(tmp_path.glob("*.seg")))
    data = bytearray(victim.read_bytes())
    layout, _, _ = scan_segment(victim.name, bytes(data))
    first_seq = seqs_by_rid(tmp_path)
    offset = rng.randrange(len(data))
    damage_kind = rng.choice(["truncate", "flip", "zero-block"])
    if damage_kind == "truncate":
        damaged_end = len(data)
        del data[offset:]
    elif damage_kind == "flip":
        damaged_end = offset + 1
        data[offset] ^= 1 << rng.randrange(8)
    else:
        damaged_end = min(len(data), offset + 512)
        data[offset:damaged_end] = bytes(damaged_end - offset)
    victim.write_bytes(bytes(data))
    touched = {
        first_seq[r.rid]
        for r in layout
        if r.offset < damaged_end and r.offset + r.size_bytes > offset
    }

    reopened = open_spool(tmp_path, segment_bytes=8192)
    records = reopened.read(0, 1000)
    assert all(r.payload == payload_for(r.seq, size) for r in records), "never a corrupt record"
    assert set(range(120)) - {r.seq for r in records} == touched
    assert [r.seq for r in records] == sorted(r.seq for r in records)
    assert all(d.segment == victim.name for d in reopened.recovery.damage)
    # Whatever the damage took is counted as dropped, for the next data message.
    assert reopened.stats().dropped_messages == len(touched)
    assert reopened.unreported_drops().messages == len(touched)
    boundaries = {r.offset for r in layout}
    if damage_kind == "truncate" and offset in boundaries:
        return  # a cut exactly between records leaves nothing to detect or report
    if damage_kind == "truncate":  # the torn record's remains, up to the cut, are reported
        assert any(d.offset + d.length == offset for d in reopened.recovery.damage)
    else:
        assert any(d.offset <= offset < d.offset + d.length for d in reopened.recovery.damage)


def seqs_by_rid(directory: Path) -> dict[int, int]:
    spool = open_spool(directory)
    mapping = {r.rid: r.seq for r in spool.read(0, 10_000)}
    spool.close()
    return mapping


def test_full_spool_drops_oldest_and_counts_exactly(tmp_path: Path) -> None:
    spool = open_spool(tmp_path, max_bytes=40_000, segment_bytes=8_000)
    fill(spool, 400)
    stats = spool.stats()
    kept = seqs_of(spool)
    assert stats.disk_bytes <= 40_000
    assert kept == list(range(400 - len(kept), 400)), "the newest survive, in order"
    assert stats.dropped_messages == 400 - len(kept) > 0
    assert spool.take_unreported_drops().messages == stats.dropped_messages
    assert spool.take_unreported_drops().messages == 0


def test_full_spool_drop_newest_keeps_the_oldest(tmp_path: Path) -> None:
    spool = open_spool(tmp_path, max_bytes=40_000, segment_bytes=8_000, full_policy="drop_newest")
    accepted = sum(spool.append(TOPIC, "flows", s, payload_for(s)) is not None for s in range(400))
    kept = seqs_of(spool)
    assert kept == list(range(accepted))
    assert spool.stats().dropped_messages == 400 - accepted > 0


def test_drop_counts_survive_a_restart(tmp_path: Path) -> None:
    spool = open_spool(tmp_path, max_bytes=40_000, segment_bytes=8_000)
    fill(spool, 400)
    dropped = spool.stats().dropped_messages
    spool.close()
    reopened = open_spool(tmp_path, max_bytes=40_000, segment_bytes=8_000)
    assert reopened.stats().dropped_messages == dropped
    assert reopened.take_unreported_drops().messages == dropped


def test_fsync_thread_makes_appends_durable_without_close(tmp_path: Path) -> None:
    spool = open_spool(tmp_path, fsync_interval_s=0.05)
    fill(spool, 3)
    for record in spool.read(0, 1):
        spool.ack(record.rid)
    time.sleep(0.3)
    state = (tmp_path / "state.json").read_text()
    assert '"oldest_unacked_rid": 1' in state
    spool.close()


_WRITER = """
import sys
from pathlib import Path
from agent.errors import AgentError
from agent.spool import Spool, SpoolSettings
from agent.spool.record import scan_segment
spool = Spool.open(SpoolSettings(dir=Path(sys.argv[1]), fsync_interval_s=5.0))
seq = 0
while True:
    spool.append("t", "flows", seq, b"x" * 200 + str(seq).encode())
    print(seq, flush=True)
    seq += 1
"""


def test_sigkill_of_the_writer_loses_no_appended_record(tmp_path: Path) -> None:
    writer = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(tmp_path)],
        stdout=subprocess.PIPE,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert writer.stdout is not None
    confirmed = -1
    while confirmed < 3000:
        confirmed = int(writer.stdout.readline())
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    confirmed = max([confirmed, *(int(line) for line in writer.stdout.read().split())])
    reopened = open_spool(tmp_path)
    seqs = seqs_of(reopened)
    assert seqs[: confirmed + 1] == list(range(confirmed + 1))


def test_unusable_spool_dir_is_one_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    with pytest.raises(AgentError, match=r"spool\.dir .*not-a-dir"):
        open_spool(blocker)


def test_damaged_state_file_costs_duplicates_not_loss(tmp_path: Path) -> None:
    spool = open_spool(tmp_path)
    fill(spool, 10)
    for record in spool.read(0, 4):
        spool.ack(record.rid)
    spool.close()
    (tmp_path / "state.json").write_text("{garbage")
    reopened = open_spool(tmp_path)
    assert seqs_of(reopened) == list(range(10))


def test_records_cut_on_reopen_count_as_dropped_and_are_reported(tmp_path: Path) -> None:
    spool = open_spool(tmp_path)
    fill(spool, 10)
    spool.close()
    segment = largest_segment(tmp_path)
    os.truncate(segment, segment.stat().st_size - 50)  # the last record of the boot, torn
    reopened = open_spool(tmp_path)
    assert reopened.recovery.records_lost == 1
    stats = reopened.stats()
    assert stats.dropped_messages == 1 and stats.dropped_bytes > 0
    assert reopened.unreported_drops().messages == 1
    assert "1 unsent records lost" in reopened.recovery.describe()


def test_whole_records_lost_at_a_record_boundary_are_counted(tmp_path: Path) -> None:
    spool = open_spool(tmp_path)
    fill(spool, 10)
    spool.close()
    segment = largest_segment(tmp_path)
    layout, _, _ = scan_segment(segment.name, segment.read_bytes())
    os.truncate(segment, layout[7].offset)  # records 7, 8, 9 gone without a trace of damage
    reopened = open_spool(tmp_path)
    assert reopened.recovery.damage == ()
    assert reopened.stats().dropped_messages == 3
    assert seqs_of(reopened) == list(range(7))


def test_records_already_acknowledged_are_not_counted_as_lost(tmp_path: Path) -> None:
    spool = open_spool(tmp_path)
    fill(spool, 10)
    for record in spool.read(0, 5):
        spool.ack(record.rid)
    spool.close()
    segment = largest_segment(tmp_path)
    data = bytearray(segment.read_bytes())
    layout, _, _ = scan_segment(segment.name, bytes(data))
    data[layout[2].offset + 30] ^= 0xFF  # damage in a record the broker already has
    segment.write_bytes(bytes(data))
    reopened = open_spool(tmp_path)
    assert reopened.recovery.damage != ()
    assert reopened.stats().dropped_messages == 0
    assert seqs_of(reopened) == list(range(5, 10))
