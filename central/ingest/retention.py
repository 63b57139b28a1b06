"""[retention]: raw flows and dedupe keys older than their window are deleted.

Counted on the central clock (received_at), not packet time: replaying last month's
capture must not be purged the moment it lands. Aggregated communications, devices and
history are kept (they are the inventory).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, delete

from central.db.tables import flows, ingested_messages


def purge_expired(engine: Engine, config: Any, now: datetime) -> dict[str, int]:
    """Delete what [retention] no longer keeps; returns rows deleted per table."""
    retention = config.retention
    flows_before = now - timedelta(days=float(retention.flows_days))
    keys_before = now - timedelta(days=float(retention.dedupe_days))
    with engine.begin() as connection:
        flow_rows = connection.execute(delete(flows).where(flows.c.received_at < flows_before))
        key_rows = connection.execute(
            delete(ingested_messages).where(ingested_messages.c.received_at < keys_before)
        )
    return {"flows": flow_rows.rowcount, "ingested_messages": key_rows.rowcount}
