"""Store-and-forward under outages, against a real mosquitto: nothing lost, loss counted.

Each test streams opaque payloads "boot:seq:..." through spool -> publisher -> broker
-> a subscriber, breaks something in the middle, and checks the subscriber saw every
sequence number (duplicates allowed, gaps none).

Run as a script, this file is the publishing process of the SIGKILL test:
    python tests/test_delivery.py SPOOL_DIR BROKER_URL BOOT COUNT
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

if __name__ == "__main__":  # the subprocess: make `agent` and `tests` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agent.publish.publisher import Publisher
from agent.spool import Spool, SpoolSettings
from tests.support.broker import (
    MosquittoBroker,
    NetnsUplink,
    Subscriber,
    UplinkProxy,
    seq_payload,
    seqs_received,
)
from tests.test_publish import DATA_TOPIC, make_publisher

REPO = Path(__file__).resolve().parent.parent


class Feeder:
    """Appends boot:seq payloads to the spool at a steady rate, as the capture side does."""

    def __init__(self, spool: Spool, boot: str, count: int, per_second: float) -> None:
        self.spool, self.boot, self.count = spool, boot, count
        self.interval_s = 1 / per_second
        self.appended = 0
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        for seq in range(self.count):
            self.spool.append(DATA_TOPIC, "flows", seq, seq_payload(self.boot, seq))
            self.appended = seq + 1
            time.sleep(self.interval_s)

    def start(self) -> Feeder:
        self._thread.start()
        return self

    def join(self) -> None:
        self._thread.join()


def all_seqs_arrive(subscriber: Subscriber, boot: str, count: int, timeout_s: float) -> bool:
    expected = set(range(count))
    return subscriber.wait_for(lambda m: set(seqs_received(m, boot)) >= expected, timeout_s)


def gaps(subscriber: Subscriber, boot: str, count: int) -> set[int]:
    return set(range(count)) - set(seqs_received(subscriber.snapshot(), boot))


def open_spool(tmp_path: Path, **settings: object) -> Spool:
    return Spool.open(SpoolSettings(dir=tmp_path / "spool", **settings))  # type: ignore[arg-type]


def broker_with_waiting_subscriber(tmp_path: Path) -> tuple[MosquittoBroker, Subscriber]:
    """A persistent broker whose subscriber session outlives broker restarts."""
    broker = MosquittoBroker(tmp_path, persistence=True)
    broker.start()
    subscriber = Subscriber(broker.url, "iomt/#")
    subscriber.start()
    time.sleep(1.2)  # let autosave (1 s) store the subscriber's session
    return broker, subscriber


def publish_through_an_outage(
    spool: Spool, url: str, subscriber: Subscriber, count: int, outage: Callable[[Publisher], None]
) -> None:
    """Feed `count` batches (boot "A", 300/s) to a publisher on `url`; 0.7 s in, run
    `outage(publisher)`, which breaks the path and mends it. Every seq must arrive, over
    at least two connections."""
    publisher = make_publisher(spool, url)
    publisher.start()
    feeder = Feeder(spool, "A", count, per_second=300).start()
    time.sleep(0.7)
    outage(publisher)
    feeder.join()
    assert all_seqs_arrive(subscriber, "A", count, 15), gaps(subscriber, "A", count)
    assert publisher.connections >= 2
    publisher.stop()


def test_broker_down_at_start_then_up_everything_arrives(tmp_path: Path) -> None:
    broker, subscriber = broker_with_waiting_subscriber(tmp_path)
    broker.stop()
    spool = open_spool(tmp_path)
    publisher = make_publisher(spool, broker.url)
    publisher.start()
    feeder = Feeder(spool, "A", 150, per_second=300).start()
    time.sleep(0.8)
    assert not publisher.health().connected
    assert publisher.health().spool.depth_messages > 0
    broker.start()
    feeder.join()
    assert all_seqs_arrive(subscriber, "A", 150, 10), gaps(subscriber, "A", 150)
    assert publisher.wait_drained(5)
    publisher.stop()
    broker.kill()
    spool.close()


def test_broker_killed_mid_stream_and_restarted_loses_nothing(tmp_path: Path) -> None:
    broker, subscriber = broker_with_waiting_subscriber(tmp_path)
    spool = open_spool(tmp_path)

    def kill_and_restart(_publisher: Publisher) -> None:
        broker.kill()  # SIGKILL: the broker forgets whatever it had not acknowledged
        time.sleep(0.6)
        broker.start()

    publish_through_an_outage(spool, broker.url, subscriber, 600, kill_and_restart)
    broker.kill()
    spool.close()


def test_uplink_cut_and_restored_loses_nothing(tmp_path: Path) -> None:
    broker = MosquittoBroker(tmp_path)
    broker.start()
    subscriber = Subscriber(broker.url, "iomt/#")
    subscriber.start()
    proxy = UplinkProxy(broker.port)
    proxy.start()
    spool = open_spool(tmp_path)

    def block_and_unblock(publisher: Publisher) -> None:
        proxy.block()  # silent: no RST, no FIN; only the keepalive notices
        time.sleep(3.0)
        assert not publisher.health().connected
        proxy.unblock()

    publish_through_an_outage(spool, proxy.url, subscriber, 1200, block_and_unblock)
    proxy.stop()
    broker.kill()
    spool.close()


def test_uplink_cut_in_a_network_namespace_loses_nothing(tmp_path: Path) -> None:
    if not NetnsUplink.available():
        pytest.skip("network namespaces need root (CAP_NET_ADMIN)")
    namespace = NetnsUplink()
    namespace.create()
    try:
        broker = MosquittoBroker(tmp_path, netns=namespace)
        broker.start()
        subscriber = Subscriber(f"mqtt://{namespace.central_ip}:{broker.port}", "iomt/#")
        subscriber.start()
        spool = open_spool(tmp_path)

        def cut_and_restore(publisher: Publisher) -> None:
            namespace.cut()  # the kernel drops the sensor's packets: no RST, no ICMP
            time.sleep(3.0)
            assert not publisher.health().connected
            assert publisher.health().spool.depth_messages > 0
            namespace.restore()

        publish_through_an_outage(spool, broker.url, subscriber, 1200, cut_and_restore)
        subscriber.stop()
        broker.kill()
        spool.close()
    finally:
        namespace.delete()


def test_backlog_drains_oldest_first_while_live_data_gets_through(tmp_path: Path) -> None:
    broker, subscriber = broker_with_waiting_subscriber(tmp_path)
    broker.stop()
    spool = open_spool(tmp_path)
    for seq in range(3000):  # the outage's backlog
        spool.append(DATA_TOPIC, "flows", seq, seq_payload("A", seq, 2000))
    publisher = make_publisher(spool, broker.url, max_inflight=8)
    publisher.start()
    broker.start()
    live = Feeder(spool, "L", 20, per_second=50).start()
    live.join()
    assert all_seqs_arrive(subscriber, "A", 3000, 60)  # completeness, not speed: a loaded CI box
    assert all_seqs_arrive(subscriber, "L", 20, 5)
    order = [m.payload.split(b":", 1)[0] for m in subscriber.snapshot() if b":" in m.payload]
    backlog_seqs = seqs_received(subscriber.snapshot(), "A")
    assert backlog_seqs == sorted(backlog_seqs), "backlog in order, oldest first"
    last_backlog = len(order) - 1 - order[::-1].index(b"A")
    assert order.index(b"L") < last_backlog, "live data must not wait for the whole backlog"
    publisher.stop()
    broker.kill()
    spool.close()


def test_full_spool_loses_exactly_the_counted_oldest_batches(tmp_path: Path) -> None:
    broker, subscriber = broker_with_waiting_subscriber(tmp_path)
    broker.stop()
    spool = open_spool(tmp_path, max_bytes=60_000, segment_bytes=6_000)
    publisher = make_publisher(spool, broker.url)
    publisher.start()
    for seq in range(1000):
        spool.append(DATA_TOPIC, "flows", seq, seq_payload("A", seq, 300))
    dropped = publisher.health().spool.dropped_messages
    assert dropped > 0
    broker.start()
    assert publisher.wait_drained(10)
    kept = 1000 - dropped
    assert subscriber.wait_for(lambda m: len(set(seqs_received(m, "A"))) >= kept, 5)
    time.sleep(0.3)
    missing = gaps(subscriber, "A", 1000)
    assert missing == set(range(dropped)), "exactly the counted number, and the oldest"
    assert spool.take_unreported_drops().messages == dropped  # for the next data message
    publisher.stop()
    broker.kill()
    spool.close()


def test_publisher_killed_and_restarted_on_the_same_spool_delivers_both_boots(
    tmp_path: Path,
) -> None:
    broker = MosquittoBroker(tmp_path)
    broker.start()
    subscriber = Subscriber(broker.url, "iomt/#")
    subscriber.start()
    proxy = UplinkProxy(broker.port)
    proxy.start()
    spool_dir = tmp_path / "spool"

    def run(url: str, boot: str, count: int) -> subprocess.Popen[bytes]:
        script = [sys.executable, __file__, str(spool_dir), url, boot, str(count)]
        return subprocess.Popen(script, stdout=subprocess.PIPE, cwd=REPO)

    first = run(proxy.url, "A", 100_000)
    assert first.stdout is not None
    appended = 0
    while appended < 800:
        appended = int(first.stdout.readline()) + 1
        if appended == 300:
            proxy.block()  # the rest of boot A piles up in the spool, some of it in flight
    first.send_signal(signal.SIGKILL)
    first.wait()
    appended = max([appended, *(int(n) + 1 for n in first.stdout.read().split())])
    left_behind = open_spool(tmp_path)
    assert left_behind.stats().depth_messages >= 400, "boot A must leave work for boot B"
    left_behind.close()

    second = run(broker.url, "B", 300)
    assert second.wait(timeout=30) == 0
    assert all_seqs_arrive(subscriber, "A", appended, 10), gaps(subscriber, "A", appended)
    assert all_seqs_arrive(subscriber, "B", 300, 10), gaps(subscriber, "B", 300)
    proxy.stop()
    broker.kill()


def _publishing_process(spool_dir: str, url: str, boot: str, count: int) -> int:
    """Append `count` payloads at ~1000/s, publishing them; print each seq once spooled.

    Exits 0 once everything is acknowledged (unless SIGKILLed first, which is the point).
    """
    spool = Spool.open(SpoolSettings(dir=Path(spool_dir)))
    publisher = make_publisher(spool, url)
    publisher.start()
    for seq in range(count):
        spool.append(DATA_TOPIC, "flows", seq, seq_payload(boot, seq))
        print(seq, flush=True)
        time.sleep(0.001)
    drained = publisher.wait_drained(20)
    publisher.stop()
    spool.close()
    return 0 if drained else 1


if __name__ == "__main__":
    sys.exit(_publishing_process(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
