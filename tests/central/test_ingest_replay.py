"""Replay protection survives an ingest restart and is shared by every instance: the boots
ingest accepted are in the database (sensor_boots), not only in one process's tracker.

End to end: the real iomt-agent replays a wing (boot 0) while a recorder keeps its signed
messages as an attacker on the network would; the sensor then boots BOOTS_KEPT more
times. The dedupe keys expire (retention), ingest restarts with an empty memory, and the
recorded boot-0 messages are published again: every one is rejected as `replayed`, and
nothing of them is stored again (a fresh consumer alone would have taken them)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import Engine, func, select

from agent.consumer import Consumer
from agent.consumer.mqtt import parse_url
from agent.consumer.tracker import BOOTS_KEPT
from agent.keys import TrustStore
from central.config import load_config
from central.db.tables import flows, ingested_messages, rejected_messages, sensor_boots
from central.ingest.boots import SeenBoot, judge_boot
from central.ingest.retention import purge_expired
from tests.support.broker import wait_until
from tests.support.hospital import write_wing_capture

NOW = datetime(2026, 12, 6, 6, 0, tzinfo=UTC)


class Recorder:
    """Every message on iomt/# as it crossed the broker (payload bytes and topic)."""

    def __init__(self, url: str) -> None:
        address = parse_url(url)
        self.messages: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()
        self.client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2)
        subscribed = threading.Event()
        self.client.on_connect = lambda c, *_: c.subscribe("iomt/#", qos=1)
        self.client.on_subscribe = lambda *_: subscribed.set()
        self.client.on_message = self._keep
        self.client.connect(address.host, address.port)
        self.client.loop_start()
        assert subscribed.wait(10)

    def _keep(self, _c: Any, _u: Any, message: mqtt.MQTTMessage) -> None:
        if not message.retain:  # a retained status from before: not this boot's traffic
            with self._lock:
                self.messages.append((message.topic, bytes(message.payload)))

    def stop(self) -> list[tuple[str, bytes]]:
        self.client.disconnect()
        self.client.loop_stop()
        with self._lock:
            return list(self.messages)


def _publish(url: str, messages: list[tuple[str, bytes]]) -> None:
    address = parse_url(url)
    client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2)
    client.connect(address.host, address.port)
    client.loop_start()
    for topic, payload in messages:
        client.publish(topic, payload, qos=1).wait_for_publish(10)
    client.disconnect()
    client.loop_stop()


def _count(engine: Engine, query: Any) -> int:
    with engine.connect() as connection:
        return int(connection.execute(query).scalar() or 0)


@pytest.mark.slow
def test_an_old_boot_replayed_after_an_ingest_restart_is_rejected(
    central_env: Any, tmp_path: Path
) -> None:
    env = central_env
    sensor = env.add_sensor("luke-4b-01")
    capture = write_wing_capture(tmp_path / "wing.pcap")
    ingest = env.start_ingest("a", idle_exit_s=20)
    recorder = Recorder(env.broker_url)
    env.replay(capture, sensor)  # boot 0, recorded on its way through the broker
    assert wait_until(lambda: len(recorder.messages) >= 3, 10)
    recorded = recorder.stop()
    for _boot in range(BOOTS_KEPT):
        env.replay(capture, sensor)
    env.finish(ingest, timeout_s=300)

    consumer = Consumer(TrustStore.from_dir(env.trust))
    first_records = [consumer.handle(payload, topic) for topic, payload in recorded]
    old_boot = next(r["boot"] for records in first_records for r in records if "boot" in r)
    engine = env.engine()
    boot0_flows = select(func.count()).select_from(flows).where(flows.c.boot == old_boot)
    stored_before = _count(engine, boot0_flows)
    assert stored_before > 0
    assert _count(engine, select(func.count()).select_from(sensor_boots)) == BOOTS_KEPT + 1

    # A month later: the dedupe keys (and raw flows) of boot 0 are gone by retention.
    purge_expired(engine, load_config(env.config), datetime.now(UTC) + timedelta(days=31))
    boot0_keys = (
        select(func.count())
        .select_from(ingested_messages)
        .where(ingested_messages.c.boot == old_boot)
    )
    assert _count(engine, boot0_keys) == 0 and _count(engine, boot0_flows) == 0
    # What protected against the replay before was one process's memory: a consumer that
    # starts afresh takes the recorded messages as a boot it has not seen.
    fresh = Consumer(TrustStore.from_dir(env.trust))
    assert all(
        r["type"] != "rejected" for topic, payload in recorded for r in fresh.handle(payload, topic)
    )

    restarted = env.start_ingest("a", idle_exit_s=5)
    _publish(env.broker_url, recorded)
    summary = env.finish(restarted)
    with engine.connect() as connection:
        reasons = dict(
            connection.execute(
                select(rejected_messages.c.reason, func.sum(rejected_messages.c.count)).group_by(
                    rejected_messages.c.reason
                )
            ).all()
        )
        detail = connection.execute(
            select(rejected_messages.c.last_detail).where(rejected_messages.c.reason == "replayed")
        ).scalar()
    # Every recorded message refused: the data messages as replayed (the database's
    # memory of boots), the status messages as replayed or, once the broker's retained
    # status of the newest boot has been seen, as stale by the tracker.
    data_messages = sum(1 for topic, _payload in recorded if not topic.endswith("/status"))
    assert f"{len(recorded)} rejected" in summary, summary
    assert set(reasons) <= {"replayed", "stale_status"}, reasons
    assert sum(reasons.values()) == len(recorded), reasons
    assert reasons["replayed"] >= data_messages > 0, (reasons, data_messages)
    assert "older than the 8 newest boots" in str(detail)
    assert _count(engine, boot0_keys) == 0 and _count(engine, boot0_flows) == 0
    engine.dispose()


def test_judge_boot_refuses_a_reused_counter_and_old_boots_and_keeps_the_rest(
    engine: Engine,
) -> None:
    def seen(boot: int, count: int | None, kid: str | None = "aa11") -> SeenBoot:
        return SeenBoot("luke-4b-01", f"{boot:032x}", kid, count)

    with engine.begin() as connection:
        for count in range(BOOTS_KEPT + 1):  # boots 0..8, ids 100..108
            assert judge_boot(connection, seen(100 + count, count), NOW) is None
        assert judge_boot(connection, seen(108, 8), NOW) is None  # known: still fine
        assert judge_boot(connection, seen(101, 1), NOW) is None  # 7 newer: may drain
        old = judge_boot(connection, seen(100, 0), NOW)  # 8 newer: a replay
        assert old is not None and "older than the 8 newest boots" in old
        reused = judge_boot(connection, seen(999, 5), NOW)  # another boot id, counter 5
        assert reused is not None and "already had another boot id" in reused
        assert judge_boot(connection, seen(200, 0, kid="bb22"), NOW) is None  # new key
        assert judge_boot(connection, seen(300, None, kid=None), NOW) is None  # schema 1
        kept = connection.execute(select(func.count()).select_from(sensor_boots)).scalar()
    assert kept == BOOTS_KEPT + 1 + 2  # neither replay was kept
