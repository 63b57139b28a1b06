"""Per sensor and boot: duplicates, gaps, late arrivals, new boots, replayed boots.

Sequence numbers run per boot from 0, +1 per data message. For each (sensor, boot) the
tracker remembers the highest seq seen and the ranges missing below it, so a message is
one of: next in line, ahead (a gap before it), late (fills a missing range), or a
duplicate (dropped).

A missing range is one of three kinds:
- reported: a `gap` record went out; a late arrival into it is reported too (`late`),
  so the totals come out true in the end;
- pending: held back while the sensor's health says its spool still holds a backlog
  (live data overtakes a backlog that can take hours to drain); a health message with
  an empty spool confirms it (then it is reported), a late arrival just fills it;
- quiet: known but never reported (a consumer that started listening mid-boot, or a
  member of a shared subscription, which sees only part of each stream).

Replays (version 2 messages, which carry the sensor's boot counter per key id): the
tracker keeps the last BOOTS_KEPT boots of each sensor and, per key id, the highest
boot counter it has forgotten. A boot at or below that floor, or one reusing the counter
of a remembered boot, is a replay and raises Rejected("replayed"); a spooled backlog of
a recent boot still drains. A `status` of an older boot than the newest one seen, or not
newer than the last status of its boot, is stale.

Memory is bounded: MAX_MISSING_RANGES per boot, BOOTS_KEPT per sensor, `max_sensors`
sensors (the least recently heard forgotten first). `state()` and `from_state()` carry it
all through a restart as plain JSON-able data.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from agent.wire.rejection import REPLAYED, STALE_STATUS, Rejected

MAX_MISSING_RANGES = 1024
BOOTS_KEPT = 8  # per sensor: a boot's spool can still drain after the next boot starts
MAX_SENSORS = 10_000  # default bound; bound keys keep the real number at the fleet's size
KIDS_KEPT = 8  # per sensor: the floors of its most recent key ids

QUIET, PENDING, REPORTED = 0, 1, 2
Gap = tuple[bytes, int, int]  # boot id, first and last missing seq (inclusive)


@dataclass
class _BootState:
    highest_seq: int  # -1: only a status seen so far
    # [first, last, QUIET / PENDING / REPORTED], first <= last, sorted by first.
    missing: list[list[int]] = field(default_factory=list)
    count: int | None = None
    kid: bytes | None = None
    status_time_us: int = -1
    # It started while we watched an earlier boot of the sensor, so it must begin at 0.
    from_start: bool = False


@dataclass
class _SensorState:
    boots: dict[bytes, _BootState] = field(default_factory=dict)  # oldest first
    current: bytes | None = None
    floors: dict[bytes, int] = field(default_factory=dict)  # kid -> highest forgotten count
    backlog: bool = False  # its last health said the spool still holds messages


@dataclass(frozen=True)
class Verdict:
    """What to do with one message."""

    duplicate: bool = False
    late: bool = False
    late_reported: bool = False  # it fills a gap that was reported: report it as late
    gap: tuple[int, int] | None = None  # first, last missing seq of this boot, to report
    new_boot: bool = False
    previous_boot: bytes | None = None
    confirmed: tuple[Gap, ...] = ()  # gaps of any boot of the sensor to report now


class SequenceTracker:
    """Feed it every authentic message's identity and seq, in arrival order."""

    def __init__(self, report_gaps: bool = True, max_sensors: int = MAX_SENSORS) -> None:
        self._sensors: OrderedDict[str, _SensorState] = OrderedDict()
        self._report_gaps = report_gaps
        self._max_sensors = max_sensors
        self.sensors_forgotten = 0

    # ---- what the consumer calls -------------------------------------------------------

    def observe(
        self,
        sensor: str,
        boot: bytes,
        seq: int,
        *,
        kid: bytes | None = None,
        boot_count: int | None = None,
        previous_last_seq: int | None = None,
    ) -> Verdict:
        """Classify a data message; records it as seen unless it is a duplicate.
        Raises Rejected(replayed) for a boot older than those remembered."""
        state = self._sensor(sensor)
        new_boot, previous, entry = self._boot(state, boot, kid, boot_count)
        confirmed: list[Gap] = []
        if previous_last_seq is not None and seq == 0:
            confirmed += self._previous_tail(state, entry, previous_last_seq)
        if entry.highest_seq < 0:
            entry.highest_seq = seq
            gap = None
            if seq > 0:
                # Before it is missing so far: a lower seq arriving later (the spool's
                # backlog overtaken by live data) is late, not a duplicate. A boot that
                # started while we watched must begin at 0: a gap. On the first boot
                # seen we may simply have started listening late: quiet.
                kind = self._gap_kind(state) if entry.from_start else QUIET
                gap = self._add_missing(entry, 0, seq - 1, kind)
            return Verdict(
                gap=gap, new_boot=new_boot, previous_boot=previous, confirmed=tuple(confirmed)
            )
        if seq > entry.highest_seq:
            gap = None
            if seq > entry.highest_seq + 1:
                gap = self._add_missing(
                    entry, entry.highest_seq + 1, seq - 1, self._gap_kind(state)
                )
            entry.highest_seq = seq
            return Verdict(
                gap=gap, new_boot=new_boot, previous_boot=previous, confirmed=tuple(confirmed)
            )
        taken = self._take_missing(entry, seq)
        if taken is None:
            return Verdict(duplicate=True, confirmed=tuple(confirmed))
        return Verdict(
            late=True,
            late_reported=taken == REPORTED,
            new_boot=new_boot,
            previous_boot=previous,
            confirmed=tuple(confirmed),
        )

    def observe_status(
        self,
        sensor: str,
        boot: bytes,
        time_us: int,
        *,
        kid: bytes | None = None,
        boot_count: int | None = None,
    ) -> Verdict:
        """Classify a status message: a duplicate when not newer than the last status of
        its boot. Raises Rejected: replayed (a forgotten boot), stale_status (a status
        of an older boot than the newest seen of the same key: a late will, a replayed
        retained "online")."""
        state = self._sensor(sensor)
        if boot_count is not None and kid is not None:
            newest = max(
                (b.count for b in state.boots.values() if b.kid == kid and b.count is not None),
                default=None,
            )
            if newest is not None and boot_count < newest:
                raise Rejected(
                    STALE_STATUS,
                    f"status of boot {boot_count} of {sensor}, which has booted since "
                    f"(boot {newest})",
                )
        new_boot, previous, entry = self._boot(state, boot, kid, boot_count)
        if time_us <= entry.status_time_us:
            return Verdict(duplicate=True)
        entry.status_time_us = time_us
        return Verdict(new_boot=new_boot, previous_boot=previous)

    def observe_backlog(self, sensor: str, boot: bytes, seq: int, depth: int) -> list[Gap]:
        """A health message (`seq` of `boot`) said the spool holds `depth` messages. The
        pending gaps before it are confirmed (returned, to report) when the spool is
        empty, or when it holds fewer messages than they miss: then not all of them can
        still come. A late arrival into a confirmed gap is still reported and counted
        back, so confirming early costs only a `late` record."""
        state = self._sensors.get(sensor)
        if state is None:
            return []
        state.backlog = depth > 0
        held = [
            (boot_id, span)
            for boot_id, entry in state.boots.items()
            for span in entry.missing
            if span[2] == PENDING and (boot_id != boot or span[1] < seq)
        ]
        if sum(span[1] - span[0] + 1 for _boot, span in held) <= depth:
            return []  # the backlog may still hold every one of them
        for _boot, span in held:
            span[2] = REPORTED
        return [(boot_id, span[0], span[1]) for boot_id, span in held]

    def observe_boot(self, sensor: str, boot: bytes) -> tuple[bool, bytes | None]:
        """(is this boot new for the sensor, the boot seen before it or None); for
        messages without a boot counter."""
        new_boot, previous, _entry = self._boot(self._sensor(sensor), boot, None, None)
        return new_boot, previous

    def pending_messages(self) -> int:
        """Messages in gaps held back while a sensor's backlog drains."""
        return sum(
            span[1] - span[0] + 1
            for state in self._sensors.values()
            for entry in state.boots.values()
            for span in entry.missing
            if span[2] == PENDING
        )

    # ---- bookkeeping -------------------------------------------------------------------

    def _sensor(self, sensor: str) -> _SensorState:
        state = self._sensors.get(sensor)
        if state is None:
            state = self._sensors[sensor] = _SensorState()
            while len(self._sensors) > self._max_sensors:
                self._sensors.popitem(last=False)
                self.sensors_forgotten += 1
        else:
            self._sensors.move_to_end(sensor)
        return state

    def _boot(
        self, state: _SensorState, boot: bytes, kid: bytes | None, count: int | None
    ) -> tuple[bool, bytes | None, _BootState]:
        """(new boot, the sensor's boot before it, its state); raises Rejected(replayed)."""
        entry = state.boots.get(boot)
        if entry is None:
            if count is not None and kid is not None:
                self._refuse_replay(state, kid, count)
            entry = _BootState(
                highest_seq=-1, count=count, kid=kid, from_start=state.current is not None
            )
            state.boots[boot] = entry
            self._forget_old_boots(state)
            new_boot = True
        else:
            new_boot = False
        previous = state.current
        if previous == boot:
            return False, None, entry
        current = state.boots.get(previous) if previous is not None else None
        # A counted boot becomes the current one only when it is newer: a backlog of an
        # older boot draining must not make the sensor look rebooted back and forth.
        if (
            current is None
            or count is None
            or current.count is None
            or current.kid != kid
            or count > current.count
        ):
            state.current = boot
        return new_boot, previous if new_boot else None, entry

    @staticmethod
    def _refuse_replay(state: _SensorState, kid: bytes, count: int) -> None:
        floor = state.floors.get(kid)
        if floor is not None and count <= floor:
            raise Rejected(
                REPLAYED,
                f"boot {count} is older than the boots remembered for this sensor and key "
                f"(forgotten up to {floor}): a replay",
            )
        for entry in state.boots.values():
            if entry.kid == kid and entry.count == count:
                raise Rejected(
                    REPLAYED, f"boot {count} of this sensor and key already had another boot id"
                )

    def _forget_old_boots(self, state: _SensorState) -> None:
        while len(state.boots) > BOOTS_KEPT:
            oldest = next(iter(state.boots))
            entry = state.boots.pop(oldest)
            if entry.kid is not None and entry.count is not None:
                floor = state.floors.pop(entry.kid, -1)
                state.floors[entry.kid] = max(floor, entry.count)  # most recent last
                while len(state.floors) > KIDS_KEPT:
                    state.floors.pop(next(iter(state.floors)))
            if state.current == oldest:
                state.current = None

    def _gap_kind(self, state: _SensorState) -> int:
        if not self._report_gaps:
            return QUIET
        return PENDING if state.backlog else REPORTED

    def _add_missing(
        self, entry: _BootState, first: int, last: int, kind: int
    ) -> tuple[int, int] | None:
        """Remember first..last as missing; the gap to report now, if any."""
        entry.missing.append([first, last, kind])
        entry.missing.sort()
        if len(entry.missing) > MAX_MISSING_RANGES:
            del entry.missing[:-MAX_MISSING_RANGES]
        return (first, last) if kind == REPORTED else None

    def _previous_tail(self, state: _SensorState, entry: _BootState, last_seq: int) -> list[Gap]:
        """The previous boot (same key, count - 1) stored up to `last_seq`: what we have
        not seen of its tail is missing (reported, or pending while a backlog drains)."""
        if entry.count is None or entry.kid is None:
            return []
        for boot_id, other in state.boots.items():
            if other.kid == entry.kid and other.count == entry.count - 1:
                if other.highest_seq >= last_seq:
                    return []
                gap = self._add_missing(
                    other, other.highest_seq + 1, last_seq, self._gap_kind(state)
                )
                other.highest_seq = last_seq
                return [(boot_id, *gap)] if gap else []
        return []

    @staticmethod
    def _take_missing(entry: _BootState, seq: int) -> int | None:
        """Take seq out of its missing range; the range's kind, or None (a duplicate)."""
        for index, (first, last, kind) in enumerate(entry.missing):
            if first <= seq <= last:
                pieces = [[first, seq - 1, kind]] if first < seq else []
                if seq < last:
                    pieces.append([seq + 1, last, kind])
                entry.missing[index : index + 1] = pieces
                return kind
        return None

    # ---- persistence -------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """Everything the tracker knows, as JSON-able data (hex ids)."""
        return {
            "sensors": [
                {
                    "sensor": sensor,
                    "current": state.current.hex() if state.current else None,
                    "backlog": state.backlog,
                    "floors": {kid.hex(): count for kid, count in state.floors.items()},
                    "boots": [
                        {
                            "boot": boot.hex(),
                            "highest_seq": entry.highest_seq,
                            "missing": entry.missing,
                            "count": entry.count,
                            "kid": entry.kid.hex() if entry.kid else None,
                            "status_time_us": entry.status_time_us,
                            "from_start": entry.from_start,
                        }
                        for boot, entry in state.boots.items()
                    ],
                }
                for sensor, state in self._sensors.items()
            ]
        }

    @classmethod
    def from_state(
        cls, saved: dict[str, Any], report_gaps: bool = True, max_sensors: int = MAX_SENSORS
    ) -> SequenceTracker:
        """A tracker that goes on from `state()` (or from the layout of the consumer before
        boot counters, which it converts); ValueError (or KeyError, TypeError) when
        `saved` is neither."""
        tracker = cls(report_gaps, max_sensors)
        if "current_boot" in saved:
            saved = _from_first_layout(saved)
        for item in saved["sensors"]:
            state = tracker._sensor(str(item["sensor"]))
            state.current = bytes.fromhex(item["current"]) if item["current"] else None
            state.backlog = bool(item["backlog"])
            state.floors = {bytes.fromhex(k): int(v) for k, v in item["floors"].items()}
            for entry in item["boots"]:
                missing = [[int(a), int(b), int(k)] for a, b, k in entry["missing"]]
                state.boots[bytes.fromhex(entry["boot"])] = _BootState(
                    highest_seq=int(entry["highest_seq"]),
                    missing=missing[-MAX_MISSING_RANGES:],
                    count=None if entry["count"] is None else int(entry["count"]),
                    kid=bytes.fromhex(entry["kid"]) if entry["kid"] else None,
                    status_time_us=int(entry["status_time_us"]),
                    from_start=bool(entry["from_start"]),
                )
        return tracker


def _from_first_layout(saved: dict[str, Any]) -> dict[str, Any]:
    """The state file of the consumer before boot counters: current boot per sensor and
    a list of boots; its missing ranges were all reported (or quiet): REPORTED."""
    sensors: dict[str, dict[str, Any]] = {}
    for sensor, boot in saved["current_boot"].items():
        sensors[str(sensor)] = {"sensor": sensor, "current": boot, "backlog": False,
                                "floors": {}, "boots": []}  # fmt: skip
    for entry in saved["boots"]:
        item = sensors.setdefault(
            str(entry["sensor"]),
            {"sensor": entry["sensor"], "current": None, "backlog": False, "floors": {},
             "boots": []},
        )  # fmt: skip
        item["boots"].append(
            {"boot": entry["boot"], "highest_seq": entry["highest_seq"],
             "missing": [[a, b, REPORTED] for a, b in entry["missing"]], "count": None,
             "kid": None, "status_time_us": -1, "from_start": True}
        )  # fmt: skip
    return {"sensors": list(sensors.values())}
