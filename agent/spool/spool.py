"""The spool: a bounded, crash-safe FIFO of signed batches on disk.

Layout of `SpoolSettings.dir`:
    <first record id, 20 digits>.seg   append-only segment files (format: record.py)
    state.json                         oldest unacknowledged record id, the next record id,
                                       drop counters

Appends go straight to the kernel (one write() per record, no user-space buffer), so a
killed process loses nothing; a background thread fsyncs every `fsync_interval_s`, so a
power cut loses at most the records appended in the last interval (docs/DELIVERY.md).
The capture thread only ever does a local write: it never waits on the network or on
fsync.

Thread safety: one lock guards the index; append (capture thread), read/ack
(publisher thread) and the flusher may run concurrently.
"""

from __future__ import annotations

import bisect
import contextlib
import json
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from agent.errors import AgentError
from agent.spool.record import Damage, SpoolRecord, decode_at, encode, scan_segment
from agent.spool.segment import SegmentIndex
from agent.spool.settings import SpoolSettings

log = logging.getLogger(__name__)

_SEGMENT_SUFFIX = ".seg"
_STATE_FILE = "state.json"


@dataclass(frozen=True)
class RecoveryReport:
    """What opening the spool found: kept records and every damaged range cut or skipped."""

    segments: int
    records_kept: int
    records_already_acked: int
    damage: tuple[Damage, ...]
    records_lost: int = 0  # unsent records the damage took: counted as dropped

    @property
    def bytes_cut(self) -> int:
        return sum(d.length for d in self.damage)

    def describe(self) -> str:
        """One line for the log."""
        text = (
            f"spool recovered: {self.segments} segments, {self.records_kept} unsent records"
            f" ({self.records_already_acked} already acknowledged)"
        )
        if self.damage:
            parts = ", ".join(f"{d.segment}@{d.offset}+{d.length} {d.action}" for d in self.damage)
            text += f"; damaged bytes cut: {self.bytes_cut} ({parts})"
        if self.records_lost:
            text += f"; {self.records_lost} unsent records lost (counted as dropped)"
        return text


@dataclass(frozen=True)
class SpoolStats:
    """Figures for health: depth is what is not yet acknowledged."""

    depth_messages: int
    depth_bytes: int
    disk_bytes: int
    oldest_unsent_created_ms: int | None
    dropped_messages: int
    dropped_bytes: int


@dataclass(frozen=True)
class DropCount:
    messages: int
    bytes: int


def _first_rid(path: Path) -> int:
    """The record id a segment starts at: its name (see the module docstring)."""
    try:
        return int(path.name.removesuffix(_SEGMENT_SUFFIX))
    except ValueError:
        return 0


def _missing_rids(
    first_rid: int,
    kept: list[int],
    torn_tail: bool,
    following_first_rid: int | None,
    synced_next_rid: int,
    acked_below: int,
) -> int:
    """How many unsent records of one segment the damage took.

    Ids are consecutive within a segment from its name's id: a gap before the first
    kept record or between two kept records is records lost. After the last kept one,
    the segment ran to the next segment's first id when its tail was torn; the last
    segment ran at least to the id the state file last recorded. Ids below
    `acked_below` were delivered already and are not loss.
    """
    missing: list[tuple[int, int]] = []  # [start, end) ranges
    previous = first_rid - 1
    for rid in kept:
        missing.append((previous + 1, rid))
        previous = rid
    if following_first_rid is None:
        end = max(synced_next_rid, previous + 1 + torn_tail)
    elif torn_tail or not kept:
        end = following_first_rid
    else:
        end = previous + 1
    missing.append((previous + 1, end))
    return sum(max(0, end - max(start, acked_below)) for start, end in missing)


class Spool:
    """A bounded on-disk FIFO. Open with `Spool.open(settings)`; see module docstring."""

    def __init__(self, settings: SpoolSettings) -> None:
        self.settings = settings
        self.directory = Path(settings.dir)
        self._segment_limit = max(1024, min(settings.segment_bytes, settings.max_bytes // 4))
        self._lock = threading.Lock()
        self._segments: list[SegmentIndex] = []
        self._write_fd: int | None = None
        self._unsynced_fds: list[int] = []
        self._next_rid = 0
        self._depth_messages = 0
        self._depth_bytes = 0
        self._disk_bytes = 0
        self._dropped = DropCount(0, 0)
        self._unreported = DropCount(0, 0)
        self._data_dirty = False
        self._state_dirty = False
        self._closed = threading.Event()
        self._flusher: threading.Thread | None = None
        self.recovery = RecoveryReport(0, 0, 0, ())

    # ---- opening and recovery -------------------------------------------------------

    @classmethod
    def open(cls, settings: SpoolSettings) -> Spool:
        """Open (or create) the spool, recover it, and start the fsync thread.

        Raises AgentError if the directory cannot be created or read.
        The recovery outcome is in `.recovery` (a RecoveryReport), and is logged.
        """
        spool = cls(settings)
        try:
            spool.directory.mkdir(parents=True, exist_ok=True)
            spool._recover()
            spool._start_segment()
        except OSError as exc:
            raise AgentError(f"spool.dir {settings.dir}: {exc.strerror or exc}") from exc
        level = logging.WARNING if spool.recovery.damage else logging.INFO
        log.log(level, "%s", spool.recovery.describe())
        spool._flusher = threading.Thread(target=spool._flush_loop, daemon=True, name="spool-fsync")
        spool._flusher.start()
        return spool

    def _read_state(self) -> dict[str, int]:
        path = self.directory / _STATE_FILE
        try:
            state = json.loads(path.read_text())
            return {key: int(value) for key, value in state.items()}
        except FileNotFoundError:
            return {}
        except (ValueError, TypeError, AttributeError):
            # A damaged state file costs duplicates (everything is resent), never loss.
            log.warning("spool state file %s unreadable: resending the whole spool", path)
            return {}

    def _recover(self) -> None:
        state = self._read_state()
        acked_below = state.get("oldest_unacked_rid", 0)
        # Every id below this was on disk (fsynced) before the state file said so.
        synced_next_rid = state.get("next_rid", 0)
        self._dropped = DropCount(state.get("dropped_messages", 0), state.get("dropped_bytes", 0))
        self._unreported = DropCount(
            state.get("unreported_dropped_messages", 0), state.get("unreported_dropped_bytes", 0)
        )
        damage: list[Damage] = []
        kept = already_acked = lost = 0
        last_rid = -1
        paths = sorted(self.directory.glob("*" + _SEGMENT_SUFFIX))
        for position, path in enumerate(paths):
            data = path.read_bytes()
            scanned, segment_damage, valid_end = scan_segment(path.name, data)
            damage += segment_damage
            torn_tail = bool(segment_damage) and segment_damage[-1].action == "truncated"
            if torn_tail:
                os.truncate(path, valid_end)  # the torn tail is cut, not just ignored
            scanned = [r for r in scanned if r.rid > last_rid]
            following = _first_rid(paths[position + 1]) if position + 1 < len(paths) else None
            lost += _missing_rids(
                _first_rid(path),
                [r.rid for r in scanned],
                torn_tail,
                following,
                synced_next_rid,
                acked_below,
            )
            if not scanned:
                path.unlink()
                continue
            segment = SegmentIndex(path, scanned[0].rid)
            for record in scanned:
                acked = record.rid < acked_below
                segment.add(record.rid, record.offset, record.size_bytes, record.created_ms, acked)
                already_acked += acked
                kept += not acked
            segment.file_bytes = valid_end
            last_rid = scanned[-1].rid
            if segment.unacked_count == 0:
                path.unlink()
                continue
            self._segments.append(segment)
            self._disk_bytes += segment.file_bytes
            self._depth_messages += segment.unacked_count
            self._depth_bytes += sum(
                size for size, acked in zip(segment.sizes, segment.acked, strict=True) if not acked
            )
        self._next_rid = max(last_rid + 1, acked_below, synced_next_rid)
        self.recovery = RecoveryReport(
            len(self._segments), kept, already_acked, tuple(damage), lost
        )
        # Loss found on opening is loss like any drop: counted, and reported in the next
        # data message (and in every health and status message's totals).
        self._count_drop(lost, self.recovery.bytes_cut)
        self._state_dirty = bool(damage) or lost > 0

    def _start_segment(self) -> None:
        # Appends always go to a fresh segment: a recovered file is never written again.
        path = self.directory / f"{self._next_rid:020d}{_SEGMENT_SUFFIX}"
        if self._write_fd is not None:
            self._unsynced_fds.append(self._write_fd)
        self._write_fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o600)
        self._segments.append(SegmentIndex(path, self._next_rid))
        self._data_dirty = True  # the new directory entry must reach the disk too

    # ---- the capture side -----------------------------------------------------------

    def append(
        self,
        topic: str,
        kind: str,
        seq: int,
        payload: bytes,
        reports: DropCount | None = None,
    ) -> int | None:
        """Store one message to publish later. Local and fast; never waits on the network.

        seq is the data message's sequence number (-1 for none). `reports`: the drops
        this message reports (from `unreported_drops`), forgotten once it is stored.
        Returns the record id, or None when the spool is full and the policy is
        drop_newest (the loss is counted, and `reports` stay unreported). With
        drop_oldest, the oldest unsent segment is dropped and counted.
        Raises AgentError when the disk write fails (disk full, I/O error).
        """
        with self._lock:
            if self._write_fd is None:
                raise AgentError("spool is closed")
            created_ms = int(time.time() * 1000)
            data = encode(self._next_rid, created_ms, seq, kind, topic, payload)
            if not self._make_room(len(data)):
                self._count_drop(1, len(data))
                return None
            current = self._segments[-1]
            if current.file_bytes and current.file_bytes + len(data) > self._segment_limit:
                self._start_segment()
                current = self._segments[-1]
            try:
                written = os.write(self._write_fd, data)
                while written < len(data):
                    written += os.write(self._write_fd, data[written:])
            except OSError as exc:
                raise AgentError(f"spool write to {current.path} failed: {exc.strerror}") from exc
            rid = self._next_rid
            current.add(rid, current.file_bytes, len(data), created_ms, acked=False)
            current.file_bytes += len(data)
            self._next_rid += 1
            self._disk_bytes += len(data)
            self._depth_messages += 1
            self._depth_bytes += len(data)
            self._data_dirty = True
            if reports is not None and reports.messages:
                self._unreported = DropCount(
                    max(0, self._unreported.messages - reports.messages),
                    max(0, self._unreported.bytes - reports.bytes),
                )
                self._state_dirty = True
            return rid

    def _make_room(self, needed: int) -> bool:
        limit = self.settings.max_bytes
        if needed > limit:
            return False
        if self._disk_bytes + needed <= limit:
            return True
        if self.settings.full_policy == "drop_newest":
            return False
        while self._disk_bytes + needed > limit:
            if len(self._segments) == 1:
                if self._segments[0].file_bytes == 0:
                    break
                self._start_segment()
            self._drop_segment(self._segments.pop(0))
        return self._disk_bytes + needed <= limit

    def _drop_segment(self, segment: SegmentIndex) -> None:
        lost_bytes = sum(
            size for size, acked in zip(segment.sizes, segment.acked, strict=True) if not acked
        )
        if segment.unacked_count:
            log.warning(
                "spool full (spool.max_bytes=%d): dropped %d oldest unsent batches (%d bytes)",
                self.settings.max_bytes,
                segment.unacked_count,
                lost_bytes,
            )
        self._count_drop(segment.unacked_count, lost_bytes)
        self._depth_messages -= segment.unacked_count
        self._depth_bytes -= lost_bytes
        self._delete_segment(segment)

    def _count_drop(self, messages: int, size: int) -> None:
        if messages == 0:
            return
        self._dropped = DropCount(self._dropped.messages + messages, self._dropped.bytes + size)
        self._unreported = DropCount(
            self._unreported.messages + messages, self._unreported.bytes + size
        )
        self._state_dirty = True

    def _delete_segment(self, segment: SegmentIndex) -> None:
        segment.close()
        self._disk_bytes -= segment.file_bytes
        with contextlib.suppress(FileNotFoundError):
            segment.path.unlink()

    def take_unreported_drops(self) -> DropCount:
        """Drops not yet reported in a data message; resets the count (durably)."""
        with self._lock:
            taken, self._unreported = self._unreported, DropCount(0, 0)
            if taken.messages:
                self._state_dirty = True
            return taken

    def unreported_drops(self) -> DropCount:
        """Drops not yet reported in a stored data message (the count is kept).

        The shipper puts these figures in the next data message and passes them to
        `append(reports=...)`, which forgets them only once that message is stored: a
        message that is itself dropped (drop_newest) reports nothing.
        """
        with self._lock:
            return self._unreported

    # ---- the publisher side ---------------------------------------------------------

    def read(self, from_rid: int, limit: int) -> list[SpoolRecord]:
        """Up to `limit` unacknowledged records with id >= from_rid, oldest first.

        Every record is re-verified (CRC); one that went bad on disk since start-up is
        counted as dropped and skipped, never returned.
        """
        found: list[SpoolRecord] = []
        with self._lock:
            first = max(0, bisect.bisect_right([s.first_rid for s in self._segments], from_rid) - 1)
            for segment in self._segments[first:]:
                index = bisect.bisect_left(segment.rids, from_rid)
                while index < len(segment.rids) and len(found) < limit:
                    if not segment.acked[index]:
                        record = self._load(segment, index)
                        if record is not None:
                            found.append(record)
                    index += 1
                if len(found) >= limit:
                    break
        return found

    def _load(self, segment: SegmentIndex, index: int) -> SpoolRecord | None:
        if segment.read_fd is None:
            segment.read_fd = os.open(segment.path, os.O_RDONLY)
        data = os.pread(segment.read_fd, segment.sizes[index], segment.offsets[index])
        decoded = decode_at(data, 0)
        if decoded is None or decoded[0].rid != segment.rids[index]:
            log.error(
                "spool record %d in %s is corrupt: dropped", segment.rids[index], segment.path
            )
            self._count_drop(1, segment.sizes[index])
            self._mark_acked(segment, index)
            return None
        return decoded[0]

    def ack(self, rid: int) -> None:
        """The broker acknowledged record `rid`: forget it (idempotent; unknown ids ignored).

        Segments whose records are all acknowledged are deleted.
        """
        with self._lock:
            position = bisect.bisect_right([s.first_rid for s in self._segments], rid) - 1
            if position < 0:
                return
            segment = self._segments[position]
            index = segment.index_of(rid)
            if index is None or segment.acked[index]:
                return
            self._mark_acked(segment, index)
            if segment.unacked_count == 0 and segment is not self._segments[-1]:
                self._segments.remove(segment)
                self._delete_segment(segment)

    def _mark_acked(self, segment: SegmentIndex, index: int) -> None:
        segment.acked[index] = 1
        segment.unacked_count -= 1
        self._depth_messages -= 1
        self._depth_bytes -= segment.sizes[index]
        self._state_dirty = True

    def oldest_unacked_rid(self) -> int:
        """Id of the oldest record not yet acknowledged (next id to be appended if none)."""
        with self._lock:
            return self._oldest_unacked_locked()

    def _oldest_unacked_locked(self) -> int:
        for segment in self._segments:
            index = segment.first_unacked()
            if index is not None:
                return int(segment.rids[index])
        return self._next_rid

    @property
    def next_rid(self) -> int:
        """The id the next append will get."""
        with self._lock:
            return self._next_rid

    def stats(self) -> SpoolStats:
        """Depth, disk use, age of the oldest unsent record, drops since the spool began."""
        with self._lock:
            oldest_ms = None
            for segment in self._segments:
                index = segment.first_unacked()
                if index is not None:
                    oldest_ms = int(segment.created_ms[index])
                    break
            return SpoolStats(
                depth_messages=self._depth_messages,
                depth_bytes=self._depth_bytes,
                disk_bytes=self._disk_bytes,
                oldest_unsent_created_ms=oldest_ms,
                dropped_messages=self._dropped.messages,
                dropped_bytes=self._dropped.bytes,
            )

    # ---- durability -----------------------------------------------------------------

    def sync(self) -> None:
        """Force appended records, then the ack cursor, to disk.

        Data first: the state file never claims an acknowledgement for a record that a
        power cut could still take back.
        """
        with self._lock:
            data_dirty, state_dirty = self._data_dirty, self._state_dirty
            self._data_dirty = self._state_dirty = False
            fds, self._unsynced_fds = self._unsynced_fds, []
            write_fd = self._write_fd
            state = {
                "oldest_unacked_rid": self._oldest_unacked_locked(),
                "next_rid": self._next_rid,
                "dropped_messages": self._dropped.messages,
                "dropped_bytes": self._dropped.bytes,
                "unreported_dropped_messages": self._unreported.messages,
                "unreported_dropped_bytes": self._unreported.bytes,
            }
        if data_dirty:
            for fd in fds:
                os.fsync(fd)
                os.close(fd)
            if write_fd is not None:
                with contextlib.suppress(OSError):  # closed by a concurrent close()
                    os.fsync(write_fd)
            self._fsync_directory()
        # The next id goes with the data it follows: a reopen then knows how many records
        # a damaged tail held (docs/DELIVERY.md).
        if state_dirty or data_dirty:
            path = self.directory / _STATE_FILE
            temporary = path.with_suffix(".tmp")
            with open(temporary, "w") as handle:
                json.dump(state, handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, path)
            self._fsync_directory()

    def _fsync_directory(self) -> None:
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def _flush_loop(self) -> None:
        while not self._closed.wait(self.settings.fsync_interval_s):
            try:
                self.sync()
            except OSError as exc:
                log.error("spool fsync failed: %s", exc.strerror)

    def close(self) -> None:
        """Stop the fsync thread, sync everything, close files. Safe to call twice."""
        if self._closed.is_set():
            return
        self._closed.set()
        if self._flusher is not None:
            self._flusher.join()
        self.sync()
        with self._lock:
            if self._write_fd is not None:
                os.close(self._write_fd)
                self._write_fd = None
            for segment in self._segments:
                segment.close()
