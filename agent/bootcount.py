"""The sensor's persistent boot counter (wire schema 2, key 11), kept beside the spool.

    boots = BootCounter.start(spool_dir, signer.kid)    # +1, written before any message
    identity = SensorIdentity(..., boot_count=boots.count)
    boots.previous_last_seq                               # for the boot's seq 0 message
    boots.record_last_seq(shipper.next_seq - 1)           # now and then, and at the end

The counter belongs to the key id: a box re-flashed with a new key starts again from 0,
and consumers judge counters per key id. Consumers reject a boot older than the ones
they remember, so a box must never count backwards with the same key: the file is
replaced atomically (written beside it, fsynced, renamed), and a file that cannot be
read stops the start rather than restarting the count (the fix is in the error).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from agent.errors import UsageError

log = logging.getLogger(__name__)

FILE_NAME = "boot-counter.json"


@dataclass
class BootCounter:
    path: Path
    kid: bytes
    count: int
    previous_last_seq: int | None  # the last seq the previous boot (same key) stored

    @classmethod
    def start(cls, directory: Path, kid: bytes) -> BootCounter:
        """Count one more boot for `kid` in `directory` (0 for a new key or no file).
        Raises UsageError when the file exists but cannot be read or written."""
        path = directory / FILE_NAME
        saved = _read(path)
        if saved is not None and saved["kid"] == kid.hex():
            counter = cls(path, kid, int(saved["count"]) + 1, saved.get("last_seq"))
        else:
            counter = cls(path, kid, 0, None)
        counter._write(None)
        return counter

    @classmethod
    def resume(cls, directory: Path, kid: bytes) -> BootCounter:
        """The boot already counted (a configuration reload keeps its boot), or a new one
        when the key changed or nothing was counted."""
        path = directory / FILE_NAME
        saved = _read(path)
        if saved is not None and saved["kid"] == kid.hex():
            return cls(path, kid, int(saved["count"]), None)
        return cls.start(directory, kid)

    def record_last_seq(self, last_seq: int) -> None:
        """Remember the last seq this boot stored, for the next boot's first message.
        A failure (a full disk) is logged, never raised: it costs only that hint."""
        if last_seq < 0:
            return
        try:
            self._write(last_seq)
        except UsageError as exc:
            log.warning("%s; the next boot will not say where this one ended", exc)

    def _write(self, last_seq: int | None) -> None:
        temporary = self.path.with_name(self.path.name + ".tmp")
        try:
            with open(temporary, "w") as out:
                json.dump({"kid": self.kid.hex(), "count": self.count, "last_seq": last_seq}, out)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, self.path)
        except OSError as exc:
            raise UsageError(f"cannot write the boot counter {self.path}: {exc.strerror}") from None


def _read(path: Path) -> dict | None:
    try:
        saved = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise UsageError(
            f"cannot read the boot counter {path} ({exc}); if the box has a new key, move it "
            "away; otherwise consumers would take the next boots for replays"
        ) from None
    if not isinstance(saved, dict) or not isinstance(saved.get("count"), int):
        raise UsageError(f"{path} is not a boot counter file; move it away with a new key")
    return saved
