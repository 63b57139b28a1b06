"""Alembic environment: the caller (central.db.migrate.upgrade) hands over a connection."""

from __future__ import annotations

from alembic import context

from central.db.tables import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",  # ALTER on SQLite: copy-and-move
)
with context.begin_transaction():
    context.run_migrations()
