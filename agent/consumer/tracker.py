"""Per (sensor, boot) sequence bookkeeping: duplicates, gaps, late arrivals, new boots.

Sequence numbers run per boot from 0, +1 per data message. The tracker remembers the
highest seq seen per (sensor, boot) and the ranges reported missing, so a message is
one of: next in line, ahead (a gap before it), late (fills a reported gap), or a
duplicate (dropped). Memory per boot is bounded by MAX_MISSING_RANGES, and a sensor's
boots by BOOTS_KEPT (the oldest forgotten first).

`state()` and `SequenceTracker.from_state()` carry all of it through a restart of the
consumer as plain JSON-able data, so duplicates and gaps are judged across it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

MAX_MISSING_RANGES = 1024
BOOTS_KEPT = 8  # per sensor: a boot's spool can still drain after the next boot starts


@dataclass
class _BootState:
    highest_seq: int
    missing: list[list[int]] = field(default_factory=list)  # [first, last] inclusive


@dataclass(frozen=True)
class Verdict:
    """What to do with one data message."""

    duplicate: bool = False
    late: bool = False
    gap: tuple[int, int] | None = None  # first, last missing seq (inclusive)
    new_boot: bool = False
    previous_boot: bytes | None = None


class SequenceTracker:
    """Feed it every authentic data message's (sensor, boot, seq), in arrival order."""

    def __init__(self, report_gaps: bool = True) -> None:
        self._boots: dict[tuple[str, bytes], _BootState] = {}
        self._current_boot: dict[str, bytes] = {}
        self._report_gaps = report_gaps

    def state(self) -> dict[str, Any]:
        """Everything the tracker knows, as JSON-able data (hex boot ids)."""
        return {
            "current_boot": {sensor: boot.hex() for sensor, boot in self._current_boot.items()},
            "boots": [
                {"sensor": sensor, "boot": boot.hex(), "highest_seq": state.highest_seq,
                 "missing": state.missing}
                for (sensor, boot), state in self._boots.items()
            ],
        }  # fmt: skip

    @classmethod
    def from_state(cls, saved: dict[str, Any], report_gaps: bool = True) -> SequenceTracker:
        """A tracker that goes on from `state()`; ValueError (or KeyError, TypeError)
        when `saved` is not what `state()` makes."""
        tracker = cls(report_gaps)
        for sensor, boot in saved["current_boot"].items():
            tracker._current_boot[str(sensor)] = bytes.fromhex(boot)
        for entry in saved["boots"]:
            missing = [[int(first), int(last)] for first, last in entry["missing"]]
            state = _BootState(int(entry["highest_seq"]), missing[-MAX_MISSING_RANGES:])
            tracker._boots[(str(entry["sensor"]), bytes.fromhex(entry["boot"]))] = state
        return tracker

    def observe_boot(self, sensor: str, boot: bytes) -> tuple[bool, bytes | None]:
        """(is this boot new for the sensor, the boot seen before it or None)."""
        previous = self._current_boot.get(sensor)
        if previous == boot:
            return False, None
        self._current_boot[sensor] = boot
        return (sensor, boot) not in self._boots, previous

    def observe(self, sensor: str, boot: bytes, seq: int) -> Verdict:
        """Classify a data message; records it as seen unless it is a duplicate.

        Missing ranges are tracked even when gaps are not reported (a shared
        subscription member sees only some messages), so a late message is never
        mistaken for a duplicate.
        """
        verdict = self._classify(sensor, boot, seq)
        if verdict.gap is not None and not self._report_gaps:
            return Verdict(new_boot=verdict.new_boot, previous_boot=verdict.previous_boot)
        return verdict

    def _classify(self, sensor: str, boot: bytes, seq: int) -> Verdict:
        new_boot, previous = self.observe_boot(sensor, boot)
        state = self._boots.get((sensor, boot))
        if state is None:
            self._forget_old_boots(sensor)
            state = self._boots[(sensor, boot)] = _BootState(highest_seq=seq)
            if seq > 0:
                # What came before is missing so far: a lower seq that arrives later (the
                # sensor's spool backlog overtaken by live data) is late, not a duplicate.
                state.missing.append([0, seq - 1])
                # A boot that started while we watched the sensor must begin at 0: that
                # is a gap. On the first boot seen we may simply have started listening
                # late, so it is only remembered.
                if previous is not None:
                    return Verdict(gap=(0, seq - 1), new_boot=True, previous_boot=previous)
            return Verdict(new_boot=new_boot, previous_boot=previous)
        if seq > state.highest_seq:
            gap = None
            if seq > state.highest_seq + 1:
                gap = (state.highest_seq + 1, seq - 1)
                state.missing.append(list(gap))
                del state.missing[:-MAX_MISSING_RANGES]
            state.highest_seq = seq
            return Verdict(gap=gap, new_boot=new_boot, previous_boot=previous)
        if self._take_missing(state, seq):
            return Verdict(late=True, new_boot=new_boot, previous_boot=previous)
        return Verdict(duplicate=True)

    def _forget_old_boots(self, sensor: str) -> None:
        """Make room for one more boot of `sensor` (dicts keep insertion order)."""
        boots = [key for key in self._boots if key[0] == sensor]
        for key in boots[: max(0, len(boots) - BOOTS_KEPT + 1)]:
            del self._boots[key]

    @staticmethod
    def _take_missing(state: _BootState, seq: int) -> bool:
        for index, (first, last) in enumerate(state.missing):
            if first <= seq <= last:
                pieces = [[first, seq - 1]] if first < seq else []
                if seq < last:
                    pieces.append([seq + 1, last])
                state.missing[index : index + 1] = pieces
                return True
        return False
