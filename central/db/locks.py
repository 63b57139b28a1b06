"""PostgreSQL advisory locks that keep iomt-central's processes out of each other's way.
Each is held until its transaction ends; on SQLite (one writer at a time, transactions
begun IMMEDIATE) every call is a no-op that grants.

    MIGRATION_LOCK             one process migrates, the others wait (central.db.migrate)
    take_evaluation_lease(c)   one risk evaluation at a time across processes
    hold_off_evaluation(c)     before an ingest deletes device rows: not during one

Why the last: an evaluation writes findings, scores and alerts that reference device
rows; an ingest that deleted one of them meanwhile (an address device absorbed by its
MAC's device) would make the evaluation fail, or deadlock with it. Deletions are rare,
so they wait for a running evaluation (shared lock) and an evaluation skips its turn
while one is in flight (exclusive try-lock), never the other way round.
"""

from __future__ import annotations

from sqlalchemy import Connection

MIGRATION_LOCK = 7243001
EVALUATION_LOCK = 7243002


def take_evaluation_lease(connection: Connection, wait: bool = False) -> bool:
    """Whether this transaction may evaluate; without `wait`, False at once when another
    evaluation or a deleting ingest holds the lock."""
    if connection.dialect.name != "postgresql":
        return True
    if wait:
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({EVALUATION_LOCK})")
        return True
    taken = connection.exec_driver_sql(f"SELECT pg_try_advisory_xact_lock({EVALUATION_LOCK})")
    return bool(taken.scalar())


def hold_off_evaluation(connection: Connection) -> None:
    """Wait for a running evaluation to end, and keep new ones off until this
    transaction ends (several ingests may hold this together)."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock_shared({EVALUATION_LOCK})")
