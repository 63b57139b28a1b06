"""Read schema 3's flows body back into the engine's exact FlowRecords, strictly.

The payload map was read by agent.wire.canonical (the only CBOR reader of received
bytes); this module checks and unpacks the body's values: the varints strings
(agent.wire.varint), the tables and the indices into them. Anything that is not exactly
what docs/WIRE.md ("What a consumer checks") allows is one `wrong_type` rejection.
"""

from __future__ import annotations

from typing import Any

from agent.flowrecord import FlowRecord
from agent.wire import schema
from agent.wire.rejection import WRONG_TYPE, Rejected
from agent.wire.varint import read_uvarints, unzigzag

_U64 = schema.UINT64_MAX
_IPV4_MAX = 2**32 - 1
# A zigzagged difference of two serials (0 .. 2^64-1) is at most 2^65 - 2.
_SERIAL_DELTA_MAX = 2 * _U64
_COLUMN_COUNT = len(schema.V3_COLUMN_NAMES)


def _wrong(detail: str) -> Rejected:
    return Rejected(WRONG_TYPE, detail)


def _varints(value: Any, what: str, maximum: int, count: int | None = None) -> list[int]:
    """The values of a varints byte string (non-empty), each <= maximum; `count`: how many
    it must hold."""
    if type(value) is not bytes or not value:
        raise _wrong(f"{what} must be a non-empty byte string of varints")
    try:
        values = read_uvarints(value, maximum)
    except ValueError as exc:
        raise _wrong(f"{what} {exc}") from None
    if count is not None and len(values) != count:
        raise _wrong(f"{what} holds {len(values)} values, not {count}")
    return values


def _uint(value: Any, what: str, maximum: int = _U64) -> int:
    if type(value) is not int or not 0 <= value <= maximum:
        raise _wrong(f"{what} must be an unsigned integer <= {maximum}")
    return value


def _optional_uint(value: Any, what: str, maximum: int) -> int | None:
    return None if value is None else _uint(value, what, maximum)


def _ipv4_table(payload: dict[int, Any]) -> list[bytes]:
    if schema.V3_IPV4 not in payload:
        return []
    deltas = _varints(payload[schema.V3_IPV4], "the IPv4 table", _IPV4_MAX)
    if 0 in deltas[1:]:
        raise _wrong("the IPv4 table does not strictly ascend")
    out = []
    number = 0
    for delta in deltas:
        number += delta
        if number > _IPV4_MAX:
            raise _wrong("the IPv4 table holds a number above 2^32-1")
        out.append(number.to_bytes(4, "big"))
    return out


def _ipv6_table(payload: dict[int, Any]) -> list[bytes]:
    if schema.V3_IPV6 not in payload:
        return []
    table = payload[schema.V3_IPV6]
    if type(table) is not list or not table:
        raise _wrong("the IPv6 table must be a non-empty array")
    previous = b""
    for index, addr in enumerate(table):
        if type(addr) is not bytes or len(addr) != 16:
            raise _wrong(f"ipv6[{index}] must be a 16-byte string")
        if addr <= previous:
            raise _wrong("the IPv6 table does not strictly ascend")
        previous = addr
    return table


def _shapes(value: Any) -> list[tuple[Any, ...]]:
    if type(value) is not list or not value:
        raise _wrong("shapes must be a non-empty array")
    out = []
    for index, shape in enumerate(value):
        what = f"shapes[{index}]"
        if type(shape) is not list or len(shape) != len(schema.SHAPE_FIELDS):
            raise _wrong(f"{what} must be an array of {len(schema.SHAPE_FIELDS)}")
        proto, conn_code, history, orig_flags, resp_flags, end_code, service, vlan, inner = shape
        conn_code = _uint(conn_code, f"{what} conn_state code", len(schema.CONN_STATE_CODES) - 1)
        end_code = _uint(end_code, f"{what} end_reason code", len(schema.END_REASON_CODES) - 1)
        if type(history) is not str or len(history) > schema.MAX_HISTORY_CHARS:
            raise _wrong(f"{what} history must be text of at most 16 characters")
        if service is not None and type(service) is not str:
            raise _wrong(f"{what} service must be text or null")
        out.append(
            (
                _uint(proto, f"{what} proto", 255),
                schema.CONN_STATE_CODES[conn_code],
                history,
                _uint(orig_flags, f"{what} orig_tcp_flags", 255),
                _uint(resp_flags, f"{what} resp_tcp_flags", 255),
                schema.END_REASON_CODES[end_code],
                service,
                _optional_uint(vlan, f"{what} vlan", 4095),
                _optional_uint(inner, f"{what} inner_vlan", 4095),
            )
        )
    if len(set(out)) != len(out):
        raise _wrong("the shape table lists a shape twice")
    return out


def _pairs(values: list[int], what: str) -> list[tuple[int, int]]:
    if len(values) % 2:
        raise _wrong(f"{what} must hold pairs")
    pairs = list(zip(values[::2], values[1::2], strict=True))
    if len(set(pairs)) != len(pairs):
        raise _wrong(f"{what} lists a pair twice")
    return pairs


def _responders(value: Any, addresses: list[bytes]) -> list[tuple[bytes, int]]:
    values = _varints(value, "the responder table", _U64)
    out = []
    for address, port in _pairs(values, "the responder table"):
        if address >= len(addresses) or port > 65535:
            raise _wrong("the responder table holds an address index or port out of range")
        out.append((addresses[address], port))
    return out


def _server_names(payload: dict[int, Any], count: int) -> list[str | None]:
    """Each record's server name (None: none); all None when the batch has none."""
    has_column = schema.V3_NAME_COLUMN in payload
    if has_column != (schema.V3_SERVER_NAMES in payload):
        raise _wrong("the server-name column and the server names come together")
    if not has_column:
        return [None] * count
    names = payload[schema.V3_SERVER_NAMES]
    if type(names) is not list or not names:
        raise _wrong("server names must be a non-empty array")
    for index, name in enumerate(names):
        if type(name) is not str or not 0 < len(name) <= schema.SERVER_NAME_MAX:
            raise _wrong(f"server_names[{index}] must be text of 1-{schema.SERVER_NAME_MAX}")
    if len(set(names)) != len(names):
        raise _wrong("the server names list a name twice")
    column = _varints(payload[schema.V3_NAME_COLUMN], "the server-name column", len(names), count)
    if len(set(column) - {0}) != len(names):
        raise _wrong("a server name is not used by any record")
    table: list[str | None] = [None, *names]
    return [table[value] for value in column]


def _macs(
    payload: dict[int, Any],
    count: int,
    addresses: list[bytes],
    orig_column: list[int],
    resp_column: list[int],
) -> tuple[list[bytes | None], list[bytes | None]]:
    """Each record's (orig MAC, resp MAC) columns (None: not seen). `resp_column`: the
    responder address index of each record."""
    keys = (schema.V3_MACS, schema.V3_ADDRESS_MACS, schema.V3_MAC_CODES)
    present = [key in payload for key in keys]
    if any(present) != all(present):
        raise _wrong("the MAC table, the address MACs and the MAC codes come together")
    if not all(present):
        if schema.V3_MAC_PAIRS in payload:
            raise _wrong("MAC pairs without a MAC table")
        return [None] * count, [None] * count
    table = payload[schema.V3_MACS]
    if type(table) is not bytes or not table or len(table) % schema.MAC_BYTES:
        raise _wrong("the MAC table must be a non-empty byte string of 6-byte MACs")
    macs: list[bytes | None] = [None]  # 1 + index -> MAC; 0 -> None
    macs += [table[i : i + schema.MAC_BYTES] for i in range(0, len(table), schema.MAC_BYTES)]
    if len(set(macs)) != len(macs):
        raise _wrong("the MAC table lists a MAC twice")
    mac_count = len(macs) - 1
    defaults = _varints(
        payload[schema.V3_ADDRESS_MACS], "the address MACs", mac_count, len(addresses)
    )
    pairs: list[tuple[int, int]] = []
    if schema.V3_MAC_PAIRS in payload:
        pairs = _pairs(_varints(payload[schema.V3_MAC_PAIRS], "the MAC pairs", mac_count), "MACs")
        if (0, 0) in pairs:
            raise _wrong("a MAC pair without a MAC")
    codes = _varints(
        payload[schema.V3_MAC_CODES], "the MAC codes", schema.MAC_CODE_PAIRS - 1 + len(pairs), count
    )
    orig_macs: list[bytes | None] = []
    resp_macs: list[bytes | None] = []
    used_pairs = set()
    for code, orig, resp in zip(codes, orig_column, resp_column, strict=True):
        orig_default, resp_default = defaults[orig], defaults[resp]
        if code < schema.MAC_CODE_PAIRS:
            orig_mac = orig_default if code & 1 else 0
            resp_mac = resp_default if code & 2 else 0
            if (code & 1 and not orig_default) or (code & 2 and not resp_default):
                raise _wrong("a MAC code names the default MAC of an address that has none")
        else:
            pair = code - schema.MAC_CODE_PAIRS
            used_pairs.add(pair)
            orig_mac, resp_mac = pairs[pair]
            if orig_mac in (0, orig_default) and resp_mac in (0, resp_default):
                raise _wrong("a MAC pair for a record whose MACs are its addresses' defaults")
        orig_macs.append(macs[orig_mac])
        resp_macs.append(macs[resp_mac])
    if len(used_pairs) != len(pairs):
        raise _wrong("a MAC pair is not used by any record")
    return orig_macs, resp_macs


def decode_flows(payload: dict[int, Any]) -> list[FlowRecord]:
    """The records of a schema 3 flows payload (its keys already checked against the
    kind's). Raises Rejected (wrong_type)."""
    base_time_us = _uint(payload[schema.V3_BASE_TIME_US], "base time")
    count = _uint(payload[schema.V3_COUNT], "the record count")
    if not count:
        raise _wrong("a flows message holds at least one record")
    addresses = _ipv4_table(payload) + _ipv6_table(payload)
    shapes = _shapes(payload[schema.V3_SHAPES])
    responders = _responders(payload[schema.V3_RESPONDERS], addresses)
    columns = payload[schema.V3_COLUMNS]
    if type(columns) is not list or len(columns) != _COLUMN_COUNT:
        raise _wrong(f"columns must be an array of {_COLUMN_COUNT} byte strings")
    maxima = (
        _SERIAL_DELTA_MAX,
        _U64,
        _U64,
        len(shapes) - 1,
        len(addresses) - 1,
        65535,
        len(responders) - 1,
        *[_U64] * 6,
    )
    (
        serial_deltas,
        ts_deltas,
        durations,
        shape_column,
        orig_column,
        orig_ports,
        responder_column,
        orig_pkts,
        orig_ip_bytes,
        orig_bytes,
        resp_pkts,
        resp_ip_bytes,
        resp_bytes,
    ) = [
        _varints(column, f"column {name}", maximum, count)
        for column, name, maximum in zip(columns, schema.V3_COLUMN_NAMES, maxima, strict=True)
    ]
    if ts_deltas[0]:
        raise _wrong("the first record's time must be the base time")
    if base_time_us + sum(ts_deltas) > _U64:
        raise _wrong("a record's time is above 2^64-1")
    resp_address_column: list[int] = []
    if schema.V3_MAC_CODES in payload:  # the responders' address indices, for their MACs
        address_index = {addr: index for index, addr in enumerate(addresses)}
        resp_address_column = [address_index[responders[r][0]] for r in responder_column]
    orig_macs, resp_macs = _macs(payload, count, addresses, orig_column, resp_address_column)
    names = _server_names(payload, count)
    records = []
    ts_us, serial = base_time_us, 0
    for index in range(count):
        serial += unzigzag(serial_deltas[index])
        if not 0 <= serial <= _U64:
            raise _wrong(f"record {index}'s serial is out of range")
        ts_us += ts_deltas[index]
        proto, conn_state, history, orig_flags, resp_flags, end_reason, service, vlan, inner = (
            shapes[shape_column[index]]
        )
        resp_addr, resp_port = responders[responder_column[index]]
        records.append(
            FlowRecord(
                serial,
                ts_us,
                durations[index],
                proto,
                addresses[orig_column[index]],
                orig_ports[index],
                resp_addr,
                resp_port,
                vlan,
                inner,
                orig_pkts[index],
                orig_ip_bytes[index],
                orig_bytes[index],
                resp_pkts[index],
                resp_ip_bytes[index],
                resp_bytes[index],
                orig_flags,
                resp_flags,
                conn_state,
                history,
                end_reason,
                service,
                orig_macs[index],
                resp_macs[index],
                names[index],
            )
        )
    return records
