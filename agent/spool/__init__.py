"""The spool: signed batches on disk until the broker acknowledges them (see spool.py)."""

from agent.spool.record import Damage, SpoolRecord
from agent.spool.settings import SpoolSettings
from agent.spool.spool import DropCount, RecoveryReport, Spool, SpoolStats

__all__ = [
    "Damage",
    "DropCount",
    "RecoveryReport",
    "Spool",
    "SpoolRecord",
    "SpoolSettings",
    "SpoolStats",
]
