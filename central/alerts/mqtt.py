"""MQTT delivery: alerts as signed `alerts` messages on a topic outside the sensors' tree.

    <topic_prefix>/<site>/<wing>/<sender id>/alerts   e.g. iomt-central/st-mary/4b/central/alerts

The payload is the wire's `alerts` message (docs/summary.cddl) signed with the central
service's own Ed25519 key (COSE_Sign1, external_aad = the topic), so `iomt-agent consume
--trust DIR --topic-filter 'iomt-central/#'` verifies it when DIR holds the public key in
`DIR/<sender id>/` (bound to that sender, like a sensor's). The prefix must not be
matched by the ingest's topic filter: central never ingests its own alerts (the
configuration check refuses a prefix inside it).
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt

from agent.cose import Signer
from agent.errors import UsageError
from agent.publish.transport import parse_broker_url, read_password
from agent.wire.encode import BatchInfo, SensorIdentity, encode_alerts
from agent.wire.topic import topic_for
from central.alerts.book import AlertEvent
from central.alerts.message import wire_record


class MqttChannel:
    def __init__(
        self,
        url: str,
        signing_key: Path,
        sender_id: str = "central",
        topic_prefix: str = "iomt-central",
        ca_file: Path | None = None,
        timeout_s: float = 10.0,
        cert_file: Path | None = None,
        key_file: Path | None = None,
        username: str = "",
        password_file: Path | None = None,
    ) -> None:
        """The broker settings are [mqtt]'s (the ingest's broker); `signing_key` is
        [alerts] signing_key. Raises UsageError for an unreadable key or password file."""
        self.address = parse_broker_url(url)
        self.signer = Signer.from_file(signing_key)
        self.sender_id = sender_id
        self.topic_prefix = topic_prefix
        self.timeout_s = timeout_s
        self.boot_id = os.urandom(16)
        self.seq = 0
        self.failures = 0
        self._lock = threading.Lock()
        self._client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=f"iomt-central-alerts-{self.boot_id.hex()[:8]}",
            protocol=mqtt.MQTTv5,
        )
        if self.address.tls:
            self._client.tls_set(
                ca_certs=str(ca_file) if ca_file else None,
                certfile=str(cert_file) if cert_file else None,
                keyfile=str(key_file) if key_file else None,
            )
        if username:
            password = read_password(password_file) if password_file is not None else None
            self._client.username_pw_set(username, password)
        self._connected = False

    def _connect(self) -> None:
        if self._connected:
            return
        try:
            self._client.connect(self.address.host, self.address.port, keepalive=60)
        except OSError as exc:
            raise ConnectionError(f"alerts broker {self.address.url}: {exc}") from None
        self._client.loop_start()
        self._connected = True

    def topic(self, site: str, wing: str) -> str:
        return topic_for(self.topic_prefix, site, wing, self.sender_id, "alerts")

    def deliver(self, event: AlertEvent) -> bool:
        alert = event.alert
        try:
            topic = self.topic(alert["site"], alert["wing"] or "-")
        except UsageError:
            topic = self.topic(alert["site"], "-")
        with self._lock:
            now_us = time.time_ns() // 1000
            identity = SensorIdentity(
                self.sender_id, alert["site"], alert["wing"] or "-", self.boot_id
            )
            payload = encode_alerts(
                [wire_record(event.kind, alert)], identity, BatchInfo(self.seq, now_us, now_us)
            )
            self.seq += 1
            message = self.signer.sign(payload, topic)
            try:
                self._connect()
                info = self._client.publish(topic, message, qos=1)
                info.wait_for_publish(self.timeout_s)
                return info.is_published()
            except (ConnectionError, RuntimeError, ValueError, OSError):
                self.failures += 1
                return False

    def close(self) -> None:
        if self._connected:
            self._client.disconnect()
            self._client.loop_stop()
            self._connected = False
