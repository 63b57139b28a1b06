"""[retention]: raw flows and dedupe keys go after their days on the central clock;
the inventory (devices, communications, history) stays."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select

from central.classify.ruleset import load_ruleset
from central.config import load_config
from central.db.tables import communications, devices, flows, ingested_messages
from central.ingest.apply import IngestContext, store_message
from central.ingest.retention import purge_expired
from tests.support.central_records import flow, flows_message


def _count(engine: Engine, table: Any) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(table)).scalar_one())


def test_raw_flows_and_dedupe_keys_expire_on_the_central_clock(
    engine: Engine, clock: Any, tmp_path: Path
) -> None:
    (tmp_path / "trust").mkdir()
    config_path = tmp_path / "central.toml"
    config_path.write_text('[trust]\ndir = "trust"\n[retention]\nflows_days = 2\ndedupe_days = 5\n')
    config = load_config(config_path)
    context = IngestContext(ruleset=load_ruleset(), clock=clock)
    store_message(
        engine, flows_message("s1", "b1", 0, [flow("10.4.5.61", "10.20.0.5", 443)]), context
    )
    clock.advance(days=1)
    store_message(
        engine, flows_message("s1", "b1", 1, [flow("10.4.5.61", "10.20.0.6", 445)]), context
    )
    clock.advance(days=1, hours=12)  # the first message is 2.5 days old, the second 1.5
    assert purge_expired(engine, config, clock())["flows"] == 1
    assert _count(engine, flows) == 1 and _count(engine, ingested_messages) == 2
    clock.advance(days=4)
    purge_expired(engine, config, clock())
    assert _count(engine, flows) == 0 and _count(engine, ingested_messages) == 0
    assert _count(engine, communications) == 2 and _count(engine, devices) == 3
