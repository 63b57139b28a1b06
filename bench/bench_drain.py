"""Backlog drain benchmark: how fast the spool empties into a local mosquitto after an outage.

    .venv/bin/python -m bench.bench_drain [--backlog-mb 100] [--live-per-s 10] [--json]

1. Starts its own mosquitto on a free port (never the system one).
2. Builds the backlog an hour-long outage leaves behind: `--backlog-mb` of batches of
   2-20 KB (uniformly random sizes, incompressible bytes, as signed CBOR is), appended
   through the real Spool; reports the append rate (the capture path's cost).
3. Starts the publisher and, while it drains, keeps appending live batches at
   `--live-per-s` on another topic; a subscriber on that topic measures how long live
   data waits (append -> delivery) while the backlog drains.
   With --consumer, a paho subscriber process takes the backlog topic (QoS 1), so
   the broker forwards every batch as it would to a central consumer.
4. Reports drain time, MB/s, batches/s, and the process CPU time per batch (publisher
   thread, spool reads and the live feeder together; the broker is a separate process).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from agent.publish.publisher import Publisher
from agent.publish.settings import MqttSettings
from agent.spool import Spool, SpoolSettings
from tests.support.broker import MosquittoBroker, Subscriber

BACKLOG_TOPIC = "iomt/bench/wing/sensor/flows"
LIVE_TOPIC = "iomt/bench/wing/sensor/alerts"
STATUS_TOPIC = "iomt/bench/wing/sensor/status"


# A central consumer in its own process: subscribes QoS 1 and throws the payloads away.
_CONSUMER = """
import sys
import paho.mqtt.client as mqtt
client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
client.on_connect = lambda c, u, f, rc, p: c.subscribe(sys.argv[2], qos=1)
client.connect("127.0.0.1", int(sys.argv[1]))
client.loop_forever()
"""


def build_backlog(spool: Spool, backlog_bytes: int, rng: random.Random) -> tuple[int, int, float]:
    """Append random-size batches until `backlog_bytes`; return (batches, bytes, seconds)."""
    pool = os.urandom(20 * 1024 + 4096)
    batches = total = 0
    started = time.perf_counter()
    while total < backlog_bytes:
        size = rng.randint(2 * 1024, 20 * 1024)
        offset = rng.randrange(4096)
        spool.append(BACKLOG_TOPIC, "flows", batches, pool[offset : offset + size])
        batches += 1
        total += size
    return batches, total, time.perf_counter() - started


class LiveFeeder(threading.Thread):
    """Appends a live batch every 1/rate seconds, stamping the append time in the payload."""

    def __init__(self, spool: Spool, per_second: float) -> None:
        super().__init__(daemon=True)
        self.spool, self.interval_s = spool, 1 / per_second
        self.stop_event = threading.Event()
        self.sent = 0

    def run(self) -> None:
        while not self.stop_event.wait(self.interval_s):
            stamp = f"{time.time():.6f}:".encode()
            self.spool.append(LIVE_TOPIC, "alerts", self.sent, stamp + b"." * 4000)
            self.sent += 1


def run(args: argparse.Namespace) -> dict[str, float]:
    workdir = Path(tempfile.mkdtemp(prefix="bench-drain-"))
    broker = MosquittoBroker(workdir)
    broker.start()
    live_watch = Subscriber(broker.url, LIVE_TOPIC)
    live_watch.start()
    consumer = None
    if args.consumer:
        # A central consumer in its own process, so the broker really forwards everything.
        consumer = subprocess.Popen(
            [sys.executable, "-c", _CONSUMER, str(broker.port), BACKLOG_TOPIC],
            stdout=subprocess.DEVNULL,
        )
        time.sleep(0.3)
    spool = Spool.open(
        SpoolSettings(dir=workdir / "spool", max_bytes=max(268_435_456, 2 * args.backlog_mb << 20))
    )
    try:
        batches, backlog_bytes, append_s = build_backlog(
            spool, args.backlog_mb << 20, random.Random(1)
        )
        settings = MqttSettings(
            urls=(broker.url,), client_id="bench-drain", max_inflight=args.max_inflight
        )
        publisher = Publisher(settings, spool, STATUS_TOPIC, lambda state: state.encode())
        feeder = LiveFeeder(spool, args.live_per_s)
        cpu_before = time.process_time()
        started = time.perf_counter()
        publisher.start()
        feeder.start()
        while spool.oldest_unacked_rid() < batches:  # until the backlog is acknowledged
            time.sleep(0.01)
        drain_s = time.perf_counter() - started
        cpu_s = time.process_time() - cpu_before
        feeder.stop_event.set()
        feeder.join()
        publisher.wait_drained(10)
        publisher.stop()
        waits = [m.arrived_at - float(m.payload.split(b":", 1)[0]) for m in live_watch.snapshot()]
        live_watch.stop()
    finally:
        spool.close()
        if consumer is not None:
            consumer.kill()
        broker.kill()
    return {
        "backlog_batches": batches,
        "backlog_mb": backlog_bytes / 2**20,
        "append_mb_per_s": backlog_bytes / 2**20 / append_s,
        "drain_s": drain_s,
        "drain_mb_per_s": backlog_bytes / 2**20 / drain_s,
        "drain_batches_per_s": batches / drain_s,
        "cpu_us_per_batch": cpu_s / (batches + feeder.sent) * 1e6,
        "live_batches": feeder.sent,
        "live_wait_median_ms": statistics.median(waits) * 1000 if waits else float("nan"),
        "live_wait_max_ms": max(waits) * 1000 if waits else float("nan"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backlog-mb", type=int, default=100)
    parser.add_argument("--live-per-s", type=float, default=10.0)
    parser.add_argument("--max-inflight", type=int, default=64)
    parser.add_argument(
        "--consumer", action="store_true", help="a subscriber process receives the backlog too"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = run(args)
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"backlog: {result['backlog_batches']} batches, {result['backlog_mb']:.1f} MB")
    print(f"append (capture path): {result['append_mb_per_s']:.0f} MB/s")
    print(
        f"drain: {result['drain_s']:.2f} s = {result['drain_mb_per_s']:.1f} MB/s,"
        f" {result['drain_batches_per_s']:.0f} batches/s"
    )
    print(f"CPU per batch (agent process): {result['cpu_us_per_batch']:.0f} us")
    print(
        f"live data during the drain: {result['live_batches']} batches, wait median"
        f" {result['live_wait_median_ms']:.0f} ms, max {result['live_wait_max_ms']:.0f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
