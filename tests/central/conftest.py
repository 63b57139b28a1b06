"""Fixtures for the central service's tests (h-web and h-risk use them too).

`database_url`: a migrated-to-nothing, empty database, once per backend (sqlite,
postgresql); `engine`: that database opened and migrated (central.db.open_database);
`clock`: a settable central clock; `central_env`: a broker, a sensor's keys and agent
config, a central config and a database, for end-to-end runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from tests.support.database import postgres_database


class FakeClock:
    """The central clock for tests: starts at `now`, moves only when told."""

    def __init__(self, now: datetime = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'inventory.db'}"
        return
    with postgres_database() as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'inventory.db'}"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    with postgres_database() as url:
        yield url


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    from central.db import open_database

    engine = open_database(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def central_env(tmp_path: Path, database_url: str) -> Iterator[Any]:
    """A started mosquitto and a CentralEnv (tests/support/central_env.py) on
    `database_url` (so once on SQLite, once on PostgreSQL)."""
    from tests.support.broker import MosquittoBroker
    from tests.support.central_env import CentralEnv

    broker = MosquittoBroker(tmp_path)
    broker.start()
    try:
        yield CentralEnv(tmp_path, broker.url, database_url)
    finally:
        broker.kill()
