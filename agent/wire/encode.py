"""Build payloads: FlowRecords and figures in, deterministic CBOR bytes out (not signed).

A payload is one map: the envelope (keys 0-12: who sends, the sequence, the window,
counters and losses; the same for every kind) and the kind's body (keys 16 up).
Flows (schema 3): agent.wire.columns writes the body's entries 16-27 as a fragment, and
`join_payload` puts envelope, fragment and the server names (key 28) together; the C
encoder's fragment goes through the same join, so both paths give the same bytes.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from agent import __version__
from agent.flowrecord import FlowRecord
from agent.wire import schema
from agent.wire.canonical import check_map_keys, dumps
from agent.wire.columns import encode_flows_fragment, map_entries, map_header

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
    out[schema.KEY_COUNTERS] = counter_ids(batch.counters)
    out[schema.KEY_LOSSES] = dict(batch.losses)
    if batch.seq == 0 and batch.previous_boot_last_seq is not None:
        out[schema.KEY_PREVIOUS_BOOT_LAST_SEQ] = batch.previous_boot_last_seq
    return out


def counter_ids(counters: Mapping[str, int]) -> dict[int, int]:
    """Schema 3's key 9: the counters by id (their position in schema.COUNTER_NAMES).
    Raises ValueError for a name without an id."""
    out = {}
    for name, value in counters.items():
        counter_id = schema.COUNTER_IDS.get(name)
        if counter_id is None:
            raise ValueError(
                f"counter {name!r} has no id in the wire schema (agent/wire/schema.py "
                "COUNTER_NAMES): append it there"
            )
        out[counter_id] = value
    return out


def flows_envelope(identity: SensorIdentity, batch: BatchInfo) -> dict[int, Any]:
    """A flows payload's envelope (keys 0-12), to go with a body fragment through
    join_payload. Raises ValueError for a bad counter or loss, or a counter without id."""
    return _data_common(schema.KIND_FLOWS, identity, batch)


def join_payload(
    envelope: Mapping[int, Any],
    fragment: bytes,
    fragment_entries: int,
    tail: Mapping[int, Any] | None = None,
) -> bytes:
    """One deterministic CBOR map: the envelope's entries (keys below 16), then the
    pre-encoded body entries `fragment` (keys 16-27 in ascending order, `fragment_entries`
    of them, not checked: the reference encoder and the C encoder write them), then
    `tail`'s entries (keys 28 and up, e.g. {28: server names}).

    Raises ValueError for an envelope or tail key outside its range.
    """
    tail = tail or {}
    if any(type(k) is not int or not 0 <= k < schema.V3_BASE_TIME_US for k in envelope):
        raise ValueError("envelope keys must be integers 0-15")
    if any(type(k) is not int or k <= schema.V3_NAME_COLUMN for k in tail):
        raise ValueError(f"tail keys must be integers above {schema.V3_NAME_COLUMN}")
    parts = [map_header(len(envelope) + fragment_entries + len(tail)), map_entries(dict(envelope))]
    parts.append(fragment)
    if tail:
        parts.append(map_entries(dict(tail)))
    return b"".join(parts)


def join_flows_payload(
    identity: SensorIdentity,
    batch: BatchInfo,
    fragment: bytes,
    fragment_entries: int,
    server_names: Sequence[str] | None = None,
) -> bytes:
    """A schema 3 flows payload from a body fragment (keys 16-27: the C encoder's, or
    agent.wire.columns') and the server names key 28 lists (in the fragment's order,
    after the [privacy] treatment; None or empty: no key 28). The one place both paths
    put the envelope and the names around a fragment.

    Raises ValueError for a bad counter or loss, or a counter without id.
    """
    tail = {schema.V3_SERVER_NAMES: list(server_names)} if server_names else None
    return join_payload(flows_envelope(identity, batch), fragment, fragment_entries, tail)


def encode_flow_batch(
    records: Iterable[FlowRecord], identity: SensorIdentity, batch: BatchInfo
) -> bytes:
    """A schema 3 `flows` payload for `records` (any order, at least one; sent sorted by
    ts, serial): the reference encoding (docs/WIRE.md, "Flows").

    Raises ValueError for no record, an address that is not 4 or 16 bytes, a bad MAC or
    server name, a bad counter or one without an id.
    """
    fragment = encode_flows_fragment(records)
    return join_flows_payload(
        identity, batch, fragment.data, fragment.entries, fragment.server_names
    )


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
