"""Subscribe at a broker and hand each message to a Consumer (paho-mqtt 2, MQTT 5).

Messages arrive on paho's network thread and are queued; the caller's thread verifies,
decodes and prints, so a slow output never blocks the MQTT keep-alive. A message is
acknowledged only after it was handled, so one that a crash interrupts comes again.

With a session name, the broker keeps the subscription while the consumer is away and
queues what arrives meanwhile (QoS 1, up to the broker's queue limit), so a restart of
the consumer loses nothing.

Memory is bounded whatever is published: the consumer announces the wire's byte limit
as its MQTT 5 Maximum Packet Size (the broker drops anything larger instead of sending
it), a Receive Maximum of RECEIVE_MAXIMUM (the broker holds back further QoS 1 messages
until earlier ones are acknowledged), and keeps at most QOS0_QUEUED QoS 0 messages
waiting; more QoS 0 messages than that are dropped and counted (`Inbox.dropped`).
"""

from __future__ import annotations

import queue
import ssl
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from agent.errors import AgentError, UsageError
from agent.publish.transport import read_password
from agent.wire.schema import MAX_MESSAGE_BYTES, MQTT_OVERHEAD_BYTES

RECEIVE_MAXIMUM = 16
QOS0_QUEUED = 16


class Inbox:
    """Messages from paho's thread to the caller's, bounded: QoS 1 ones are bounded by
    the Receive Maximum the broker honours, QoS 0 ones (no flow control in MQTT) by
    QOS0_QUEUED here; the QoS 0 messages beyond it are dropped and counted."""

    def __init__(self, qos0_limit: int = QOS0_QUEUED) -> None:
        self._queue: queue.Queue[tuple[bytes, str, int, int]] = queue.Queue()
        self._qos0_limit = qos0_limit
        self._qos0_waiting = 0
        self._lock = threading.Lock()
        self.dropped = 0

    def put(self, payload: bytes, topic: str, mid: int, qos: int) -> bool:
        """Queue one message; False when it was a QoS 0 message over the bound (dropped)."""
        if qos == 0:
            with self._lock:
                if self._qos0_waiting >= self._qos0_limit:
                    self.dropped += 1
                    return False
                self._qos0_waiting += 1
        self._queue.put((payload, topic, mid, qos))
        return True

    def get(self, timeout_s: float) -> tuple[bytes, str, int, int]:
        """The oldest message; raises queue.Empty after timeout_s."""
        item = self._queue.get(timeout=timeout_s)
        if item[3] == 0:
            with self._lock:
                self._qos0_waiting -= 1
        return item


@dataclass(frozen=True)
class BrokerAddress:
    host: str
    port: int
    tls: bool
    username: str | None
    password: str | None

    def display(self) -> str:
        """host:port for messages; never the credentials."""
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


def parse_url(url: str) -> BrokerAddress:
    """mqtt://[user[:password]@]host[:port] or mqtts://... (ports default 1883 / 8883).

    Raises UsageError for another scheme or a missing host.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UsageError(f"broker URL is not valid: {exc}") from None
    if parts.scheme not in ("mqtt", "mqtts"):
        raise UsageError(f"broker URL must start with mqtt:// or mqtts://, not {parts.scheme!r}")
    if not parts.hostname:
        raise UsageError("broker URL has no host (expected mqtt://host:port)")
    tls = parts.scheme == "mqtts"
    return BrokerAddress(
        host=parts.hostname,
        port=port or (8883 if tls else 1883),
        tls=tls,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


def with_credentials(
    address: BrokerAddress, username: str | None, password_file: Path | None
) -> BrokerAddress:
    """`address` with the user name and the password read from `password_file` (its
    first line), as the agent's [mqtt] username / password_file. Raises UsageError when
    the file cannot be read or the URL holds credentials too."""
    if username is None and password_file is None:
        return address
    if address.username is not None:
        raise UsageError("give credentials either in the URL or as --username/--password-file")
    if username is None:
        raise UsageError("--password-file needs --username")
    password = None if password_file is None else read_password(password_file, "--password-file")
    return replace(address, username=username, password=password)


def subscription_filter(topic_filter: str, share_group: str | None) -> str:
    """The filter to subscribe to: `$share/GROUP/filter` for a shared subscription."""
    if share_group is None:
        return topic_filter
    if not share_group or any(ch in share_group for ch in "/+#"):
        raise UsageError(f"share group {share_group!r} must be non-empty without '/', '+', '#'")
    return f"$share/{share_group}/{topic_filter}"


def run_subscription(
    address: BrokerAddress,
    subscribe_to: str,
    on_message: Callable[[bytes, str], None],
    exit_after_idle_s: float | None,
    on_ready: Callable[[], None] | None = None,
    ca_file: str | None = None,
    cert_file: str | None = None,
    key_file: str | None = None,
    connect_timeout_s: float = 10.0,
    session: str | None = None,
    session_expiry_s: int = 86_400,
    max_message_bytes: int = MAX_MESSAGE_BYTES,
    inbox: Inbox | None = None,
) -> None:
    """Connect, subscribe with QoS 1, and call on_message(payload, topic) for every
    message on this thread; on_ready() once the subscription is granted. Returns after
    `exit_after_idle_s` without a message (None: run until interrupted). `session`:
    the name of a session the broker keeps for `session_expiry_s` after a disconnect.
    `max_message_bytes` (plus the MQTT overhead) is announced as Maximum Packet Size;
    `inbox` (made here when None) counts the QoS 0 messages dropped. Raises AgentError
    when the broker cannot be reached or refuses the connection or the subscription."""
    inbox = inbox if inbox is not None else Inbox()
    ready = threading.Event()
    failure: list[str] = []

    client = mqtt.Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id=f"iomt-consume-{session or uuid.uuid4().hex[:12]}",
        protocol=mqtt.MQTTv5,
    )
    client.manual_ack_set(True)
    connect_properties = Properties(PacketTypes.CONNECT)
    connect_properties.SessionExpiryInterval = session_expiry_s if session else 0
    connect_properties.MaximumPacketSize = max_message_bytes + MQTT_OVERHEAD_BYTES
    connect_properties.ReceiveMaximum = RECEIVE_MAXIMUM
    if address.username is not None:
        client.username_pw_set(address.username, address.password)
    if address.tls:
        try:
            client.tls_set(ca_certs=ca_file, certfile=cert_file, keyfile=key_file)
        except (OSError, ssl.SSLError) as exc:
            raise UsageError(f"cannot load TLS files (--ca/--cert/--key): {exc}") from None

    def on_connect(client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            failure.append(f"broker refused the connection: {reason}")
            ready.set()
            return
        client.subscribe(subscribe_to, qos=1)

    def on_subscribe(_c: mqtt.Client, _u: Any, _mid: int, reasons: list[Any], _p: Any) -> None:
        refused = [str(r) for r in reasons if r.is_failure]
        if refused:
            failure.append(f"broker refused the subscription to {subscribe_to}: {refused[0]}")
        ready.set()

    def on_message_cb(_c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        inbox.put(bytes(msg.payload), msg.topic, msg.mid, msg.qos)

    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message_cb
    try:
        client.connect(
            address.host,
            address.port,
            keepalive=30,
            clean_start=session is None,
            properties=connect_properties,
        )
    except (OSError, ssl.SSLError) as exc:
        raise AgentError(f"cannot connect to broker {address.display()}: {exc}") from None
    client.loop_start()
    try:
        if not ready.wait(connect_timeout_s):
            raise AgentError(
                f"no answer from broker {address.display()} in {connect_timeout_s:g} s"
            )
        if failure:
            raise AgentError(failure[0])
        if on_ready is not None:
            on_ready()
        last_message = time.monotonic()
        while True:
            wait_s = 0.5
            if exit_after_idle_s is not None:
                wait_s = max(0.0, min(wait_s, last_message + exit_after_idle_s - time.monotonic()))
            try:
                payload, topic, mid, qos = inbox.get(wait_s)
            except queue.Empty:
                if exit_after_idle_s is not None and (
                    time.monotonic() - last_message >= exit_after_idle_s
                ):
                    return
                continue
            last_message = time.monotonic()
            on_message(payload, topic)
            client.ack(mid, qos)
    finally:
        client.disconnect()
        client.loop_stop()
