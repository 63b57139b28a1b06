"""The consumer's sequence state on disk, so duplicates and gaps are judged across a
restart: `consume --state FILE`.

The file is JSON, replaced whole (written beside it, flushed to disk, renamed over it),
so a crash leaves the old state or the new one, never a torn one. What arrived after
the last save may be printed again after a crash: at least once, never lost.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from agent.consumer.tracker import SequenceTracker
from agent.errors import UsageError

STATE_VERSION = 2  # 2: per sensor, with boot counters and held gaps; 1 is still read
READABLE_STATE_VERSIONS = (1, 2)


def load_tracker(path: Path, report_gaps: bool) -> SequenceTracker:
    """The tracker saved in `path`, or a fresh one when the file does not exist yet.
    Raises UsageError when the file cannot be read or is not a state file."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return SequenceTracker(report_gaps)
    except OSError as exc:
        raise UsageError(f"cannot read the state file {path}: {exc.strerror}") from None
    try:
        saved = json.loads(text)
        if saved.get("version") not in READABLE_STATE_VERSIONS:
            raise ValueError(f"version {saved.get('version')!r}")
        return SequenceTracker.from_state(saved["tracker"], report_gaps)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise UsageError(
            f"{path} is not a consumer state file ({exc}); move it away to start afresh"
        ) from None


def save_tracker(path: Path, tracker: SequenceTracker) -> None:
    """Replace `path` with the tracker's state. Raises OSError when it cannot."""
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "w") as out:
        json.dump({"version": STATE_VERSION, "tracker": tracker.state()}, out)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, path)
