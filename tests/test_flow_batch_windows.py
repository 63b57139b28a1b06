"""Batch windows (agent/batcher.py) count the records that wait in C: a window opens with
its first record, closes when the clock passes its end or when it holds max_records (the
rest go to the next window, opened then), and a drain closes it at the current time."""

from __future__ import annotations

import pytest

from agent.batcher import FlowWindows

S = 1_000_000


def test_a_window_closes_when_the_clock_passes_its_end():
    windows = FlowWindows(window_s=10, max_records=100)
    assert windows.tick(5 * S) is None  # nothing open
    assert windows.add(3, 5 * S) is None
    assert windows.add(4, 9 * S) is None
    assert windows.tick(14 * S) is None
    window = windows.tick(15 * S)
    assert (window.start_us, window.end_us, window.count) == (5 * S, 15 * S, 7)
    assert windows.tick(30 * S) is None  # an empty window is never shipped


def test_a_full_window_closes_early_and_the_rest_go_to_the_next():
    windows = FlowWindows(window_s=10, max_records=5)
    assert windows.room == 5
    assert windows.add(3, 2 * S) is None
    assert windows.room == 2
    full = windows.add(2, 4 * S)
    assert (full.start_us, full.end_us, full.count) == (2 * S, 4 * S, 5)
    assert windows.room == 5
    windows.add(1, 6 * S)
    rest = windows.drain(8 * S)
    assert (rest.start_us, rest.end_us, rest.count) == (6 * S, 8 * S, 1)
    assert windows.drain(9 * S) is None


def test_counts_beyond_the_room_are_refused():
    windows = FlowWindows(window_s=1, max_records=4)
    windows.add(3, 0)
    with pytest.raises(ValueError):
        windows.add(2, 0)
    with pytest.raises(ValueError):
        windows.add(0, 0)
    with pytest.raises(ValueError):
        FlowWindows(window_s=0, max_records=1)
