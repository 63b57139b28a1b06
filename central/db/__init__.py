"""The central database: tables (SQLAlchemy Core), engines, packaged Alembic migrations.

engine = central.db.open_database("sqlite:////var/lib/iomt-central/inventory.db")
# migrated to the newest schema; use central.db.tables with engine.begin()
"""

from __future__ import annotations

from sqlalchemy import Engine

# Migration 0002_risk's tables join the same MetaData, so schema checks see every table.
import central.risk.tables  # noqa: F401
from central.db.engine import make_engine
from central.db.migrate import upgrade


def open_database(url: str) -> Engine:
    """An Engine on `url`, migrated to the newest schema (serve, ingest, export call this)."""
    engine = make_engine(url)
    upgrade(engine)
    return engine


__all__ = ["make_engine", "open_database", "upgrade"]
