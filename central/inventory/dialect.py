"""The few statements whose spelling differs between SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Table, func
from sqlalchemy.dialects import postgresql, sqlite


def upsert(connection: Connection, table: Table) -> Any:
    """INSERT ... ON CONFLICT for this connection's dialect (both spell it the same way)."""
    if connection.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def least(connection: Connection, a: Any, b: Any) -> Any:
    return func.least(a, b) if connection.dialect.name == "postgresql" else func.min(a, b)


def greatest(connection: Connection, a: Any, b: Any) -> Any:
    return func.greatest(a, b) if connection.dialect.name == "postgresql" else func.max(a, b)
