"""The packaged migrations build exactly the schema central.db.tables describes."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect, select

from central.db import open_database
from central.db.tables import devices, metadata
from central.inventory.queries import list_devices


def test_migrations_build_exactly_the_tables_module(engine: Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection)
        differences = compare_metadata(context, metadata)
    assert differences == []
    assert "alembic_version" in inspect(engine).get_table_names()


def test_upgrade_twice_changes_nothing(database_url: str) -> None:
    first = open_database(database_url)
    first.dispose()
    again = open_database(database_url)
    with again.connect() as connection:
        versions = connection.exec_driver_sql("SELECT version_num FROM alembic_version").all()
    again.dispose()
    assert [row[0] for row in versions] == ["0005_sensor_boots"]


def test_times_come_back_as_aware_utc(engine: Engine) -> None:
    seen = datetime(2025, 3, 1, 8, 30, 15, 250000, tzinfo=UTC)
    with engine.begin() as connection:
        connection.execute(
            devices.insert().values(
                id="d1",
                site="st-mary",
                identity_kind="mac",
                identity="00:1a:5c:00:00:01",
                mac="00:1a:5c:00:00:01",
                wings=["4b"],
                sensors=["wing4b-01"],
                vlans=[],
                protocols=[],
                first_seen=seen,
                last_seen=seen,
                created_at=seen,
                updated_at=seen,
                evidence=[],
            )
        )
    with engine.connect() as connection:
        stored = connection.execute(select(devices.c.first_seen)).scalar_one()
        listed = list_devices(connection)
    assert stored == seen and stored.tzinfo is not None
    assert listed[0]["first_seen"] == "2025-03-01T08:30:15.250000Z"
    assert listed[0]["category"] == "unknown" and listed[0]["risk"] == 0
