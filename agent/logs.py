"""Logging set-up: one line per event, for journald or a terminal.

Under systemd (JOURNAL_STREAM is set) journald adds the time and the unit, so a line is
`<level> component: message` with the syslog priority prefix journald understands;
on a terminal the time is added. Messages are written by the modules: no secrets and no
packet contents are ever passed to a logger.
"""

from __future__ import annotations

import logging
import os
import sys

_SYSLOG_PRIORITY = {
    logging.DEBUG: 7,
    logging.INFO: 6,
    logging.WARNING: 4,
    logging.ERROR: 3,
    logging.CRITICAL: 2,
}


class _JournalFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        priority = _SYSLOG_PRIORITY.get(record.levelno, 6)
        text = super().format(record).replace("\n", " | ")
        return f"<{priority}>{text}"


def setup_logging(level: str = "info") -> None:
    """Route the agent's log records to stderr, one line each, at `level` and above."""
    handler = logging.StreamHandler(sys.stderr)
    if os.environ.get("JOURNAL_STREAM"):
        handler.setFormatter(_JournalFormatter("%(levelname)s %(name)s: %(message)s"))
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S")
        )
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # paho logs connection chatter at INFO through its own logger; ours says what matters.
    logging.getLogger("paho").setLevel(logging.WARNING)
