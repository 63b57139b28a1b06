"""communications: the last server name seen for a pair (the baseline and MUD name it)

Revision ID: 0004_communication_server_name
Revises: 0003_flow_server_name
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_communication_server_name"
down_revision = "0003_flow_server_name"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("communications", schema=None) as batch_op:
        batch_op.add_column(sa.Column("server_name", sa.String(length=256), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("communications", schema=None) as batch_op:
        batch_op.drop_column("server_name")
