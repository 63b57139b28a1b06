"""The schema 2 flows encoder, as main had it before schema 3 (43f8432), kept for the
tests that make version 2 messages (a consumer still reads them) and for bench_wire's
v2 vs v3 sizes. Not the sender's: agent.wire.encode_flow_batch writes schema 3."""

from __future__ import annotations

from collections.abc import Iterable
from operator import attrgetter
from typing import Any

from agent.flowrecord import FlowRecord
from agent.wire import schema
from agent.wire.canonical import dumps
from agent.wire.encode import BatchInfo, SensorIdentity


def _data_common(kind: str, identity: SensorIdentity, batch: BatchInfo) -> dict[int, Any]:
    out: dict[int, Any] = {
        schema.KEY_VERSION: 2,
        schema.KEY_KIND: kind,
        schema.KEY_SENSOR: identity.sensor_id,
        schema.KEY_SITE: identity.site,
        schema.KEY_WING: identity.wing,
        schema.KEY_BOOT: identity.boot_id,
    }
    if identity.boot_count is not None:
        out[schema.KEY_BOOT_COUNT] = identity.boot_count
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


def encode_flow_batch_v2(
    records: Iterable[FlowRecord], identity: SensorIdentity, batch: BatchInfo
) -> bytes:
    """A schema 2 `flows` payload for `records` (any order; sent sorted by ts, serial).

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
