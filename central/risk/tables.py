"""The tables of migration 0002_risk, on the inventory's MetaData (central.db.tables).

findings        one row per (device, finding id, peer): counts, first/last seen (packet
                times), severity, detail, zones, an example flow's community_id, evidence
device_risk     each device's current score, band and explanation (the API reads it)
alerts          one per (finding id, device, peer) while open or acknowledged; a closed
                alert whose finding comes back opens a new one
risk_snapshots  roll-ups per site and wing at a time (central clock): the trend
baseline        the learned baseline (communications over a window, both ends' zone and
                category), from which MUD files and learned policy rules are made
risk_state      small named marks (how far evaluation has read the flows table)
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from central.db.tables import metadata
from central.db.types import UtcDateTime

_ID = BigInteger().with_variant(Integer, "sqlite")

findings = Table(
    "findings",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("device_id", String(32), ForeignKey("devices.id", ondelete="CASCADE"), nullable=False),
    Column("finding", String(32), nullable=False),
    Column("peer", String(64), nullable=False),  # "" when the finding has no peer
    Column("severity", String(8), nullable=False),
    Column("first_seen", UtcDateTime, nullable=False),
    Column("last_seen", UtcDateTime, nullable=False),
    Column("count", BigInteger, nullable=False),
    Column("detail", Text, nullable=False),
    Column("community_id", String(64)),
    Column("zones", JSON, nullable=False),
    Column("evidence", JSON, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    UniqueConstraint("device_id", "finding", "peer", name="uq_findings_key"),
)

device_risk = Table(
    "device_risk",
    metadata,
    Column("device_id", String(32), ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True),
    Column("risk", Integer, nullable=False),
    Column("band", String(8), nullable=False),
    Column("explanation", JSON, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

alerts = Table(
    "alerts",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("finding", String(32), nullable=False),
    Column("device_id", String(32), ForeignKey("devices.id", ondelete="CASCADE"), nullable=False),
    Column("peer", String(64), nullable=False),
    Column("site", String(64), nullable=False),
    Column("wing", String(64), nullable=False),
    Column("severity", String(8), nullable=False),
    Column("zones", JSON, nullable=False),
    Column("detail", Text, nullable=False),
    Column("first_seen", UtcDateTime, nullable=False),
    Column("last_seen", UtcDateTime, nullable=False),
    Column("count", BigInteger, nullable=False),
    Column("community_id", String(64)),
    Column("state", String(16), nullable=False),  # open, acknowledged, closed
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("delivered_at", UtcDateTime),  # the last delivery (new or update)
    Column("delivered_count", BigInteger, nullable=False),  # count at that delivery
    Column("deliveries", Integer, nullable=False),
    Column("acknowledged_by", String(128)),
    Column("acknowledged_at", UtcDateTime),
    Column("closed_by", String(128)),
    Column("closed_at", UtcDateTime),
    Column("note", Text),
)
Index("ix_alerts_key", alerts.c.finding, alerts.c.device_id, alerts.c.peer, alerts.c.state)
Index("ix_alerts_updated_at", alerts.c.updated_at)

risk_snapshots = Table(
    "risk_snapshots",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("at", UtcDateTime, nullable=False),
    Column("site", String(64), nullable=False),
    Column("wing", String(64), nullable=False),  # "" for the whole site
    Column("devices", Integer, nullable=False),
    Column("mean_risk", Float, nullable=False),
    Column("max_risk", Integer, nullable=False),
    Column("by_band", JSON, nullable=False),
    Column("findings_by_severity", JSON, nullable=False),
)
Index("ix_risk_snapshots_scope", risk_snapshots.c.site, risk_snapshots.c.wing, risk_snapshots.c.at)

baseline = Table(
    "baseline",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("learned_at", UtcDateTime, nullable=False),
    Column("window_start", UtcDateTime),
    Column("window_end", UtcDateTime),
    Column("site", String(64), nullable=False),
    Column("orig", String(45), nullable=False),
    Column("orig_device", String(32)),
    Column("orig_category", String(32), nullable=False),
    Column("orig_zone", String(32), nullable=False),
    Column("resp", String(45), nullable=False),
    Column("resp_device", String(32)),
    Column("resp_category", String(32), nullable=False),
    Column("resp_zone", String(32), nullable=False),
    Column("proto", String(8), nullable=False),
    Column("port", Integer, nullable=False),
    Column("service", String(32), nullable=False),  # "" when unlabelled
    Column("server_name", String(256)),
    Column("flows", BigInteger, nullable=False),
    Column("first_seen", UtcDateTime, nullable=False),
    Column("last_seen", UtcDateTime, nullable=False),
)
Index("ix_baseline_site", baseline.c.site)

risk_state = Table(
    "risk_state",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("at", UtcDateTime),
)
