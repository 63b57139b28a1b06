"""The publisher: drains the spool to the broker, QoS 1, at least once, in order.

One thread owns the paho client (driven with `client.loop()`, no paho thread), so the
in-flight table needs no lock. A fresh paho client is made for every connection: the
spool, not paho's session, is the record of what still has to go, so after any
disconnect everything unacknowledged is simply sent again from the spool (duplicates
are possible and consumers drop them by (boot, seq); gaps are not possible).

Two lanes share the in-flight window while a backlog drains:
- backlog: records spooled before this connection came up, strictly oldest first;
- live: records spooled since, in order, holding up to `live_share` of the window.
Live data therefore reaches the broker within a round trip even while an hour of
backlog drains behind it, and the backlog still gets the rest of the window.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from agent.publish.backoff import Backoff
from agent.publish.settings import MqttSettings
from agent.publish.transport import (
    BrokerAddress,
    describe_connack_refusal,
    describe_connect_error,
    describe_early_close,
    describe_publish_refusal,
    new_client,
    parse_broker_url,
    tls_context,
)
from agent.spool import Spool, SpoolStats

log = logging.getLogger(__name__)

# How long one paho loop turn may wait for the socket: short while data moves, longer
# when idle, so an idle sensor does not wake 100 times a second. New data waits at most
# the idle figure before it is sent.
_BUSY_LOOP_TIMEOUT_S = 0.01
_IDLE_LOOP_TIMEOUT_S = 0.1
StatusPayload = Callable[[str], bytes]


class _Lane(Enum):
    BACKLOG = "backlog"
    LIVE = "live"
    STATUS = "status"


@dataclass(frozen=True)
class DeliveryHealth:
    """What health reporting needs from delivery."""

    connected: bool
    broker_url: str | None
    last_ack_at: float | None  # epoch seconds of the last successful PUBACK
    last_error: str | None
    failed_attempts: int  # consecutive failures (connects, refusals) since the last ack
    connect_attempts: int  # connection attempts since start
    inflight_window: int  # min(mqtt.max_inflight, the broker's Receive Maximum)
    spool: SpoolStats
    oldest_unsent_age_s: float | None


@dataclass
class _InFlight:
    rid: int | None  # None for status messages (not spooled)
    lane: _Lane
    topic: str


class Publisher:
    """Drains `spool` to the brokers in `settings.urls`.

    status_topic: where the retained online/offline status goes.
    status_payload: called with "online" or "offline", returns the (signed) bytes;
      "offline" is called at each connect for the last will, and again at clean stop.
    Raises UsageError at construction for a bad URL, CA, client certificate or
    password file, so configuration mistakes stop the start.
    """

    def __init__(
        self,
        settings: MqttSettings,
        spool: Spool,
        status_topic: str,
        status_payload: StatusPayload,
    ) -> None:
        if not settings.urls:
            raise ValueError("MqttSettings.urls is empty")
        self.settings = settings
        self.spool = spool
        self.status_topic = status_topic
        self.status_payload = status_payload
        self.addresses = [parse_broker_url(url) for url in settings.urls]
        if any(address.tls for address in self.addresses):
            tls_context(settings)  # fail now, not at the first connect
        self._backoff = Backoff(settings.backoff_initial_s, settings.backoff_max_s)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._client: mqtt.Client | None = None
        self._address_index = 0
        self._address: BrokerAddress | None = None
        self._connected = False
        self._connect_started = 0.0
        self._next_attempt_at = 0.0
        self._window = settings.max_inflight
        self._inflight: dict[int, _InFlight] = {}
        self._backlog_cursor = 0
        self._live_start = 0
        self._live_cursor = 0
        self._publish_properties: Properties | None = None
        self._last_ack_at: float | None = None
        self._last_error: str | None = None
        # Errors logged since delivery last worked: each is logged once per outage.
        self._errors_logged: set[str] = set()
        self._event: tuple[str, str] | None = None
        self._refused = False
        self._online_pending = False
        self._stop_timeout_s = 5.0
        self._connect_attempts = 0
        self.connections = 0  # successful connections since start

    # ---- public API -----------------------------------------------------------------

    def start(self) -> None:
        """Start the delivery thread. Returns at once; connecting happens in the thread."""
        self._thread = threading.Thread(target=self._run, name="publisher", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Clean shutdown: publish the retained "offline" status, then disconnect.

        Waits at most timeout_s for the broker to acknowledge "offline"; records not
        yet acknowledged stay in the spool for the next start.
        """
        self._stop_timeout_s = timeout_s
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s + self.settings.connect_timeout_s + 1)

    def wait_drained(self, timeout_s: float) -> bool:
        """Wait until the spool holds nothing unacknowledged; return whether it happened."""
        deadline = time.monotonic() + timeout_s
        while self.spool.stats().depth_messages > 0:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)
        return True

    def health(self) -> DeliveryHealth:
        """Connection state, last acknowledgement, last error, spool depth and drops."""
        stats = self.spool.stats()
        age = None
        if stats.oldest_unsent_created_ms is not None:
            age = max(0.0, time.time() - stats.oldest_unsent_created_ms / 1000)
        return DeliveryHealth(
            connected=self._connected,
            broker_url=self._address.url if self._connected and self._address else None,
            last_ack_at=self._last_ack_at,
            last_error=self._last_error,
            failed_attempts=self._backoff.failures,
            connect_attempts=self._connect_attempts,
            inflight_window=self._window,
            spool=stats,
            oldest_unsent_age_s=age,
        )

    # ---- the delivery thread --------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._step()
            except Exception as exc:  # a bug must not silently end delivery: log, retry
                log.exception("publisher error")
                self._lost(f"{self._where()}: internal error ({type(exc).__name__})")
        self._shutdown()

    def _step(self) -> None:
        """One turn of the delivery loop: connect when due, or move bytes and fill."""
        if self._client is None:
            wait_s = self._next_attempt_at - time.monotonic()
            if wait_s > 0:
                self._stop.wait(min(wait_s, 0.2))
            else:
                self._begin_connect()
            return
        busy = bool(self._inflight) or not self._connected
        rc = self._client.loop(timeout=_BUSY_LOOP_TIMEOUT_S if busy else _IDLE_LOOP_TIMEOUT_S)
        if self._handle_event():
            return
        if rc != mqtt.MQTT_ERR_SUCCESS:
            self._lost(f"{self._where()}: connection lost ({mqtt.error_string(rc)})")
        elif self._connected:
            if self._online_pending:
                self._publish_online()
            self._fill_window()
        elif time.monotonic() - self._connect_started > self.settings.connect_timeout_s:
            self._failed(
                f"{self._where()}: no CONNACK within {self.settings.connect_timeout_s:g} s"
            )

    def _handle_event(self) -> bool:
        """Act on what a paho callback recorded; True if the connection was dropped.

        Callbacks run inside client.loop(), where tearing the client down is unsafe, so
        they only record what happened and the loop acts on it here.
        """
        event, self._event = self._event, None
        if event is None:
            return False
        kind, message = event
        if kind == "failed":
            self._failed(message)
        else:
            self._lost(message, refused=kind == "refused")
        return True

    def _where(self) -> str:
        return f"{self._address.host}:{self._address.port}" if self._address else "broker"

    def _begin_connect(self) -> None:
        address = self.addresses[self._address_index]
        self._address = address
        self._connect_attempts += 1
        try:
            client = new_client(self.settings, address, self.settings.max_inflight)
            offline = self.status_payload("offline")
            client.will_set(self.status_topic, offline, qos=1, retain=True)
            client.on_connect = self._on_connect
            client.on_publish = self._on_publish
            client.on_disconnect = self._on_disconnect
            self._client = client
            self._connect_started = time.monotonic()
            client.connect(address.host, address.port, keepalive=self.settings.keepalive_s)
        except Exception as exc:  # any failure to connect is retried, never fatal
            self._failed(describe_connect_error(address, self.settings, exc))

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.ConnectFlags,
        reason: mqtt.ReasonCode,
        properties: Properties | None,
    ) -> None:
        assert self._address is not None
        if reason.is_failure:
            message = describe_connack_refusal(self._address, self.settings, reason)
            self._event = ("failed", message)
            return
        receive_maximum = getattr(properties, "ReceiveMaximum", None) if properties else None
        self._window = min(self.settings.max_inflight, receive_maximum or 65535)
        self._connected = True
        self.connections += 1
        self._inflight.clear()
        # Everything unacknowledged goes again, oldest first.
        self._backlog_cursor = self.spool.oldest_unacked_rid()
        self._live_start = self._live_cursor = self.spool.next_rid
        self._publish_properties = None
        if self.settings.protocol == "5" and self.settings.live_expiry_s is not None:
            self._publish_properties = Properties(PacketTypes.PUBLISH)
            self._publish_properties.MessageExpiryInterval = self.settings.live_expiry_s
        message = f"connected to {self._address.url} (in-flight window {self._window})"
        if self._refused:
            # Still refused until an ack proves otherwise: do not log a flap per retry.
            log.debug("%s", message)
        else:
            self._log_up(message)
        self._last_error = None
        self._online_pending = True  # sent from the loop, not from inside paho's callback

    def refresh_status(self) -> None:
        """Publish the retained "online" status again (made afresh, so with the current
        loss totals) as soon as connected; thread-safe (a flag the loop reads)."""
        self._online_pending = True

    def _publish_online(self) -> None:
        self._online_pending = False
        try:
            online = self.status_payload("online")
        except Exception:  # no status is better than no data
            log.exception("building the online status failed; publishing data without it")
            return
        self._send(self.status_topic, online, None, _Lane.STATUS, retain=True)

    def _on_publish(
        self,
        client: mqtt.Client,
        userdata: Any,
        mid: int,
        reason: mqtt.ReasonCode,
        properties: Properties | None,
    ) -> None:
        entry = self._inflight.pop(mid, None)
        if entry is None:
            return
        # paho reports a PUBACK carrying a failure reason as "published": check it here.
        if reason.is_failure:
            assert self._address is not None
            self._event = ("refused", describe_publish_refusal(self._address, entry.topic, reason))
            return
        if entry.rid is not None:
            self.spool.ack(entry.rid)
            # Progress proves the broker takes our data: start backoff afresh next time.
            self._backoff.reset()
            if self._refused:
                self._refused = False
                self._log_up(f"{self._where()} accepts data again")
        self._last_ack_at = time.time()

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.DisconnectFlags,
        reason: mqtt.ReasonCode,
        properties: Properties | None,
    ) -> None:
        if self._client is not client or self._event is not None:
            return
        if self._connected:
            self._event = ("lost", f"{self._where()}: disconnected ({reason})")
        else:
            assert self._address is not None
            self._event = ("failed", describe_early_close(self._address, self.settings))

    # ---- filling the in-flight window -----------------------------------------------

    def _fill_window(self) -> None:
        free = self._window - len(self._inflight)
        if free <= 0:
            return
        backlog_pending = self._backlog_cursor < self._live_start
        live_cap = self._window
        if backlog_pending:
            live_cap = max(1, int(self._window * self.settings.live_share))
        live_inflight = sum(1 for e in self._inflight.values() if e.lane is _Lane.LIVE)
        live_slots = min(free, max(0, live_cap - live_inflight))
        if live_slots:
            for record in self.spool.read(self._live_cursor, live_slots):
                if not self._send(record.topic, record.payload, record.rid, _Lane.LIVE):
                    return
                self._live_cursor = record.rid + 1
                free -= 1
        if backlog_pending and free > 0:
            records = self.spool.read(self._backlog_cursor, free)
            for record in records:
                if record.rid >= self._live_start:
                    break
                if not self._send(record.topic, record.payload, record.rid, _Lane.BACKLOG):
                    return
                self._backlog_cursor = record.rid + 1
            else:
                if len(records) == free:
                    return  # window full; more backlog may follow
            self._backlog_cursor = self._live_start  # the backlog is all in flight or acked

    def _send(
        self, topic: str, payload: bytes, rid: int | None, lane: _Lane, retain: bool = False
    ) -> bool:
        assert self._client is not None
        properties = self._publish_properties if lane is not _Lane.STATUS else None
        info = self._client.publish(topic, payload, qos=1, retain=retain, properties=properties)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            self._lost(f"{self._where()}: publish failed ({mqtt.error_string(info.rc)})")
            return False
        self._inflight[info.mid] = _InFlight(rid, lane, topic)
        return True

    # ---- failures and state ---------------------------------------------------------

    def _failed(self, message: str) -> None:
        """A connection attempt failed: next URL, back off."""
        self._drop_client()
        self._address_index = (self._address_index + 1) % len(self.addresses)
        self._schedule_retry(message)

    def _lost(self, message: str, refused: bool = False) -> None:
        """An established connection ended (or must end): back to the first URL, back off.

        refused: the broker refused a publish; the refusal persists until someone fixes
        the broker's ACL, so the backoff keeps growing instead of restarting.
        """
        self._refused = self._refused or refused
        was_connected = self._connected
        self._drop_client()
        self._address_index = 0
        if was_connected and not self._refused:
            self._backoff.reset()
        self._schedule_retry(message)

    def _schedule_retry(self, message: str) -> None:
        delay_s = self._backoff.next_delay_s()
        self._next_attempt_at = time.monotonic() + delay_s
        self._last_error = message
        # A broker down for an hour is one line, not one per attempt.
        if message not in self._errors_logged:
            self._errors_logged.add(message)
            log.error("%s; retrying with backoff (next in %.1f s)", message, delay_s)

    def _drop_client(self) -> None:
        client, self._client = self._client, None
        self._connected = False
        self._inflight.clear()
        if client is not None:
            client.on_disconnect = None
            try:
                client.disconnect()
            except Exception:  # the socket may already be gone; nothing to save
                log.debug("disconnect of a dead client failed", exc_info=True)
            client.loop(timeout=0)

    def _log_up(self, message: str) -> None:
        log.info("%s", message)
        self._errors_logged.clear()

    def _shutdown(self) -> None:
        client = self._client
        if client is None or not self._connected:
            self._drop_client()
            return
        timeout_s = self._stop_timeout_s
        info = client.publish(self.status_topic, self.status_payload("offline"), qos=1, retain=True)
        self._inflight[info.mid] = _InFlight(None, _Lane.STATUS, self.status_topic)
        deadline = time.monotonic() + timeout_s
        while info.mid in self._inflight and self._event is None:
            if time.monotonic() >= deadline:
                break
            client.loop(timeout=_BUSY_LOOP_TIMEOUT_S)
        log.info("disconnected from %s (clean shutdown)", self._where())
        self._drop_client()
