"""sensor_boots: the boots ingest accepted, so replay protection survives restarts

Revision ID: 0005_sensor_boots
Revises: 0004_communication_server_name
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from central.db.types import UtcDateTime

revision = "0005_sensor_boots"
down_revision = "0004_communication_server_name"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sensor_boots",
        sa.Column("sensor_id", sa.String(length=64), nullable=False),
        sa.Column("boot", sa.String(length=32), nullable=False),
        sa.Column("kid", sa.String(length=64), nullable=True),
        sa.Column("boot_count", sa.BigInteger(), nullable=True),
        sa.Column("first_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("sensor_id", "boot", name=op.f("pk_sensor_boots")),
        sa.UniqueConstraint("sensor_id", "kid", "boot_count", name="uq_sensor_boots_count"),
    )


def downgrade() -> None:
    op.drop_table("sensor_boots")
