"""In-memory index of one segment file: where each record is, and whether it was acked."""

from __future__ import annotations

import bisect
import os
from array import array
from pathlib import Path


class SegmentIndex:
    """Index of one segment file: per record id, offset, size, creation time, acked flag."""

    def __init__(self, path: Path, first_rid: int) -> None:
        self.path = path
        self.first_rid = first_rid
        self.rids = array("Q")
        self.offsets = array("Q")
        self.sizes = array("I")
        self.created_ms = array("Q")
        self.acked = bytearray()
        self.unacked_count = 0
        self.head = 0  # index of the first record that may be unacked
        self.file_bytes = 0
        self.read_fd: int | None = None

    def add(self, rid: int, offset: int, size: int, created_ms: int, acked: bool) -> None:
        self.rids.append(rid)
        self.offsets.append(offset)
        self.sizes.append(size)
        self.created_ms.append(created_ms)
        self.acked.append(1 if acked else 0)
        if not acked:
            self.unacked_count += 1

    def index_of(self, rid: int) -> int | None:
        index = bisect.bisect_left(self.rids, rid)
        if index < len(self.rids) and self.rids[index] == rid:
            return index
        return None

    def first_unacked(self) -> int | None:
        while self.head < len(self.rids) and self.acked[self.head]:
            self.head += 1
        return self.head if self.head < len(self.rids) else None

    def close(self) -> None:
        if self.read_fd is not None:
            os.close(self.read_fd)
            self.read_fd = None
