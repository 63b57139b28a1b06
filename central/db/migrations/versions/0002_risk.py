"""risk: findings, device scores, alerts, risk snapshots, the learned baseline

Revision ID: 0002_risk
Revises: 0001_inventory
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from central.db.types import UtcDateTime

revision = "0002_risk"
down_revision = "0001_inventory"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _device_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["device_id"],
        ["devices.id"],
        name=op.f(f"fk_{table}_device_id_devices"),
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "findings",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("device_id", sa.String(length=32), nullable=False),
        sa.Column("finding", sa.String(length=32), nullable=False),
        sa.Column("peer", sa.String(length=64), nullable=False),
        sa.Column("severity", sa.String(length=8), nullable=False),
        sa.Column("first_seen", UtcDateTime(), nullable=False),
        sa.Column("last_seen", UtcDateTime(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("community_id", sa.String(length=64), nullable=True),
        sa.Column("zones", sa.JSON(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        _device_fk("findings"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_findings")),
        sa.UniqueConstraint("device_id", "finding", "peer", name="uq_findings_key"),
    )
    op.create_table(
        "device_risk",
        sa.Column("device_id", sa.String(length=32), nullable=False),
        sa.Column("risk", sa.Integer(), nullable=False),
        sa.Column("band", sa.String(length=8), nullable=False),
        sa.Column("explanation", sa.JSON(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        _device_fk("device_risk"),
        sa.PrimaryKeyConstraint("device_id", name=op.f("pk_device_risk")),
    )
    op.create_table(
        "alerts",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("finding", sa.String(length=32), nullable=False),
        sa.Column("device_id", sa.String(length=32), nullable=False),
        sa.Column("peer", sa.String(length=64), nullable=False),
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("wing", sa.String(length=64), nullable=False),
        sa.Column("severity", sa.String(length=8), nullable=False),
        sa.Column("zones", sa.JSON(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("first_seen", UtcDateTime(), nullable=False),
        sa.Column("last_seen", UtcDateTime(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("community_id", sa.String(length=64), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.Column("delivered_at", UtcDateTime(), nullable=True),
        sa.Column("delivered_count", sa.BigInteger(), nullable=False),
        sa.Column("deliveries", sa.Integer(), nullable=False),
        sa.Column("acknowledged_by", sa.String(length=128), nullable=True),
        sa.Column("acknowledged_at", UtcDateTime(), nullable=True),
        sa.Column("closed_by", sa.String(length=128), nullable=True),
        sa.Column("closed_at", UtcDateTime(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        _device_fk("alerts"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
    )
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_alerts_key", ["finding", "device_id", "peer", "state"], unique=False
        )
        batch_op.create_index("ix_alerts_updated_at", ["updated_at"], unique=False)
    op.create_table(
        "risk_snapshots",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("wing", sa.String(length=64), nullable=False),
        sa.Column("devices", sa.Integer(), nullable=False),
        sa.Column("mean_risk", sa.Float(), nullable=False),
        sa.Column("max_risk", sa.Integer(), nullable=False),
        sa.Column("by_band", sa.JSON(), nullable=False),
        sa.Column("findings_by_severity", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_risk_snapshots")),
    )
    with op.batch_alter_table("risk_snapshots", schema=None) as batch_op:
        batch_op.create_index("ix_risk_snapshots_scope", ["site", "wing", "at"], unique=False)
    op.create_table(
        "baseline",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("learned_at", UtcDateTime(), nullable=False),
        sa.Column("window_start", UtcDateTime(), nullable=True),
        sa.Column("window_end", UtcDateTime(), nullable=True),
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("orig", sa.String(length=45), nullable=False),
        sa.Column("orig_device", sa.String(length=32), nullable=True),
        sa.Column("orig_category", sa.String(length=32), nullable=False),
        sa.Column("orig_zone", sa.String(length=32), nullable=False),
        sa.Column("resp", sa.String(length=45), nullable=False),
        sa.Column("resp_device", sa.String(length=32), nullable=True),
        sa.Column("resp_category", sa.String(length=32), nullable=False),
        sa.Column("resp_zone", sa.String(length=32), nullable=False),
        sa.Column("proto", sa.String(length=8), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("service", sa.String(length=32), nullable=False),
        sa.Column("server_name", sa.String(length=256), nullable=True),
        sa.Column("flows", sa.BigInteger(), nullable=False),
        sa.Column("first_seen", UtcDateTime(), nullable=False),
        sa.Column("last_seen", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_baseline")),
    )
    with op.batch_alter_table("baseline", schema=None) as batch_op:
        batch_op.create_index("ix_baseline_site", ["site"], unique=False)
    op.create_table(
        "risk_state",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("at", UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_risk_state")),
    )


def downgrade() -> None:
    op.drop_table("risk_state")
    with op.batch_alter_table("baseline", schema=None) as batch_op:
        batch_op.drop_index("ix_baseline_site")
    op.drop_table("baseline")
    with op.batch_alter_table("risk_snapshots", schema=None) as batch_op:
        batch_op.drop_index("ix_risk_snapshots_scope")
    op.drop_table("risk_snapshots")
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index("ix_alerts_updated_at")
        batch_op.drop_index("ix_alerts_key")
    op.drop_table("alerts")
    op.drop_table("device_risk")
    op.drop_table("findings")
