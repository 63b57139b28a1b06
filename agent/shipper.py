"""Data messages out of the pipeline: encode, sign, number, spool.

The shipper owns the per-boot sequence (from 0, +1 per data message of any kind) and
the bookkeeping that makes loss visible: engine counters go out as deltas per message,
and batches the spool had to drop are reported in the next data message that is stored.
A message the spool refuses (drop_newest on a full spool) takes none of these reports
with it: its deltas and drop figures go into the next message that is stored, and the
cumulative totals are in every health and status message (`loss_totals`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from operator import attrgetter
from typing import TYPE_CHECKING, Any

from agent.cose import Signer
from agent.flowrecord import FlowRecord
from agent.spool import DropCount, Spool
from agent.wire import (
    KIND_DEVICES,
    KIND_FLOWS,
    KIND_HEALTH,
    KIND_STATUS,
    BatchInfo,
    SensorIdentity,
    encode_devices,
    encode_flow_batch,
    encode_health,
    encode_status,
    topic_for,
)
from agent.wire.encode import HealthValue, join_flows_payload
from agent.wire.schema import MAX_PAYLOAD_BYTES

if TYPE_CHECKING:
    from agent.engine import FlowBatch

_by_time = attrgetter("ts_us", "serial")


class Shipper:
    """Builds signed messages for one sensor boot and appends data messages to the spool."""

    def __init__(
        self,
        identity: SensorIdentity,
        topic_prefix: str,
        signer: Signer,
        spool: Spool,
        first_seq: int = 0,
    ) -> None:
        """first_seq continues the sequence of this boot (a configuration reload)."""
        self.identity = identity
        self.signer = signer
        self.spool = spool
        self._topic_prefix = topic_prefix
        self.next_seq = first_seq
        # The boot's first message (seq 0) says how the previous boot ended (schema 2).
        self.previous_boot_last_seq: int | None = None
        self._reported_counters: dict[str, int] = {}
        self.missing_interfaces: tuple[str, ...] = ()  # named in status (the daemon sets it)

    def topic(self, kind: str) -> str:
        """This sensor's topic for a message kind (flows, devices, health, status)."""
        identity = self.identity
        return topic_for(self._topic_prefix, identity.site, identity.wing, identity.sensor_id, kind)

    def ship_flows(
        self,
        records: Sequence[FlowRecord],
        window_start_us: int,
        window_end_us: int,
        counters: Mapping[str, int],
    ) -> None:
        """One `flows` message: the records and the engine counters' change since the
        last; several, in time order, when one would exceed MAX_PAYLOAD_BYTES."""
        ordered = sorted(records, key=_by_time)
        self._ship_within_limit(
            KIND_FLOWS, ordered, encode_flow_batch, window_start_us, window_end_us, counters
        )

    def ship_flow_batch(
        self,
        batch: FlowBatch,
        window_start_us: int,
        window_end_us: int,
        counters: Mapping[str, int],
        server_names: Callable[[list[str]], list[str]] | None = None,
    ) -> None:
        """ship_flows() for the records of a FlowBatch, which C encodes (the daemon's
        path): Python adds the envelope, the server names (after `server_names`, the
        [privacy] treatment) and signs. The same messages, bytes and halving as
        ship_flows() would make of those records."""
        parts = [(0, len(batch))]
        while parts:
            start, stop = parts.pop(0)
            info, drops = self._next_batch(window_start_us, window_end_us, counters)
            payload = self._flows_payload(batch, start, stop, info, server_names)
            while len(payload) > MAX_PAYLOAD_BYTES and stop - start > 1:
                middle = start + (stop - start) // 2
                parts.insert(0, (middle, stop))
                stop = middle
                payload = self._flows_payload(batch, start, stop, info, server_names)
            self._spool(KIND_FLOWS, info, drops, counters, payload)

    def _flows_payload(
        self,
        batch: FlowBatch,
        start: int,
        stop: int,
        info: BatchInfo,
        server_names: Callable[[list[str]], list[str]] | None,
    ) -> bytes:
        fragment, entries, names = batch.encode(start, stop)
        if names is not None and server_names is not None:
            names = server_names(names)
        return join_flows_payload(self.identity, info, fragment, entries, names)

    def ship_devices(
        self,
        devices: Sequence[Mapping[str, Any]],
        window_start_us: int,
        window_end_us: int,
        counters: Mapping[str, int],
    ) -> None:
        """One `devices` message (or several, as for flows): device observations
        (agent/devices.py DeviceRecord)."""
        self._ship_within_limit(
            KIND_DEVICES, list(devices), encode_devices, window_start_us, window_end_us, counters
        )

    def _ship_within_limit(
        self,
        kind: str,
        items: list[Any],
        encode: Callable[[Any, SensorIdentity, BatchInfo], bytes],
        window_start_us: int,
        window_end_us: int,
        counters: Mapping[str, int],
    ) -> None:
        # The wire's one byte limit (docs/WIRE.md): a part too big is halved until it
        # fits; each part is its own message with its own seq. The first part carries
        # the counter deltas and drop reports, the next ones find nothing new to report.
        parts = [items]
        while parts:
            part = parts.pop(0)
            batch, drops = self._next_batch(window_start_us, window_end_us, counters)
            payload = encode(part, self.identity, batch)
            while len(payload) > MAX_PAYLOAD_BYTES and len(part) > 1:
                part, rest = part[: len(part) // 2], part[len(part) // 2 :]
                parts.insert(0, rest)
                payload = encode(part, self.identity, batch)
            self._spool(kind, batch, drops, counters, payload)

    def ship_health(
        self,
        figures: Mapping[str, HealthValue | None],
        window_start_us: int,
        window_end_us: int,
        counters: Mapping[str, int],
    ) -> None:
        """One `health` message with the figures (and the counters' change, like flows)."""
        batch, drops = self._next_batch(window_start_us, window_end_us, counters)
        self._spool(
            KIND_HEALTH, batch, drops, counters, encode_health(figures, self.identity, batch)
        )

    def status_message(self, state: str) -> bytes:
        """The signed retained `status` message ("online"/"offline"); never spooled, so
        its loss totals reach the broker even when the spool drops every data message."""
        payload = encode_status(
            state,
            self.identity,
            int(time.time() * 1e6),
            losses=self.loss_totals(),
            missing_interfaces=self.missing_interfaces,
        )
        return self.signer.sign(payload, self.topic(KIND_STATUS))

    def loss_totals(self) -> dict[str, int]:
        """Everything lost so far, cumulative: messages and bytes the spool dropped since it
        was made (full, or cut as damaged when reopened), and the capture's drops this boot
        as last stored in a data message."""
        stats = self.spool.stats()
        totals = {
            "spool_dropped_messages": stats.dropped_messages,
            "spool_dropped_bytes": stats.dropped_bytes,
        }
        for name in ("kernel_drops", "interface_drops"):
            if name in self._reported_counters:
                totals[name] = self._reported_counters[name]
        return totals

    def _next_batch(
        self, window_start_us: int, window_end_us: int, counters: Mapping[str, int]
    ) -> tuple[BatchInfo, DropCount]:
        deltas = {
            name: value - self._reported_counters.get(name, 0)
            for name, value in counters.items()
            if value != self._reported_counters.get(name, 0)
        }
        drops = self.spool.unreported_drops()
        losses = {}
        if drops.messages:
            losses = {"spool_messages": drops.messages, "spool_bytes": drops.bytes}
        seq = self.next_seq
        self.next_seq += 1
        previous = self.previous_boot_last_seq if seq == 0 else None
        return BatchInfo(seq, window_start_us, window_end_us, deltas, losses, previous), drops

    def _spool(
        self,
        kind: str,
        batch: BatchInfo,
        drops: DropCount,
        counters: Mapping[str, int],
        payload: bytes,
    ) -> None:
        topic = self.topic(kind)
        rid = self.spool.append(
            topic, kind, batch.seq, self.signer.sign(payload, topic), reports=drops
        )
        # Reported only once stored: a dropped message's deltas go in the next one.
        if rid is not None:
            self._reported_counters.update(counters)
