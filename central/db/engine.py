"""Engines for the two supported databases: SQLite (one file) and PostgreSQL (psycopg 3)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url


def driver_url(url: str) -> str:
    """The SQLAlchemy URL for a configured one: postgresql:// means psycopg 3."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def make_engine(url: str) -> Engine:
    """An Engine for `url` (sqlite:///PATH or postgresql://user@host/db).

    SQLite: write-ahead log, foreign keys on, a 30 s busy timeout, and every transaction
    begun IMMEDIATE, so two processes that read-then-write never deadlock on the upgrade
    from a read lock to a write lock (one waits instead). PostgreSQL: connections are
    checked before use, so a restarted server costs one retry, not an error.
    """
    full = driver_url(url)
    if make_url(full).get_backend_name() == "sqlite":
        engine = create_engine(full, connect_args={"timeout": 30, "check_same_thread": False})
        _sqlite_settings(engine)
        return engine
    return create_engine(full, pool_pre_ping=True, pool_size=4, max_overflow=4)


def _sqlite_settings(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide where transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")
