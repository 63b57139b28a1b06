"""The schema 3 flows body as columns: FlowRecords in, the body's CBOR entries out.

This is the independent reference of the layout (docs/WIRE.md, "Flows"); the C encoder
writes the same bytes for the same records. Written for being obviously right first,
then reasonably quick (bench/bench_wire.py).

How the body gets small:
- records sorted by (ts, serial); serial and start time are deltas from the previous
  record (serial zigzagged: an `active` record of an older flow goes back);
- the batch's addresses once (IPv4 as ascending differences), records refer to them by
  index; a responder (address, port) once, records refer to it by index;
- what many records share (protocol, states, flags, end reason, service, VLANs) is one
  shape per batch;
- MACs: each address's usual MAC once (its "default"), so a record needs two bits per
  end; only an end whose MAC is not its address's default names a (orig, resp) pair;
- every number an unsigned LEB128 varint in one byte string per column, so a number
  below 128 costs one byte and a column no CBOR header per value.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from itertools import pairwise
from operator import attrgetter
from typing import Any

from agent.flowrecord import FlowRecord
from agent.wire import schema
from agent.wire.canonical import dumps
from agent.wire.varint import write_uvarints, zigzag

_CONN_STATE_CODE = {name: code for code, name in enumerate(schema.CONN_STATE_CODES)}
_END_REASON_CODE = {name: code for code, name in enumerate(schema.END_REASON_CODES)}
_by_time = attrgetter("ts_us", "serial")
_shape_of = attrgetter(*schema.SHAPE_FIELDS)
# The columns taken as they are, in column order (duration, orig port, the six counts).
_numbers_of = attrgetter(
    "duration_us",
    "orig_port",
    "orig_pkts",
    "orig_ip_bytes",
    "orig_bytes",
    "resp_pkts",
    "resp_ip_bytes",
    "resp_bytes",
)
_orig_addr = attrgetter("orig_addr")
_resp_addr = attrgetter("resp_addr")
_resp_port = attrgetter("resp_port")


@dataclass(frozen=True, slots=True)
class FlowsFragment:
    """The body's map entries 16..27 (keys and values, no map header), how many entries
    they are, and the server names key 28 must list (first use order; [] for none)."""

    data: bytes
    entries: int
    server_names: list[str]


def map_header(count: int) -> bytes:
    """The CBOR head of a definite map of `count` entries (shortest form)."""
    if count < 24:
        return bytes([0xA0 + count])
    if count < 256:
        return bytes([0xB8, count])
    raise ValueError(f"a payload map has at most 255 entries, not {count}")


def map_entries(value: dict[int, Any]) -> bytes:
    """The deterministic CBOR of a map's entries without its head."""
    return dumps(value)[len(map_header(len(value))) :]


def encode_flows_fragment(records: Iterable[FlowRecord]) -> FlowsFragment:
    """Schema 3's flows body for `records` (any order; at least one).

    Raises ValueError for no record, an address not 4 or 16 bytes, a MAC not 6 bytes, a
    server name not 1-253 characters, a conn_state or end_reason without a code, or a
    number out of its range.
    """
    ordered = sorted(records, key=_by_time)
    if not ordered:
        raise ValueError("a flows message holds at least one record")
    addresses = _address_index(ordered)
    # Column by column with comprehensions and C-level getters: this is the sender's hot
    # path until the C encoder takes it over (bench/bench_wire.py).
    shapes: dict[tuple[Any, ...], int] = {}
    shape_column = [shapes.setdefault(key, len(shapes)) for key in map(_shape_of, ordered)]
    orig_column = [addresses[a] for a in map(_orig_addr, ordered)]
    resp_addresses = [addresses[a] for a in map(_resp_addr, ordered)]
    responders: dict[tuple[int, int], int] = {}
    responder_column = [
        responders.setdefault(key, len(responders))
        for key in zip(resp_addresses, map(_resp_port, ordered), strict=True)
    ]
    serials = [r.serial for r in ordered]
    times = [r.ts_us for r in ordered]
    serial_deltas = [zigzag(b - a) for a, b in zip([0, *serials], serials, strict=False)]
    ts_deltas = [b - a for a, b in zip([times[0], *times], times, strict=False)]
    numbers = list(zip(*map(_numbers_of, ordered), strict=True))
    durations, orig_ports, *count_columns = numbers
    columns = [
        serial_deltas,
        ts_deltas,
        durations,
        shape_column,
        orig_column,
        orig_ports,
        responder_column,
        *count_columns,
    ]
    body: dict[int, Any] = {
        schema.V3_BASE_TIME_US: times[0],
        schema.V3_SHAPES: [_shape_entry(key) for key in shapes],
        schema.V3_RESPONDERS: write_uvarints(_flat(responders)),
        schema.V3_COUNT: len(ordered),
        schema.V3_COLUMNS: [write_uvarints(list(column)) for column in columns],
    }
    ipv4 = [a for a in addresses if len(a) == 4]
    if ipv4:
        numbers_v4 = [int.from_bytes(a, "big") for a in ipv4]
        body[schema.V3_IPV4] = write_uvarints(
            [numbers_v4[0]] + [b - a for a, b in pairwise(numbers_v4)]
        )
    if len(ipv4) < len(addresses):
        body[schema.V3_IPV6] = list(addresses)[len(ipv4) :]
    if any(r.orig_l2_addr is not None or r.resp_l2_addr is not None for r in ordered):
        body.update(_mac_entries(ordered, orig_column, resp_addresses, len(addresses)))
    names: dict[str, int] = {}
    if any(r.server_name is not None for r in ordered):
        body[schema.V3_NAME_COLUMN] = write_uvarints(
            [
                0 if name is None else 1 + _name_index(names, name)
                for name in (r.server_name for r in ordered)
            ]
        )
    return FlowsFragment(map_entries(body), len(body), list(names))


def _address_index(ordered: list[FlowRecord]) -> dict[bytes, int]:
    """Every address of the batch -> its index: IPv4 ascending, then IPv6 ascending."""
    distinct = {r.orig_addr for r in ordered} | {r.resp_addr for r in ordered}
    for addr in distinct:
        if len(addr) not in (4, 16):
            raise ValueError(f"an address must be 4 or 16 bytes, got {len(addr)}")
    ordered_addresses = sorted(distinct, key=lambda a: (len(a), a))
    return {addr: index for index, addr in enumerate(ordered_addresses)}


def _shape_entry(key: tuple[Any, ...]) -> list[Any]:
    proto, conn_state, history, orig_flags, resp_flags, end_reason, service, vlan, inner = key
    conn_code = _CONN_STATE_CODE.get(conn_state)
    end_code = _END_REASON_CODE.get(end_reason)
    if conn_code is None or end_code is None:
        raise ValueError(f"no code for conn_state {conn_state!r} or end_reason {end_reason!r}")
    return [proto, conn_code, history, orig_flags, resp_flags, end_code, service, vlan, inner]


def _flat(pairs: Iterable[tuple[int, int]]) -> list[int]:
    return [value for pair in pairs for value in pair]


def _mac_index(macs: dict[bytes, int], mac: bytes | None) -> int:
    if mac is None:
        return -1
    index = macs.get(mac)
    if index is None:
        if len(mac) != schema.MAC_BYTES:
            raise ValueError(f"a MAC must be {schema.MAC_BYTES} bytes, got {len(mac)}")
        index = macs[mac] = len(macs)
    return index


def _name_index(names: dict[str, int], name: str) -> int:
    index = names.get(name)
    if index is None:
        if not 0 < len(name) <= schema.SERVER_NAME_MAX:
            raise ValueError(f"a server name must be 1-{schema.SERVER_NAME_MAX} characters")
        index = names[name] = len(names)
    return index


def _mac_entries(
    ordered: list[FlowRecord],
    orig_column: list[int],
    resp_addresses: list[int],
    address_count: int,
) -> dict[int, Any]:
    """Keys 23-26: the MAC table, each address's default MAC, the per-record codes and
    the pairs of the records whose MACs are not their addresses' defaults."""
    macs: dict[bytes, int] = {}
    end_macs = [
        (_mac_index(macs, r.orig_l2_addr), _mac_index(macs, r.resp_l2_addr)) for r in ordered
    ]
    uses: dict[tuple[int, int], int] = {}  # (address index, MAC index) -> record ends
    for orig, resp, (orig_mac, resp_mac) in zip(orig_column, resp_addresses, end_macs, strict=True):
        if orig_mac >= 0:
            uses[orig, orig_mac] = uses.get((orig, orig_mac), 0) + 1
        if resp_mac >= 0:
            uses[resp, resp_mac] = uses.get((resp, resp_mac), 0) + 1
    # Default MAC: the one most ends with that address carry; on a tie the lowest MAC
    # index (the MAC first seen in the batch's walk). 0 = no MAC, else 1 + index.
    best: dict[int, tuple[int, int]] = {}  # address -> (uses, -MAC index)
    for (address, mac), count in uses.items():
        candidate = (count, -mac)
        if candidate > best.get(address, (0, 0)):
            best[address] = candidate
    defaults = [0] * address_count
    for address, (_count, negative_mac) in best.items():
        defaults[address] = 1 - negative_mac
    pairs: dict[tuple[int, int], int] = {}
    codes = []
    for orig, resp, (orig_mac, resp_mac) in zip(orig_column, resp_addresses, end_macs, strict=True):
        if (orig_mac < 0 or orig_mac == defaults[orig] - 1) and (
            resp_mac < 0 or resp_mac == defaults[resp] - 1
        ):
            codes.append((orig_mac >= 0) | (resp_mac >= 0) << 1)
        else:
            pair = pairs.setdefault((orig_mac + 1, resp_mac + 1), len(pairs))
            codes.append(schema.MAC_CODE_PAIRS + pair)
    out: dict[int, Any] = {
        schema.V3_MACS: b"".join(macs),
        schema.V3_ADDRESS_MACS: write_uvarints(defaults),
        schema.V3_MAC_CODES: write_uvarints(codes),
    }
    if pairs:
        out[schema.V3_MAC_PAIRS] = write_uvarints(_flat(pairs))
    return out
