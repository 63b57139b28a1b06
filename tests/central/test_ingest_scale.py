"""Several `iomt-central ingest` instances on one MQTT 5 shared subscription and one
PostgreSQL database take a multi-sensor stream: nothing lost, nothing doubled."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import pytest
from sqlalchemy import func, select

from central.db.tables import communications, flows, ingested_messages
from central.inventory.queries import list_devices
from tests.support.broker import MosquittoBroker
from tests.support.central_env import CentralEnv, SensorSetup
from tests.support.hospital import WING_DEVICES, write_wing_capture

WINGS = ("4b", "4c", "5a", "5b")
# Small batches, so each sensor sends dozens of messages the instances must share.
BATCHES = "[batch]\nwindow_s = 1\nmax_records = 40\n"


@pytest.mark.slow
@pytest.mark.parametrize("instances", [2, 4])
def test_instances_sharing_a_subscription_lose_and_double_nothing(
    tmp_path: Path, postgres_url: str, instances: int
) -> None:
    broker = MosquittoBroker(tmp_path)
    broker.start()
    try:
        env = CentralEnv(tmp_path, broker.url, postgres_url)
        capture = write_wing_capture(tmp_path / "wing.pcap", rounds=8)
        per_sensor = env.expected_flows(capture)
        sensors = [
            env.add_sensor(f"luke-{wing}-01", wing=wing, extra_toml=BATCHES) for wing in WINGS
        ]
        # The idle clock runs from subscription: four agents starting at once on a loaded
        # 2-core machine took over 20 s to send their first message (an instance then
        # left with nothing, seen three times on 2026-12-06).
        ingests = [env.start_ingest(f"i{n}", idle_exit_s=45) for n in range(instances)]
        failures: list[BaseException] = []

        def replay(sensor: SensorSetup) -> None:
            try:
                env.replay(capture, sensor)
            except BaseException as exc:  # reported below, in the test's thread
                failures.append(exc)

        replays = [threading.Thread(target=replay, args=(s,)) for s in sensors]
        for thread in replays:
            thread.start()
        for thread in replays:
            thread.join()
        summaries = [env.finish(process) for process in ingests]
        assert failures == []
    finally:
        broker.kill()
    stored = [int(re.search(r"(\d+) stored", line).group(1)) for line in summaries]  # type: ignore[union-attr]
    assert all(count > 0 for count in stored), summaries  # the work was shared
    engine = env.engine()
    with engine.connect() as connection:
        total_flows = connection.execute(select(func.count()).select_from(flows)).scalar_one()
        aggregated = connection.execute(select(func.sum(communications.c.flows))).scalar_one()
        keys = connection.execute(
            select(ingested_messages.c.sensor_id, ingested_messages.c.seq)
        ).all()
        devices = list_devices(connection)
    engine.dispose()
    assert total_flows == len(WINGS) * per_sensor  # none lost, none doubled
    assert aggregated == total_flows
    for sensor in sensors:
        seqs = sorted(seq for sensor_id, seq in keys if sensor_id == sensor.sensor_id)
        assert seqs == list(range(len(seqs))) and len(seqs) > 10  # every message, once
    # One device per MAC per site across the four wings' sensors.
    identities = {d["mac"] or d["ipv4"][0] for d in devices}
    expected = {w.host.ip if w.behind_router else w.host.mac for w in WING_DEVICES}
    assert identities == expected
    pump = next(d for d in devices if d["mac"] == "f8:c6:78:00:00:11")
    assert pump["wings"] == sorted(WINGS) and len(pump["sensors"]) == len(WINGS)
