"""Time windows for flow records: which records go out together, and when.

A window is `window_s` long on the pipeline's clock (the wall clock when capturing live,
packet time when replaying, so a replay batches exactly as the live agent would have).
A window closes when the clock passes its end, or early when it holds `max_records`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from agent.flowrecord import FlowRecord


@dataclass
class FlowWindow:
    """Records collected for one batch, and the window they belong to."""

    start_us: int
    end_us: int
    records: list[FlowRecord] = field(default_factory=list)


class FlowBatcher:
    """Collects records into windows; `add` and `tick` return the windows now complete."""

    def __init__(self, window_s: float, max_records: int) -> None:
        if window_s <= 0 or max_records < 1:
            raise ValueError("window_s must be > 0 and max_records >= 1")
        self._window_us = int(window_s * 1_000_000)
        self._max_records = max_records
        self._current: FlowWindow | None = None

    def add(self, records: list[FlowRecord], now_us: int) -> list[FlowWindow]:
        """File records that finished by `now_us`; returns the windows that are full or over."""
        done = self.tick(now_us)
        for record in records:
            window = self._open(now_us)
            window.records.append(record)
            if len(window.records) >= self._max_records:
                # Full before its time: ship it now, the next window starts here.
                window.end_us = max(now_us, window.start_us)
                done.append(window)
                self._current = None
        return done

    def tick(self, now_us: int) -> list[FlowWindow]:
        """The current window if the clock has passed its end (an empty one is dropped)."""
        window = self._current
        if window is None or now_us < window.end_us:
            return []
        self._current = None
        return [window] if window.records else []

    def drain(self, now_us: int) -> list[FlowWindow]:
        """Close the current window now (end of capture or shutdown)."""
        window, self._current = self._current, None
        if window is None or not window.records:
            return []
        window.end_us = max(window.start_us, min(window.end_us, now_us))
        return [window]

    def _open(self, now_us: int) -> FlowWindow:
        if self._current is None:
            self._current = FlowWindow(now_us, now_us + self._window_us)
        return self._current
