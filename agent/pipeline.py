"""The whole pipeline for one configuration: capture -> flows -> batch -> sign -> spool -> publish.

`Pipeline` wires the parts together; `run_replay` (here) and `agent.daemon.Daemon` (live)
drive them. The engine is polled on this (the main) thread; the publisher drains the
spool on its own thread, so capture never waits on the network. Packet time drives
windows in a replay, the wall clock when live (the engine itself always expires flows on
packet time).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import asdict

from agent.batcher import FlowWindow, FlowWindows
from agent.bootcount import BootCounter
from agent.config import AgentConfig
from agent.config.adapters import engine_settings, mqtt_settings, spool_settings
from agent.cose import Signer
from agent.devices import DeviceInventory, HostnameHasher, NamePrivacy, ServerNamePrivacy
from agent.engine import Engine, EngineCounters, FlowBatch
from agent.health import SystemSampler
from agent.publish.publisher import Publisher
from agent.shipper import Shipper
from agent.spool import Spool
from agent.wire import KIND_STATUS, SensorIdentity
from agent.wire.encode import HealthValue

log = logging.getLogger(__name__)

# Gauges and limits: reported in health as they are, never as per-message deltas.
_GAUGES = frozenset({"flows_active", "max_flows"})
LIVE_POLL_MS = 200
PACE_SLEEP_S = 0.005  # a paced replay's nap while packet time catches up
DEVICES_PER_MESSAGE = 200  # a snapshot of a big wing goes out in several messages


def cumulative_counters(counters: EngineCounters) -> dict[str, int]:
    """The engine's counters that only grow (sent as deltas in each data message)."""
    return {name: value for name, value in asdict(counters).items() if name not in _GAUGES}


def _rounded(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds, 1)


class Every:
    """Something the pipeline does every `interval_s` on its clock (packet time in a
    replay, the wall clock live), counted from when it last did it, and the window of
    time that each message covers.

    The clock is only known once the first packet (or live poll) arrives, so nothing is
    due until `start` has seen it.
    """

    def __init__(self, interval_s: float) -> None:
        self.interval_us = int(interval_s * 1_000_000)
        self._due_us: int | None = None
        self._window_start_us: int | None = None

    def start(self, now_us: int) -> bool:
        """Start the clock at `now_us` on the first call (True); later calls do nothing
        (False)."""
        if self._due_us is not None:
            return False
        self._due_us = now_us + self.interval_us
        self._window_start_us = now_us
        return True

    def is_due(self, now_us: int) -> bool:
        """True when a full interval has passed since the start or the last restart."""
        return self._due_us is not None and now_us >= self._due_us

    def restart(self, now_us: int) -> None:
        """Done at `now_us`: the next one is due a full interval later."""
        self._due_us = now_us + self.interval_us

    def take_window(self, now_us: int) -> int:
        """The start of the window that ends at `now_us` (`now_us` itself before `start`);
        the next window starts at `now_us`."""
        window_start_us = now_us if self._window_start_us is None else self._window_start_us
        self._window_start_us = now_us
        return window_start_us


class Pipeline:
    """Every part of the agent for one configuration and one sensor boot.

    Raises UsageError (via the parts) when the key, spool or broker settings are unusable.
    """

    def __init__(
        self, config: AgentConfig, boot_id: bytes | None = None, first_seq: int = 0
    ) -> None:
        self.config = config
        signer = Signer.from_file(config.signing.key)
        self.kid = signer.kid
        self.spool = Spool.open(spool_settings(config))
        # Counted beside the spool, per key id (wire schema 2): a reload keeps its boot.
        boots = BootCounter.resume if boot_id else BootCounter.start
        self.boots = boots(config.spool.dir, signer.kid)
        self.identity = SensorIdentity(
            config.sensor.id,
            config.sensor.site,
            config.sensor.wing,
            boot_id or os.urandom(16),
            self.boots.count,
        )
        self.shipper = Shipper(
            self.identity, config.mqtt.topic_prefix, signer, self.spool, first_seq
        )
        self.shipper.previous_boot_last_seq = self.boots.previous_last_seq
        self.publisher = Publisher(
            mqtt_settings(config),
            self.spool,
            self.shipper.topic(KIND_STATUS),
            self.shipper.status_message,
        )
        self.engine = Engine(engine_settings(config))
        # Device observations (agent/devices.py): changes every batch window, a full
        # snapshot every [devices] snapshot_interval_s, on the same clock as the flows.
        self.inventory: DeviceInventory | None = None
        self.names_hash_secret: str | None = None  # "site" or "own", for health
        # Server names exist only with extraction on; [privacy] tls_sni applies to them.
        self.server_names: ServerNamePrivacy | None = None
        if self.engine.devices_enabled:
            self.engine.collect_device_events()
            privacy = config.privacy
            hasher, self.names_hash_secret = HostnameHasher.for_sensor(
                privacy.hostname_hash_secret_file, config.spool.dir
            )
            self.inventory = DeviceInventory(
                config.devices.max_devices,
                hasher,
                privacy=NamePrivacy(privacy.hostnames, privacy.tls_sni, privacy.http_user_agent),
            )
            self.server_names = ServerNamePrivacy(privacy.tls_sni, hasher)
        self._device_changes = Every(config.batch.window_s)
        self._device_snapshots = Every(config.devices.snapshot_interval_s)
        # Finished flows go from the engine's ring into the open window's batch in C, and
        # leave it encoded (wire schema 3): no flow becomes a Python object here.
        self.windows = FlowWindows(config.batch.window_s, config.batch.max_records)
        names = self.server_names
        self.flow_batch = FlowBatch(collect_names=names is not None and names.collects)
        self.sampler = SystemSampler(str(config.spool.dir))
        self.flows_shipped = 0
        self._health = Every(config.health.interval_s)
        self._status_dropped_messages = 0
        self.extra_health: Callable[[], dict[str, HealthValue | None]] = dict

    # ---- the per-iteration steps ------------------------------------------------------

    def step(self, now_us: int) -> None:
        """After a poll: batch the flows waiting in the engine, ship every window that is
        complete at `now_us`, and devices and health when due."""
        self.take_flows(now_us)
        self.maybe_ship_devices(now_us)
        self.maybe_ship_health(now_us)

    def take_flows(self, now_us: int) -> None:
        """Move the flows waiting in the engine into the open window (its batch in C),
        shipping the window when the clock passed its end (first) or when it is full."""
        self._ship(self.windows.tick(now_us))
        while True:
            taken = self.engine.take_into(self.flow_batch, self.windows.room)
            if not taken:
                return
            self._ship(self.windows.add(taken, now_us))

    def maybe_ship_devices(self, now_us: int, final: bool = False) -> None:
        """Ship device changes once per batch window (or now, when final), and a full
        snapshot once per snapshot interval."""
        if self.inventory is None:
            return
        if self._device_changes.start(now_us):
            self._device_snapshots.start(now_us)
            if not final:
                return
        if self._device_snapshots.is_due(now_us):
            self.inventory.absorb(self.engine.take_device_events(), self.engine.devices(True))
            devices = self.inventory.snapshot(self.engine.devices())
            self._device_snapshots.restart(now_us)
        elif final or self._device_changes.is_due(now_us):
            devices = self.inventory.absorb(
                self.engine.take_device_events(), self.engine.devices(True)
            )
        else:
            return
        self._device_changes.restart(now_us)
        start = self._device_changes.take_window(now_us)
        counters = cumulative_counters(self.engine.counters())
        for first in range(0, len(devices), DEVICES_PER_MESSAGE):
            chunk = devices[first : first + DEVICES_PER_MESSAGE]
            self.shipper.ship_devices(chunk, start, now_us, counters)

    def maybe_ship_health(self, now_us: int) -> None:
        """Ship a health message once [health] interval_s has passed since the last one
        (the first call only starts the clock)."""
        if self._health.start(now_us):
            return
        if self._health.is_due(now_us):
            self.ship_health(now_us)
            self._health.restart(now_us)

    def ship_health(self, now_us: int) -> None:
        """Ship a health message now, covering the time since the last one."""
        start = self._health.take_window(now_us)
        counters = self.engine.counters()
        self.shipper.ship_health(
            self.health_figures(counters), start, now_us, cumulative_counters(counters)
        )
        self.boots.record_last_seq(self.shipper.next_seq - 1)
        # The health message itself may be dropped (drop_newest): a new loss also goes
        # out in the retained status, which is never spooled.
        dropped = self.spool.stats().dropped_messages
        if dropped != self._status_dropped_messages:
            self._status_dropped_messages = dropped
            self.publisher.refresh_status()

    def finish(self, now_us: int) -> None:
        """End every flow (reason `forced`) and ship what is left, then a last health."""
        self.take_flows(now_us)
        while self.engine.flush_step():
            self.take_flows(now_us)
        self.take_flows(now_us)
        self._ship(self.windows.drain(now_us))
        self.maybe_ship_devices(now_us, final=True)
        self.ship_health(now_us)

    def _ship(self, window: FlowWindow | None) -> None:
        if window is None:
            return
        counters = cumulative_counters(self.engine.counters())
        names = self.server_names.names if self.server_names is not None else None
        self.shipper.ship_flow_batch(
            self.flow_batch, window.start_us, window.end_us, counters, names
        )
        self.flows_shipped += len(self.flow_batch)  # window.count, unless a take failed
        self.flow_batch.clear()

    def health_figures(self, counters: EngineCounters) -> dict[str, HealthValue | None]:
        """Everything the `health` message says, flat and named (docs/WIRE.md lists them)."""
        system = self.sampler.sample()
        delivery = self.publisher.health()
        spool = delivery.spool
        figures: dict[str, HealthValue | None] = {
            "agent_cpu_percent": round(system.agent_cpu_percent, 1),
            "agent_rss_bytes": system.agent_rss_bytes,
            "box_cpu_percent": round(system.box_cpu_percent, 1),
            "box_memory_percent": round(system.box_memory_percent, 1),
            "box_load_1m": round(system.box_load_1m, 2),
            "temperature_c": system.temperature_c,
            "spool_disk_free_bytes": system.spool_disk_free_bytes,
            "clock_synchronized": system.clock_synchronized,
            "agent_uptime_s": int(system.agent_uptime_s),
            "box_uptime_s": int(system.box_uptime_s),
            "packets_seen": counters.packets_seen,
            "kernel_drops": counters.kernel_drops,
            "interface_drops": counters.interface_drops,
            "malformed": counters.malformed,
            "truncated": counters.truncated,
            "flows_active": counters.flows_active,
            "max_flows": counters.max_flows,
            "flows_evicted": counters.flows_ended_resources,
            "hash_keys_from_clock": self.engine.hash_keys_from_clock,
            "spool_depth_messages": spool.depth_messages,
            "spool_depth_bytes": spool.depth_bytes,
            "spool_dropped_messages": spool.dropped_messages,
            "spool_dropped_bytes": spool.dropped_bytes,
            "oldest_unsent_age_s": _rounded(delivery.oldest_unsent_age_s),
            "broker_connected": delivery.connected,
            "broker_url": delivery.broker_url,
            "last_ack_age_s": _rounded(
                None if delivery.last_ack_at is None else time.time() - delivery.last_ack_at
            ),
        }
        figures["names_hash_secret"] = self.names_hash_secret
        figures.update(self.engine.device_counters())
        figures.update(self.extra_health())
        return figures

    def close(self, publish_timeout_s: float) -> None:
        """Stop delivery (publishing "offline"), close the engine and the spool."""
        self.publisher.stop(publish_timeout_s)
        self.boots.record_last_seq(self.shipper.next_seq - 1)
        self.engine.close()
        self.spool.close()


class _Pace:
    """Where packet time may have got to, replaying at `speed` times real time."""

    def __init__(self, speed: float) -> None:
        self._speed = speed
        self._first_packet_us: int | None = None
        self._started = 0.0

    def until_us(self, engine: Engine) -> int:
        if self._first_packet_us is None:
            if engine.clock_us == 0:
                return 1  # read just the first frame, to learn when the capture starts
            self._first_packet_us = engine.clock_us
            self._started = time.monotonic()
        elapsed_s = time.monotonic() - self._started
        return self._first_packet_us + int(elapsed_s * self._speed * 1_000_000)


def run_replay(
    pipeline: Pipeline, capture: str, speed: float | None, drain_timeout_s: float
) -> bool:
    """The full pipeline over a capture file, windows on packet time.

    speed: None = as fast as possible, else X times real time. Returns True when every
    message was acknowledged by the broker within drain_timeout_s (else they stay spooled).
    Raises UsageError for an unreadable capture, CaptureError for a truncated one (after
    shipping every flow read up to the cut).
    """
    engine = pipeline.engine
    engine.open_file(capture)
    pipeline.publisher.start()
    pace = _Pace(speed) if speed is not None else None
    # Read at most one batch window of packet time per poll, even as fast as possible:
    # records then reach the batcher in the windows that saw them end, as live capture
    # would hand them over, instead of a whole file's worth in one window.
    step_us = int(pipeline.config.batch.window_s * 1_000_000)
    try:
        while not engine.exhausted:
            if pace is not None:
                until_us = pace.until_us(engine)
            else:
                until_us = engine.clock_us + step_us if engine.clock_us else 1
            engine.poll_pending(pace_until_us=until_us)
            pipeline.step(engine.clock_us)
            if pace is not None and engine.paced:
                time.sleep(PACE_SLEEP_S)
    finally:
        pipeline.finish(engine.clock_us)
    return pipeline.publisher.wait_drained(drain_timeout_s)
