"""A database that goes away is retried, and nothing acknowledged is lost: a message is
acknowledged only after its commit, so an ingest killed while the database is down
leaves its messages at the broker for the next run."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import psycopg
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from central.db import open_database
from central.db.tables import flows
from central.inventory.queries import list_devices
from tests.support.broker import MosquittoBroker, wait_until
from tests.support.central_env import CentralEnv
from tests.support.database import POSTGRES_ADMIN_URL
from tests.support.hospital import WING_DEVICES, write_wing_capture


def _set_connections(database_url: str, allowed: bool) -> None:
    """Open or close the test database to new connections; closing also ends the open ones."""
    name = make_url(database_url).database
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS {str(allowed).lower()}')
        if not allowed:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (name,),
            )


def _stored_flows(database_url: str) -> int:
    engine = open_database(database_url)
    with engine.connect() as connection:
        count = connection.execute(select(func.count()).select_from(flows)).scalar_one()
    engine.dispose()
    return int(count)


def test_database_outage_is_retried_and_a_killed_ingest_loses_nothing(
    tmp_path: Path, postgres_url: str
) -> None:
    broker = MosquittoBroker(tmp_path)
    broker.start()
    try:
        env = CentralEnv(tmp_path, broker.url, postgres_url)
        capture = write_wing_capture(tmp_path / "wing.pcap", rounds=4)
        expected = env.expected_flows(capture)
        sensor = env.add_sensor(
            "luke-4b-01", extra_toml="[batch]\nwindow_s = 1\nmax_records = 30\n"
        )
        first = env.start_ingest("only", idle_exit_s=60)
        _set_connections(postgres_url, allowed=False)
        env.replay(capture, sensor)  # everything reaches the broker while the database is down
        time.sleep(2)  # the ingest holds the first message, retrying
        first.send_signal(signal.SIGKILL)  # dies with nothing acknowledged
        first.wait(timeout=30)
        _set_connections(postgres_url, allowed=True)
        assert _stored_flows(postgres_url) == 0
        # The same instance name resumes the same broker session: the broker redelivers.
        second = env.start_ingest("only", idle_exit_s=5)
        # ... and a second outage while it works is only waited out.
        assert wait_until(lambda: _stored_flows(postgres_url) > 0, timeout_s=60)
        _set_connections(postgres_url, allowed=False)
        time.sleep(2)
        _set_connections(postgres_url, allowed=True)
        summary = env.finish(second)
    finally:
        _set_connections(postgres_url, allowed=True)
        broker.kill()
    assert "database retries" in summary and " 0 database retries" not in summary, summary
    assert _stored_flows(postgres_url) == expected
    engine = open_database(postgres_url)
    with engine.connect() as connection:
        assert len(list_devices(connection)) == len(WING_DEVICES)
    engine.dispose()


def test_a_message_the_schema_refuses_is_counted_and_does_not_stall_the_stream(
    tmp_path: Path, postgres_url: str
) -> None:
    import paho.mqtt.publish as publish

    from central.db.tables import rejected_messages

    broker = MosquittoBroker(tmp_path)
    broker.start()
    try:
        env = CentralEnv(tmp_path, broker.url, postgres_url)
        sensor = env.add_sensor("luke-4b-01")
        ingest = env.start_ingest("only", idle_exit_s=4)
        long_name = "x" * 200  # longer than any sensor id column: PostgreSQL refuses it
        publish.single(
            f"iomt/st-luke/4b/{long_name}/flows", b"\xd2forged", qos=1,
            hostname="127.0.0.1", port=broker.port,
        )  # fmt: skip
        env.replay(write_wing_capture(tmp_path / "wing.pcap"), sensor)
        summary = env.finish(ingest)
    finally:
        broker.kill()
    assert "1 rejected" in summary, summary
    engine = open_database(postgres_url)
    with engine.connect() as connection:
        rows = connection.execute(select(rejected_messages)).mappings().all()
        assert len(list_devices(connection)) == len(WING_DEVICES)
    engine.dispose()
    assert [(row["count"], len(row["claimed_sensor"])) for row in rows] == [(1, 64)]
