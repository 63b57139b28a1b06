"""Build payloads: FlowRecords and figures in, deterministic CBOR bytes out (not signed).

How a flows payload gets small (docs/WIRE.md has the numbers):
- the batch's flows are sorted by (ts, serial), so each flow stores its start time and
  serial as a small delta from the previous flow's (the first from the base time / 0);
- addresses are listed once per batch and flows refer to them by index;
- what many flows share (protocol, conn_state, history, TCP flags, end reason,
  service, VLANs) is one "shape" per batch, and a flow refers to it by index;
- the ends' MACs likewise: a MAC table and a table of (orig, resp) MAC pairs per batch,
  and a flow that carries MACs appends its pair's index (absent: no MAC seen);
- every number is an unsigned integer in its shortest CBOR form; times are microseconds,
  the engine's unit, so a decoded record is exactly the record the engine produced.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any

from agent import __version__
from agent.flowrecord import FlowRecord
from agent.wire import schema
from agent.wire.canonical import check_map_keys, dumps

HealthValue = int | float | bool | str


@dataclass(frozen=True, slots=True)
class SensorIdentity:
    """Who sends: fixed for one agent process (boot_id is random per start, 16 bytes).

    boot_count: the sensor's persistent boot counter for its key id (agent.bootcount),
    +1 per start; consumers reject a boot older than those they remember (replays).
    None only for tools and tests: a message without it has no replay protection."""

    sensor_id: str
    site: str
    wing: str
    boot_id: bytes
    boot_count: int | None = None

    def __post_init__(self) -> None:
        if len(self.boot_id) != schema.BOOT_ID_BYTES:
            raise ValueError(f"boot_id must be {schema.BOOT_ID_BYTES} bytes")
        if self.boot_count is not None and not 0 <= self.boot_count <= schema.UINT64_MAX:
            raise ValueError("boot_count must be an unsigned 64-bit integer")


@dataclass(frozen=True, slots=True)
class BatchInfo:
    """What every data message carries besides its records.

    seq: per boot, from 0, +1 per data message of any data kind.
    window_start_us / window_end_us: the batch window, epoch microseconds.
    counters: the engine's counters for the window (deltas), by name.
    losses: what was dropped since the previous data message (e.g. spool_messages),
    so a consumer learns of losses in the next message that does get through.
    previous_boot_last_seq: in a boot's first message (seq 0) only, the last seq the
    previous boot stored, so a consumer knows how that boot ended (None: not sent).
    """

    seq: int
    window_start_us: int
    window_end_us: int
    counters: Mapping[str, int] = field(default_factory=dict)
    losses: Mapping[str, int] = field(default_factory=dict)
    previous_boot_last_seq: int | None = None


def _common(kind: str, identity: SensorIdentity) -> dict[int, Any]:
    out: dict[int, Any] = {
        schema.KEY_VERSION: schema.SCHEMA_VERSION,
        schema.KEY_KIND: kind,
        schema.KEY_SENSOR: identity.sensor_id,
        schema.KEY_SITE: identity.site,
        schema.KEY_WING: identity.wing,
        schema.KEY_BOOT: identity.boot_id,
    }
    if identity.boot_count is not None:
        out[schema.KEY_BOOT_COUNT] = identity.boot_count
    return out


def _data_common(kind: str, identity: SensorIdentity, batch: BatchInfo) -> dict[int, Any]:
    out = _common(kind, identity)
    for name, value in (*batch.counters.items(), *batch.losses.items()):
        if type(name) is not str:
            raise ValueError(f"counter name {name!r} must be text")
        if not (isinstance(value, int) and 0 <= value <= schema.UINT64_MAX):
            raise ValueError(f"counter {name!r} must be an unsigned 64-bit integer, not {value!r}")
    out[schema.KEY_SEQ] = batch.seq
    out[schema.KEY_WINDOW_START_US] = batch.window_start_us
    out[schema.KEY_WINDOW_END_US] = batch.window_end_us
    out[schema.KEY_COUNTERS] = dict(batch.counters)
    out[schema.KEY_LOSSES] = dict(batch.losses)
    if batch.seq == 0 and batch.previous_boot_last_seq is not None:
        out[schema.KEY_PREVIOUS_BOOT_LAST_SEQ] = batch.previous_boot_last_seq
    return out


_by_time = attrgetter("ts_us", "serial")
_shape_of = attrgetter(*schema.SHAPE_FIELDS)
_counters_of = attrgetter(*schema.FLOW_FIELDS[8:])
_l2_of = attrgetter("orig_l2_addr", "resp_l2_addr")
_FLOW_WIDTH = len(schema.FLOW_FIELDS)
_NO_L2 = (None, None)


def encode_flow_batch(
    records: Iterable[FlowRecord], identity: SensorIdentity, batch: BatchInfo
) -> bytes:
    """A `flows` payload for `records` (any order; sent sorted by ts, serial).

    Raises ValueError for an address that is not 4 or 16 bytes or a bad counter.
    """
    ordered = sorted(records, key=_by_time)
    addresses: dict[bytes, int] = {}
    shapes: dict[tuple[Any, ...], int] = {}
    l2_pairs: dict[tuple[bytes | None, bytes | None], int] = {}
    l2_uses: list[int] = []  # flows per pair
    l2_rows: list[list[int]] = []  # the rows that carry a pair index
    rows: list[list[int]] = []
    names: dict[str, int] = {}
    base_time_us = ordered[0].ts_us if ordered else batch.window_start_us
    prev_ts, prev_serial = base_time_us, 0
    # The hot loop: C-level attrgetters and dict lookups only (see bench/bench_wire.py).
    for r in ordered:
        shape_key = _shape_of(r)
        shape = shapes.get(shape_key)
        if shape is None:
            shape = shapes[shape_key] = len(shapes)
        orig = addresses.get(r.orig_addr)
        if orig is None:
            orig = addresses[_checked(r.orig_addr)] = len(addresses)
        resp = addresses.get(r.resp_addr)
        if resp is None:
            resp = addresses[_checked(r.resp_addr)] = len(addresses)
        ts_us, serial = r.ts_us, r.serial
        row = [
            serial - prev_serial,
            ts_us - prev_ts,
            r.duration_us,
            shape,
            orig,
            r.orig_port,
            resp,
            r.resp_port,
            *_counters_of(r),
        ]
        l2 = _l2_of(r)
        if l2 != _NO_L2:
            pair = l2_pairs.get(l2)
            if pair is None:
                pair = l2_pairs[_checked_l2(l2)] = len(l2_pairs)
                l2_uses.append(0)
            l2_uses[pair] += 1
            row.append(pair)
            l2_rows.append(row)
        name = r.server_name
        if name is not None:
            index = names.get(name)
            if index is None:
                index = names[_checked_name(name)] = len(names)
            if len(row) == _FLOW_WIDTH:
                row.append(None)  # type: ignore[arg-type]  # no MACs: null, then the name
            row.append(index)
        rows.append(row)
        prev_ts, prev_serial = ts_us, serial
    payload = _data_common(schema.KIND_FLOWS, identity, batch)
    payload[schema.KEY_BASE_TIME_US] = base_time_us
    payload[schema.KEY_ADDRESSES] = list(addresses)
    payload[schema.KEY_SHAPES] = [list(key) for key in shapes]
    payload[schema.KEY_FLOWS] = rows
    if l2_pairs:
        # The most used pairs first: indices below 24 take one CBOR byte, the rest two.
        order = sorted(range(len(l2_uses)), key=lambda i: (-l2_uses[i], i))
        new_index = [0] * len(order)
        for position, old in enumerate(order):
            new_index[old] = position
        for row in l2_rows:
            row[_FLOW_WIDTH] = new_index[row[_FLOW_WIDTH]]
        pairs = list(l2_pairs)
        macs: dict[bytes, int] = {}
        payload[schema.KEY_L2_PAIRS] = [
            [None if m is None else macs.setdefault(m, len(macs)) for m in pairs[old]]
            for old in order
        ]
        payload[schema.KEY_MACS] = list(macs)
    if names:
        payload[schema.KEY_SERVER_NAMES] = list(names)
    return dumps(payload)


def _checked(addr: bytes) -> bytes:
    if len(addr) not in (4, 16):
        raise ValueError(f"an address must be 4 or 16 bytes, got {len(addr)}")
    return addr


def _checked_name(name: str) -> str:
    if not 0 < len(name) <= schema.SERVER_NAME_MAX:
        raise ValueError(f"a server name must be 1-{schema.SERVER_NAME_MAX} characters")
    return name


def _checked_l2(pair: tuple[bytes | None, bytes | None]) -> tuple[bytes | None, bytes | None]:
    for mac in pair:
        if mac is not None and len(mac) != schema.MAC_BYTES:
            raise ValueError(f"a MAC must be {schema.MAC_BYTES} bytes, got {len(mac)}")
    return pair


def encode_health(
    figures: Mapping[str, HealthValue | None], identity: SensorIdentity, batch: BatchInfo
) -> bytes:
    """A `health` payload: named figures (numbers, booleans, text); None values omitted.

    Raises ValueError for a figure of another type.
    """
    items: dict[str, HealthValue] = {}
    for name, value in figures.items():
        if type(name) is not str:
            raise ValueError(f"health figure name {name!r} must be text")
        if value is None:
            continue
        if not isinstance(value, int | float | bool | str):
            raise ValueError(f"health figure {name!r} has unsupported type {type(value).__name__}")
        if isinstance(value, int) and not isinstance(value, bool) and value < 0:
            raise ValueError(f"health figure {name!r} must not be negative")
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"health figure {name!r} must be a finite number")
        items[name] = value
    payload = _data_common(schema.KIND_HEALTH, identity, batch)
    payload[schema.KEY_ITEMS] = items
    return dumps(payload)


def encode_devices(
    devices: Sequence[Mapping[str, Any]], identity: SensorIdentity, batch: BatchInfo
) -> bytes:
    """A `devices` payload; each device a map of named observations (see the CDDL)."""
    payload = _data_common(schema.KIND_DEVICES, identity, batch)
    payload[schema.KEY_ITEMS] = items = [dict(d) for d in devices]
    check_map_keys(items)
    return dumps(payload)


def encode_alerts(
    alerts: Sequence[Mapping[str, Any]], identity: SensorIdentity, batch: BatchInfo
) -> bytes:
    """An `alerts` payload; each alert a map with at least "rule" (see the CDDL)."""
    payload = _data_common(schema.KIND_ALERTS, identity, batch)
    payload[schema.KEY_ITEMS] = items = [dict(a) for a in alerts]
    check_map_keys(items)
    return dumps(payload)


def encode_status(
    state: str,
    identity: SensorIdentity,
    time_us: int,
    agent_version: str = __version__,
    losses: Mapping[str, int] | None = None,
    missing_interfaces: Sequence[str] = (),
) -> bytes:
    """A `status` payload ("online", or "offline" for the last will); no sequence number.

    It names the agent version, so the central side sees what runs where (the schema
    version is key 0, the key id is in the COSE header).

    `time_us` is when it was made (for the will: when connecting). `losses`: the
    sensor's cumulative loss totals (status is never spooled, so they cannot be dropped
    with the data they count). `missing_interfaces`: capture interfaces that are not there
    now (an optional USB adapter not plugged in). Raises ValueError for an unknown state.
    """
    if state not in schema.STATUS_STATES:
        raise ValueError(f"status state must be one of {schema.STATUS_STATES}, not {state!r}")
    payload = _common(schema.KIND_STATUS, identity)
    payload[schema.KEY_STATE] = state
    payload[schema.KEY_TIME_US] = time_us
    payload[schema.KEY_AGENT_VERSION] = agent_version
    if losses is not None:
        for name, value in losses.items():
            if not (isinstance(value, int) and 0 <= value <= schema.UINT64_MAX):
                raise ValueError(f"loss total {name!r} must be an unsigned 64-bit integer")
        payload[schema.KEY_LOSS_TOTALS] = dict(losses)
    if missing_interfaces:
        payload[schema.KEY_MISSING_INTERFACES] = list(missing_interfaces)
    return dumps(payload)
