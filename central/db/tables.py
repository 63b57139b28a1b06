"""Every table of the central inventory (SQLAlchemy Core), revision 0001_inventory.

Times: `*_seen` columns are the sensors' packet times; `*_at` columns are the central
clock (when ingest stored something). Both are aware UTC datetimes (UtcDateTime).

Sets that a device only grows (wings, sensors, VLANs, protocols) are JSON lists on the
device row; facts with their own first/last seen (addresses, fingerprints, services) and
what changes over time (history) have tables of their own. Communications are keyed by
addresses, not device ids, so a device that gains or loses an address needs no rewrite:
the query layer joins them through device_addresses.

Migration 0002_risk (h-risk) adds its tables to this same `metadata`
(central/risk/tables.py); tables here never import from there.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from central.db.types import UtcDateTime

# Constraint names fixed so Alembic and both dialects agree.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# ---------------------------------------------------------------- sensors (the fleet)
sensors = Table(
    "sensors",
    metadata,
    Column("sensor_id", String(64), primary_key=True),
    Column("site", String(64), nullable=False),
    Column("wing", String(64), nullable=False),
    Column("agent_version", String(64)),
    Column("boot", String(32)),  # hex boot id of the last message
    Column("status", String(16)),  # online / offline (status topic), None before any
    Column("first_message_at", UtcDateTime),
    Column("last_message_at", UtcDateTime),  # central clock
    Column("last_window_end", UtcDateTime),  # packet time of the last data message
    Column("messages", BigInteger, nullable=False, default=0),
    Column("flows", BigInteger, nullable=False, default=0),
    Column("device_updates", BigInteger, nullable=False, default=0),
    Column("drops", BigInteger, nullable=False, default=0),  # sum of the losses counters
    Column("spool_backlog_bytes", BigInteger),  # last health figure
    Column("clock_skew_s", Float),  # sensor wall clock - central clock, from status
    Column("rejected", BigInteger, nullable=False, default=0),  # claimed by topic
    Column("health", JSON),  # the last health figures as sent
)

# ---------------------------------------------------------------- devices
devices = Table(
    "devices",
    metadata,
    # Stable id: derived from (site, identity) so every ingest instance computes the same.
    Column("id", String(32), primary_key=True),
    Column("site", String(64), nullable=False),
    Column("identity_kind", String(8), nullable=False),  # "mac" or "address"
    Column("identity", String(64), nullable=False),  # the MAC, or the address behind a router
    Column("mac", String(17)),
    Column("oui_vendor", String(128)),  # as the sensor looked it up
    Column("wings", JSON, nullable=False),
    Column("sensors", JSON, nullable=False),
    Column("vlans", JSON, nullable=False),
    Column("protocols", JSON, nullable=False),
    Column("peers_estimate", Integer, nullable=False, default=0),
    Column("hl7_messages", BigInteger, nullable=False, default=0),
    Column("first_seen", UtcDateTime, nullable=False),
    Column("last_seen", UtcDateTime, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    # Classification by the rules (a person's override lives in label_overrides).
    Column("category", String(32), nullable=False, default="unknown"),
    Column("vendor", String(128)),
    Column("model", String(128)),
    Column("modality", String(16)),
    Column("confidence", Float, nullable=False, default=0.0),
    Column("evidence", JSON, nullable=False),  # [{"rule", "kind", "value", "confidence"}]
    Column("handles_phi", Boolean, nullable=False, default=False),
    Column("phi_reason", Text),
    Column("criticality", String(32), nullable=False, default="administrative"),
    UniqueConstraint("site", "identity_kind", "identity", name="uq_devices_site_identity"),
)
Index("ix_devices_site_category", devices.c.site, devices.c.category)
Index("ix_devices_first_seen", devices.c.first_seen)

device_addresses = Table(
    "device_addresses",
    metadata,
    Column("device_id", String(32), ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True),
    Column("address", String(45), primary_key=True),
    Column("site", String(64), nullable=False),
    Column("family", Integer, nullable=False),  # 4 or 6
    Column("first_seen", UtcDateTime, nullable=False),
    Column("last_seen", UtcDateTime, nullable=False),
)
Index("ix_device_addresses_site_address", device_addresses.c.site, device_addresses.c.address)

fingerprints = Table(
    "fingerprints",
    metadata,
    Column("device_id", String(32), ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True),
    Column("kind", String(64), primary_key=True),
    Column("value", String(256), primary_key=True),
    Column("first_seen", UtcDateTime, nullable=False),
    Column("last_seen", UtcDateTime, nullable=False),
)

device_services = Table(
    "device_services",
    metadata,
    Column("device_id", String(32), ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True),
    Column("service", String(16), primary_key=True),  # "tcp/104": a port it answered on
    Column("first_seen", UtcDateTime, nullable=False),
    Column("last_seen", UtcDateTime, nullable=False),
)

device_history = Table(
    "device_history",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("device_id", String(32), ForeignKey("devices.id", ondelete="CASCADE"), nullable=False),
    Column("at", UtcDateTime, nullable=False),  # central clock
    Column("seen", UtcDateTime),  # packet time of the observation, when there is one
    # new_device, new_address, fingerprint_changed, classification_changed, label_override
    Column("change", String(32), nullable=False),
    Column("detail", JSON, nullable=False),
    Column("actor", String(128)),  # a person, for label overrides; None for ingest
)
Index("ix_device_history_device", device_history.c.device_id, device_history.c.at)
Index("ix_device_history_at", device_history.c.at)

label_overrides = Table(
    "label_overrides",
    metadata,
    Column("device_id", String(32), ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True),
    Column("category", String(32)),
    Column("vendor", String(128)),
    Column("model", String(128)),
    Column("modality", String(16)),
    Column("criticality", String(32)),
    Column("handles_phi", Boolean),
    Column("note", Text),
    Column("actor", String(128), nullable=False),
    Column("at", UtcDateTime, nullable=False),
)

# ---------------------------------------------------------------- traffic
communications = Table(
    "communications",
    metadata,
    Column("site", String(64), primary_key=True),
    Column("orig", String(45), primary_key=True),  # originator address
    Column("resp", String(45), primary_key=True),  # responder address
    Column("proto", String(8), primary_key=True),
    Column("port", Integer, primary_key=True),  # responder port (ICMP: type)
    Column("service", String(32), primary_key=True),  # "" when unlabelled
    Column("flows", BigInteger, nullable=False),
    Column("orig_bytes", BigInteger, nullable=False),  # IP bytes each way
    Column("resp_bytes", BigInteger, nullable=False),
    Column("first_seen", UtcDateTime, nullable=False),
    Column("last_seen", UtcDateTime, nullable=False),
    # The last server name a flow of the pair carried (migration 0004): what the learned
    # baseline and its MUD file name the destination by.
    Column("server_name", String(256)),
)
Index("ix_communications_resp", communications.c.site, communications.c.resp)

flows = Table(
    "flows",
    metadata,
    Column("sensor_id", String(64), primary_key=True),
    Column("boot", String(32), primary_key=True),
    Column("seq", BigInteger, primary_key=True),
    Column("idx", Integer, primary_key=True),  # position in its message
    Column("site", String(64), nullable=False),
    Column("wing", String(64), nullable=False),
    Column("uid", String(24), nullable=False),
    Column("ts", UtcDateTime, nullable=False),
    Column("duration_s", Float, nullable=False),
    Column("orig_h", String(45), nullable=False),
    Column("orig_p", Integer, nullable=False),
    Column("resp_h", String(45), nullable=False),
    Column("resp_p", Integer, nullable=False),
    Column("proto", String(8), nullable=False),
    Column("service", String(32)),
    Column("vlan", Integer),
    Column("orig_bytes", BigInteger, nullable=False),  # IP bytes
    Column("resp_bytes", BigInteger, nullable=False),
    Column("orig_pkts", BigInteger, nullable=False),
    Column("resp_pkts", BigInteger, nullable=False),
    Column("conn_state", String(8)),
    Column("community_id", String(64)),
    Column("received_at", UtcDateTime, nullable=False),  # central clock: retention counts from it
    # The responder's name as the sensor saw it (TLS SNI, HTTP Host, DNS answer), as sent:
    # clear, or the sensor's keyed hash under [privacy] tls_sni = "hash". Migration 0003.
    Column("server_name", String(256)),
)
Index("ix_flows_received_at", flows.c.received_at)

# ---------------------------------------------------------------- ingest bookkeeping
ingested_messages = Table(
    "ingested_messages",
    metadata,
    # The dedupe key: a redelivered message hits this primary key and changes nothing.
    Column("sensor_id", String(64), primary_key=True),
    Column("boot", String(32), primary_key=True),
    Column("seq", BigInteger, primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("received_at", UtcDateTime, nullable=False),
)
Index("ix_ingested_messages_received_at", ingested_messages.c.received_at)

# Every boot of every sensor ingest has accepted (migration 0005): replays of an old boot
# are refused across restarts and across instances (central/ingest/boots.py). One row
# per sensor start: kept (no retention), it is what the replay check compares against.
sensor_boots = Table(
    "sensor_boots",
    metadata,
    Column("sensor_id", String(64), primary_key=True),
    Column("boot", String(32), primary_key=True),  # the boot id, hex
    Column("kid", String(64)),  # the signing key's id, hex
    Column("boot_count", BigInteger),  # the sensor's boot counter for that key (schema 2+)
    Column("first_at", UtcDateTime, nullable=False),  # central clock
    UniqueConstraint("sensor_id", "kid", "boot_count", name="uq_sensor_boots_count"),
)

rejected_messages = Table(
    "rejected_messages",
    metadata,
    # Counts and reasons only: a rejected payload is never stored.
    Column("topic", String(256), primary_key=True),
    Column("reason", String(64), primary_key=True),
    Column("claimed_sensor", String(64)),  # from the topic: unverified by definition
    Column("count", BigInteger, nullable=False),
    Column("first_at", UtcDateTime, nullable=False),
    Column("last_at", UtcDateTime, nullable=False),
    Column("last_detail", Text),
)

# ---------------------------------------------------------------- people
audit_log = Table(
    "audit_log",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("at", UtcDateTime, nullable=False),
    Column("actor", String(128), nullable=False),
    Column("action", String(64), nullable=False),  # e.g. "label.set", "login"
    Column("target", String(128)),
    Column("detail", JSON, nullable=False),
)
Index("ix_audit_log_at", audit_log.c.at)
