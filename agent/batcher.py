"""Time windows for flow records: which records go out together, and when.

A window is `window_s` long on the pipeline's clock (the wall clock when capturing live,
packet time when replaying, so a replay batches exactly as the live agent would have).
A window opens with its first record, and closes when the clock passes its end, or early
when it holds `max_records` (the records beyond go to the next window, which starts then).

The records themselves wait in C (agent.engine.FlowBatch): a window here only counts them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class FlowWindow:
    """One batch's window and how many records it holds."""

    start_us: int
    end_us: int
    count: int = 0


class FlowWindows:
    """The open window: `room` says how many records it takes before it is full, `add`
    files records taken at `now_us`, `tick` and `drain` close it."""

    def __init__(self, window_s: float, max_records: int) -> None:
        if window_s <= 0 or max_records < 1:
            raise ValueError("window_s must be > 0 and max_records >= 1")
        self._window_us = int(window_s * 1_000_000)
        self._max_records = max_records
        self._current: FlowWindow | None = None

    @property
    def room(self) -> int:
        """Records the open window (or the next one) still takes."""
        return self._max_records - (self._current.count if self._current else 0)

    def add(self, count: int, now_us: int) -> FlowWindow | None:
        """File `count` (at most `room`) records finished by `now_us`, opening a window at
        `now_us` when none is open; returns the window when that filled it (closed now:
        the next window starts with the next record)."""
        if not 0 < count <= self.room:
            raise ValueError(f"count must be from 1 to {self.room}")
        window = self._current
        if window is None:
            window = self._current = FlowWindow(now_us, now_us + self._window_us)
        window.count += count
        if window.count < self._max_records:
            return None
        window.end_us = max(now_us, window.start_us)  # full before its time
        self._current = None
        return window

    def tick(self, now_us: int) -> FlowWindow | None:
        """The open window if the clock has passed its end."""
        window = self._current
        if window is None or now_us < window.end_us:
            return None
        self._current = None
        return window

    def drain(self, now_us: int) -> FlowWindow | None:
        """Close the open window now (end of capture or shutdown)."""
        window, self._current = self._current, None
        if window is None:
            return None
        window.end_us = max(window.start_us, min(window.end_us, now_us))
        return window
