"""The publisher against a real mosquitto: delivery, status, window, protocol, failover."""

from __future__ import annotations

import random
import re
import time
from pathlib import Path

import pytest

from agent.errors import UsageError
from agent.publish.backoff import Backoff
from agent.publish.publisher import Publisher
from agent.publish.settings import MqttSettings
from agent.spool import Spool, SpoolSettings
from tests.support.broker import (
    MosquittoBroker,
    Subscriber,
    UplinkProxy,
    free_port,
    mosquitto,
    seq_payload,
    seqs_received,
    wait_until,
)

__all__ = ["mosquitto"]  # the fixture, imported for pytest

DATA_TOPIC = "iomt/st-mary/4b/wing4b-01/flows"
STATUS_TOPIC = "iomt/st-mary/4b/wing4b-01/status"


def status_bytes(state: str) -> bytes:
    return f"status:{state}".encode()


def make_publisher(spool: Spool, *urls: str, **overrides: object) -> Publisher:
    """A publisher with test timings: fast keepalive and backoff."""
    options: dict[str, object] = {
        "client_id": "wing4b-01",
        "keepalive_s": 1,
        "connect_timeout_s": 2.0,
        "backoff_initial_s": 0.1,
        "backoff_max_s": 0.4,
    }
    options.update(overrides)
    settings = MqttSettings(urls=tuple(urls), **options)  # type: ignore[arg-type]
    return Publisher(settings, spool, STATUS_TOPIC, status_bytes)


def spool_with(tmp_path: Path, count: int, boot: str = "A", **settings: object) -> Spool:
    spool = Spool.open(SpoolSettings(dir=tmp_path / "spool", **settings))  # type: ignore[arg-type]
    for seq in range(count):
        spool.append(DATA_TOPIC, "flows", seq, seq_payload(boot, seq))
    return spool


def test_spooled_batches_arrive_in_order_and_leave_the_spool(
    tmp_path: Path, mosquitto: MosquittoBroker
) -> None:
    subscriber = Subscriber(mosquitto.url, "iomt/#")
    subscriber.start()
    spool = spool_with(tmp_path, 500)
    publisher = make_publisher(spool, mosquitto.url)
    publisher.start()
    assert publisher.wait_drained(10)
    assert subscriber.wait_for(lambda m: len(seqs_received(m, "A")) == 500, 5)
    assert seqs_received(subscriber.snapshot(), "A") == list(range(500))
    health = publisher.health()
    assert health.connected and health.last_ack_at is not None
    assert health.spool.depth_messages == 0 and health.oldest_unsent_age_s is None
    publisher.stop()
    spool.close()


def test_status_is_retained_online_then_offline_after_clean_stop(
    tmp_path: Path, mosquitto: MosquittoBroker
) -> None:
    spool = spool_with(tmp_path, 0)
    publisher = make_publisher(spool, mosquitto.url)
    publisher.start()
    assert wait_until(lambda: publisher.health().connected, 5)
    late = Subscriber(mosquitto.url, STATUS_TOPIC)
    late.start()
    assert late.wait_for(lambda m: [x.payload for x in m] == [b"status:online"], 5)
    assert late.snapshot()[0].retain
    publisher.stop()
    later = Subscriber(mosquitto.url, STATUS_TOPIC)
    later.start()
    assert later.wait_for(lambda m: [x.payload for x in m] == [b"status:offline"], 5)
    spool.close()


def test_last_will_says_offline_when_the_connection_breaks(
    tmp_path: Path, mosquitto: MosquittoBroker
) -> None:
    proxy = UplinkProxy(mosquitto.port)
    proxy.start()
    spool = spool_with(tmp_path, 0)
    publisher = make_publisher(spool, proxy.url, backoff_initial_s=5.0, backoff_max_s=5.0)
    publisher.start()
    watcher = Subscriber(mosquitto.url, STATUS_TOPIC)
    watcher.start()
    assert watcher.wait_for(lambda m: b"status:online" in [x.payload for x in m], 5)
    proxy.reset()  # the TCP connection dies without an MQTT DISCONNECT
    assert watcher.wait_for(lambda m: m[-1].payload == b"status:offline", 5)
    publisher.stop(timeout_s=0.5)
    proxy.stop()
    spool.close()


def test_inflight_window_follows_the_brokers_receive_maximum(tmp_path: Path) -> None:
    broker = MosquittoBroker(tmp_path, extra_config="max_inflight_messages 3")
    broker.start()
    subscriber = Subscriber(broker.url, "iomt/#")
    subscriber.start()
    spool = spool_with(tmp_path, 200)
    publisher = make_publisher(spool, broker.url, max_inflight=50)
    publisher.start()
    assert publisher.wait_drained(10)
    assert publisher.health().inflight_window == 3
    assert subscriber.wait_for(lambda m: seqs_received(m, "A") == list(range(200)), 5)
    publisher.stop()
    broker.kill()
    spool.close()


def test_mqtt_311_delivers_too(tmp_path: Path, mosquitto: MosquittoBroker) -> None:
    subscriber = Subscriber(mosquitto.url, "iomt/#")
    subscriber.start()
    spool = spool_with(tmp_path, 100)
    publisher = make_publisher(spool, mosquitto.url, protocol="3.1.1")
    publisher.start()
    assert publisher.wait_drained(10)
    assert subscriber.wait_for(lambda m: seqs_received(m, "A") == list(range(100)), 5)
    publisher.stop()
    spool.close()


def test_message_expiry_is_set_on_data(tmp_path: Path, mosquitto: MosquittoBroker) -> None:
    subscriber = Subscriber(mosquitto.url, DATA_TOPIC)
    subscriber.start()
    spool = spool_with(tmp_path, 3)
    publisher = make_publisher(spool, mosquitto.url, live_expiry_s=600)
    publisher.start()
    assert subscriber.wait_for(lambda m: len(m) == 3, 5)
    assert all(m.expiry_s is not None and 590 <= m.expiry_s <= 600 for m in subscriber.snapshot())
    publisher.stop()
    spool.close()


def test_fails_over_to_the_next_url_when_the_first_is_down(
    tmp_path: Path, mosquitto: MosquittoBroker
) -> None:
    subscriber = Subscriber(mosquitto.url, "iomt/#")
    subscriber.start()
    spool = spool_with(tmp_path, 50)
    dead_url = f"mqtt://127.0.0.1:{free_port()}"
    publisher = make_publisher(spool, dead_url, mosquitto.url)
    publisher.start()
    assert publisher.wait_drained(10)
    assert publisher.health().broker_url == mosquitto.url
    assert subscriber.wait_for(lambda m: seqs_received(m, "A") == list(range(50)), 5)
    publisher.stop()
    spool.close()


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("http://broker:80", "scheme must be mqtt:// or mqtts://"),
        ("mqtt://user:pw@broker", "credentials do not belong in the URL"),
        ("mqtt://broker:99999", "bad port"),
        ("mqtts://", "no host name"),
    ],
)
def test_bad_broker_url_is_a_usage_error(tmp_path: Path, url: str, fragment: str) -> None:
    spool = spool_with(tmp_path, 0)
    with pytest.raises(UsageError, match=re.escape(fragment)) as raised:
        make_publisher(spool, url)
    assert "pw" not in str(raised.value)  # a password in a URL is never echoed
    spool.close()


def test_unreadable_tls_material_is_a_usage_error(tmp_path: Path) -> None:
    spool = spool_with(tmp_path, 0)
    with pytest.raises(UsageError, match=r"mqtt\.ca_file"):
        make_publisher(spool, "mqtts://localhost:8883", ca_file=tmp_path / "missing.pem")
    spool.close()


def test_backoff_doubles_to_its_cap_with_jitter() -> None:
    backoff = Backoff(initial_s=1.0, max_s=8.0, rng=random.Random(7))
    delays = [backoff.next_delay_s() for _ in range(8)]
    ceilings = [1, 2, 4, 8, 8, 8, 8, 8]
    assert all(c / 2 <= d <= c for d, c in zip(delays, ceilings, strict=True))
    assert len({round(d, 6) for d in delays[3:]}) == 5, "jittered, not one fixed value"
    backoff.reset()
    assert backoff.next_delay_s() <= 1.0


def test_appends_never_wait_for_a_dead_uplink(tmp_path: Path, mosquitto: MosquittoBroker) -> None:
    proxy = UplinkProxy(mosquitto.port)
    proxy.start()
    proxy.block()  # connects hang until connect_timeout_s: the worst case for a publisher
    spool = spool_with(tmp_path, 0)
    publisher = make_publisher(spool, proxy.url, connect_timeout_s=5.0)
    publisher.start()
    time.sleep(0.3)
    started = time.perf_counter()
    for seq in range(2000):
        spool.append(DATA_TOPIC, "flows", seq, seq_payload("A", seq))
    assert time.perf_counter() - started < 1.0
    assert not publisher.health().connected and spool.stats().depth_messages == 2000
    publisher.stop(timeout_s=0.5)
    proxy.stop()
    spool.close()
