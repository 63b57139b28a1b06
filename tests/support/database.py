"""Databases for central tests: a SQLite file, or a PostgreSQL database of the test's own.

PostgreSQL runs on this machine at 127.0.0.1:5432 (trust auth). Each test run creates a
database with a unique name and drops it afterwards; nothing else on the server is touched.

    with postgres_database() as url:      # "postgresql://postgres@127.0.0.1:5432/iomt_test_..."
        engine = central.db.open_database(url)
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator

import pytest

POSTGRES_ADMIN_URL = os.environ.get(
    "IOMT_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def postgres_available() -> str | None:
    """None when the test PostgreSQL answers, else why not."""
    try:
        import psycopg

        with psycopg.connect(POSTGRES_ADMIN_URL, connect_timeout=3):
            return None
    except Exception as exc:  # any failure means: skip with this reason
        return f"PostgreSQL at {POSTGRES_ADMIN_URL} is not reachable: {exc}"


@contextlib.contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh, empty database; dropped (connections closed first) on exit."""
    import psycopg

    reason = postgres_available()
    if reason is not None:
        pytest.skip(reason)
    name = f"iomt_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
