"""A sensor that falls silent is an alert (issue 13: "an alert when one falls silent"):
one `sensor_silent` event when it goes quiet or its last will says offline, one
`resolved` when it speaks again, none repeated, across a restart of the service too.
Delivered by the real risk service to a real HTTP receiver."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import update

from central.config import load_config
from central.db import open_database
from central.db.tables import sensors
from central.risk.service import RiskService
from tests.central.receivers import http_receiver_fixture  # noqa: F401 (the http_receiver fixture)
from tests.central.risk_data import NOW


def _service(tmp_path: Path, database: str, url: str, now: list) -> RiskService:
    config_path = tmp_path / "central.toml"
    config_path.write_text(
        f'[database]\nurl = "{database}"\n[trust]\ndir = "{tmp_path / "trust"}"\n'
        f'[alerts]\nwebhook_url = "{url}"\n[fleet]\nsilent_after_s = 300\n'
    )
    return RiskService(load_config(config_path), open_database(database), clock=lambda: now[0])


def _sensor_events(received: list) -> list[tuple[str, str, str]]:
    return [
        (r["body"]["event"], r["body"]["alert"]["device_id"], r["body"]["alert"]["state"])
        for r in received
        if r["body"]["alert"]["finding"] == "sensor_silent"
    ]


def test_a_silent_sensor_raises_one_alert_and_one_resolved_event(
    tmp_path: Path, http_receiver
) -> None:
    url, received = http_receiver
    (tmp_path / "trust").mkdir()
    database = f"sqlite:///{tmp_path / 'inventory.db'}"
    engine = open_database(database)
    with engine.begin() as connection:
        connection.execute(
            sensors.insert(),
            [
                {
                    "sensor_id": "ward-4b-01",
                    "site": "st-anne",
                    "wing": "4b",
                    "status": "online",
                    "last_message_at": NOW - timedelta(seconds=60),
                },
                {
                    "sensor_id": "ward-3a-01",
                    "site": "st-anne",
                    "wing": "3a",
                    "status": "offline",
                    "last_message_at": NOW - timedelta(seconds=5),
                },
            ],
        )
    now = [NOW]
    service = _service(tmp_path, database, url, now)
    service.run_once()
    # The last will said offline: silent at once; the other spoke a minute ago.
    assert _sensor_events(received) == [("new", "sensor:ward-3a-01", "open")]

    now[0] = NOW + timedelta(minutes=10)
    service.run_once()
    service.run_once()
    assert _sensor_events(received)[1:] == [("new", "sensor:ward-4b-01", "open")]
    service.stop()

    # A restarted service remembers what it announced: nothing is repeated.
    service = _service(tmp_path, database, url, now)
    service.run_once()
    assert len(_sensor_events(received)) == 2

    with engine.begin() as connection:
        connection.execute(
            update(sensors)
            .where(sensors.c.sensor_id == "ward-4b-01")
            .values(last_message_at=now[0] - timedelta(seconds=1))
        )
    service.run_once()
    service.run_once()
    service.stop()
    engine.dispose()
    assert _sensor_events(received)[2:] == [("resolved", "sensor:ward-4b-01", "closed")]
