"""The ingest loop: subscribe (MQTT 5 shared subscription), verify with agent.consumer,
store, and acknowledge only after the commit.

Messages arrive on paho's network thread and wait in a queue; this loop takes them one
at a time. A database that has gone away is retried with backoff (the message stays
unacknowledged meanwhile, so nothing acknowledged is ever lost, and the broker holds
what follows). Several instances with the same share group split the stream; the
database's dedupe key makes a redelivery to another instance harmless.
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from sqlalchemy import Engine
from sqlalchemy.exc import InterfaceError, OperationalError

from agent.consumer import Consumer
from agent.consumer.mqtt import parse_url, subscription_filter
from agent.errors import AgentError, UsageError
from agent.keys import TrustStore
from central.ingest.apply import Clock, IngestContext, store_message
from central.ingest.boots import RecordingTracker, SeenBoot
from central.ingest.retention import purge_expired
from central.inventory.store import tidy_address_devices

log = logging.getLogger("iomt-central.ingest")

# What a database that went away (or a deadlock between instances) raises: retried.
# Anything else (a value the schema refuses ...) would fail again: it is not retried.
TRANSIENT = (OperationalError, InterfaceError)
RETENTION_INTERVAL_S = 600.0
# Address devices that MAC devices turned out to hold are swept when the stream pauses
# this long after storing something (and at least every TIDY_INTERVAL_S while it flows).
TIDY_AFTER_IDLE_S = 1.0
TIDY_INTERVAL_S = 30.0


@dataclass
class IngestStats:
    received: int = 0
    stored: int = 0
    duplicates: int = 0
    rejected: int = 0
    database_retries: int = 0


class Ingest:
    """One ingest instance. `run()` blocks until `stop()` (or `exit_after_idle_s`
    without a message); `ready` is set once the broker granted the subscription."""

    def __init__(
        self,
        config: Any,
        engine: Engine,
        context: IngestContext,
        instance: str | None = None,
        exit_after_idle_s: float | None = None,
    ) -> None:
        self.config = config
        self.engine = engine
        self.context = context
        self.clock: Clock = context.clock
        self.instance = instance or socket.gethostname()
        self.exit_after_idle_s = exit_after_idle_s
        self.stats = IngestStats()
        # Central clock after this instance's last commit of a stored message: what a
        # risk evaluation must have read before this instance's work is scored.
        self.last_stored_at: datetime | None = None
        self.ready = threading.Event()
        self._stop = threading.Event()
        self._inbox: queue.Queue[tuple[bytes, str, int, int]] = queue.Queue()
        self._failure: list[str] = []
        trust = config.trust
        self.tracker = RecordingTracker(report_gaps=False)
        self.consumer = Consumer(
            TrustStore.from_dir(trust.dir, bound_only=trust.bound_keys_only),
            tracker=self.tracker,
        )

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        """Raises AgentError when the broker cannot be reached or refuses us."""
        mqtt_config = self.config.mqtt
        address = parse_url(mqtt_config.url)
        topic = subscription_filter(mqtt_config.topic_filter, mqtt_config.share_group or None)
        client = self._client(mqtt_config, address.tls)
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = (
            mqtt_config.session_expiry_s if mqtt_config.session else 0
        )

        def on_connect(client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
            if reason.is_failure:
                self._failure.append(f"broker {address.display()} refused the connection: {reason}")
                return
            client.subscribe(topic, qos=1)

        def on_subscribe(_c: mqtt.Client, _u: Any, _m: int, reasons: list[Any], _p: Any) -> None:
            refused = [str(r) for r in reasons if r.is_failure]
            if refused:
                self._failure.append(f"broker refused the subscription to {topic}: {refused[0]}")
            self.ready.set()

        def on_message(_c: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
            self._inbox.put((bytes(message.payload), message.topic, message.mid, message.qos))

        client.on_connect = on_connect
        client.on_subscribe = on_subscribe
        client.on_message = on_message
        try:
            client.connect(
                address.host,
                address.port,
                keepalive=30,
                clean_start=not mqtt_config.session,
                properties=properties,
            )
        except (OSError, ssl.SSLError) as exc:
            raise AgentError(f"cannot connect to broker {address.display()}: {exc}") from None
        client.loop_start()
        try:
            deadline = time.monotonic() + 15
            while not self.ready.is_set() and not self._failure and time.monotonic() < deadline:
                time.sleep(0.02)
            if self._failure:
                raise AgentError(self._failure[0])
            if not self.ready.is_set():
                raise AgentError(f"no answer from broker {address.display()} in 15 s")
            log.info("ingest %s subscribed to %s at %s", self.instance, topic, address.display())
            self._loop(client)
        finally:
            client.disconnect()
            client.loop_stop()

    def _client(self, mqtt_config: Any, tls: bool) -> mqtt.Client:
        session = mqtt_config.session
        client_id = f"{session}-{self.instance}" if session else f"iomt-central-{os.getpid()}"
        client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv5,
        )
        client.manual_ack_set(True)
        client.reconnect_delay_set(1, 30)
        if mqtt_config.username:
            password = None
            if mqtt_config.password_file is not None:
                password = Path(mqtt_config.password_file).read_text().strip()
            client.username_pw_set(mqtt_config.username, password)
        if tls:
            try:
                client.tls_set(
                    ca_certs=_text(mqtt_config.ca_file),
                    certfile=_text(mqtt_config.cert_file),
                    keyfile=_text(mqtt_config.key_file),
                )
            except (OSError, ssl.SSLError) as exc:
                raise UsageError(f"cannot load the [mqtt] TLS files: {exc}") from None
        return client

    def _loop(self, client: mqtt.Client) -> None:
        last_message = time.monotonic()
        next_purge = 0.0
        last_tidy = time.monotonic()
        stored_since_tidy = False
        while not self._stop.is_set():
            now = time.monotonic()
            if now >= next_purge:
                self._with_retry(lambda: purge_expired(self.engine, self.config, self.clock()))
                next_purge = now + RETENTION_INTERVAL_S
            if stored_since_tidy and (
                now - last_message >= TIDY_AFTER_IDLE_S or now - last_tidy >= TIDY_INTERVAL_S
            ):
                self._with_retry(self._tidy)
                last_tidy, stored_since_tidy = time.monotonic(), False
            try:
                payload, topic, mid, qos = self._inbox.get(timeout=0.2)
            except queue.Empty:
                idle = self.exit_after_idle_s
                if idle is not None and time.monotonic() - last_message >= idle:
                    self._with_retry(self._tidy)
                    return
                continue
            last_message = time.monotonic()
            self.stats.received += 1
            self.tracker.last = None
            records = self.consumer.handle(payload, topic)
            seen = self.tracker.last
            outcome = self._with_retry(
                lambda records=records, topic=topic, seen=seen: self._store(records, topic, seen)
            )
            if outcome is None:
                return  # stopped while the database was away: not acknowledged, comes again
            if outcome == "stored":
                self.stats.stored += 1
                self.last_stored_at = self.clock()
                stored_since_tidy = True
            elif outcome in ("duplicate", "empty"):
                self.stats.duplicates += 1
            elif outcome == "rejected":
                self.stats.rejected += 1
            client.ack(mid, qos)

    def _store(self, records: list[dict[str, Any]], topic: str, seen: SeenBoot | None) -> str:
        """store_message; a message that breaks ingest itself (not the database) is
        logged and counted as rejected (`central_error`), so one bad message cannot
        stop the stream or come back for ever."""
        try:
            return store_message(self.engine, records, self.context, seen)
        except TRANSIENT:
            raise
        except Exception as exc:
            log.exception("could not store a message from %s", topic)
            failure = {
                "type": "rejected",
                "reason": "central_error",
                "detail": f"ingest failed on it: {type(exc).__name__}: {exc}"[:300],
                "topic": topic,
            }
            return store_message(self.engine, [failure], self.context)

    def _tidy(self) -> int:
        with self.engine.begin() as connection:
            return tidy_address_devices(connection)

    def _with_retry(self, work: Any) -> Any:
        """work() until it commits; None if stopped first. Backoff 0.25 s doubling to
        [ingest] retry_max_s; the first failure of an outage is logged, and its end."""
        delay = 0.25
        failing = False
        while True:
            try:
                result = work()
            except TRANSIENT as exc:
                self.stats.database_retries += 1
                if not failing:
                    log.warning(
                        "database unavailable, retrying (nothing is acknowledged): %s",
                        _first_line(exc),
                    )
                    failing = True
                if self._stop.wait(delay):
                    return None
                delay = min(delay * 2, float(self.config.ingest.retry_max_s))
                continue
            if failing:
                log.warning("database back after %d retries", self.stats.database_retries)
            return result


def _text(path: Path | None) -> str | None:
    return str(path) if path is not None else None


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
