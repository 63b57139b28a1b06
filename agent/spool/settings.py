"""The spool's settings (the `[spool]` table), filled in by agent/config.py."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

FullPolicy = Literal["drop_oldest", "drop_newest"]


@dataclass(frozen=True)
class SpoolSettings:
    """The `[spool]` table.

    dir: directory of segment files (created if missing).
    max_bytes: bound on the segment files' total size.
    segment_bytes: a segment is closed and a new one started past this size; whole
      segments are the unit of deletion, so it is also the granularity of drop_oldest
      (clamped to a quarter of max_bytes).
    fsync_interval_s: how often appended data is forced to disk.
    full_policy: "drop_oldest" (default: the oldest segment's unsent batches are dropped
      to make room) or "drop_newest" (the batch being appended is dropped).
    """

    dir: Path
    max_bytes: int = 268_435_456
    segment_bytes: int = 4 * 1024 * 1024
    fsync_interval_s: float = 1.0
    full_policy: FullPolicy = "drop_oldest"
