"""flows: the server name the sensor saw for the responder (TLS SNI, HTTP Host, DNS)

Revision ID: 0003_flow_server_name
Revises: 0002_risk
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_flow_server_name"
down_revision = "0002_risk"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("flows", schema=None) as batch_op:
        batch_op.add_column(sa.Column("server_name", sa.String(length=256), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("flows", schema=None) as batch_op:
        batch_op.drop_column("server_name")
