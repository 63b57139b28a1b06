"""Read payloads back: deterministic CBOR bytes in, a typed `Message` out, or Rejected.

Strict on purpose: every key is known, every value has the type docs/summary.cddl
gives it, and the bytes are exactly their deterministic encoding. A payload that is
not so is refused with one reason (agent.wire.rejection), never half-read.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from agent.flowrecord import END_REASONS, FlowRecord
from agent.wire import schema
from agent.wire.canonical import strict_loads
from agent.wire.encode import SensorIdentity
from agent.wire.read_columns import decode_flows
from agent.wire.rejection import UNSUPPORTED_VERSION, WRONG_TYPE, Rejected

_COMMON_KEYS = frozenset(range(schema.KEY_VERSION, schema.KEY_BOOT + 1))
_DATA_KEYS = _COMMON_KEYS | frozenset(range(schema.KEY_SEQ, schema.KEY_LOSSES + 1))
_KEYS_BY_KIND = {
    schema.KIND_FLOWS: _DATA_KEYS
    | {schema.KEY_BASE_TIME_US, schema.KEY_ADDRESSES, schema.KEY_SHAPES, schema.KEY_FLOWS},
    schema.KIND_HEALTH: _DATA_KEYS | {schema.KEY_ITEMS},
    schema.KIND_DEVICES: _DATA_KEYS | {schema.KEY_ITEMS},
    schema.KIND_ALERTS: _DATA_KEYS | {schema.KEY_ITEMS},
    schema.KIND_STATUS: _COMMON_KEYS
    | {schema.KEY_STATE, schema.KEY_TIME_US, schema.KEY_AGENT_VERSION},
}
_OPTIONAL_KEYS_BY_KIND = {
    schema.KIND_STATUS: {schema.KEY_LOSS_TOTALS, schema.KEY_MISSING_INTERFACES}
}
# Version 2 adds the boot counter to every kind and the previous boot's last seq to data,
# and (later, optional additions) the flows' MAC tables and server names.
_V2_OPTIONAL_KEYS = {
    kind: {schema.KEY_BOOT_COUNT}
    | ({schema.KEY_PREVIOUS_BOOT_LAST_SEQ} if kind in schema.DATA_KINDS else set())
    | (
        {schema.KEY_MACS, schema.KEY_L2_PAIRS, schema.KEY_SERVER_NAMES}
        if kind == schema.KIND_FLOWS
        else set()
    )
    for kind in schema.KINDS
}
# Version 3 changes the flows body (columns) and names counters by id.
_V3_FLOWS_KEYS = _DATA_KEYS | {
    schema.V3_BASE_TIME_US,
    schema.V3_SHAPES,
    schema.V3_RESPONDERS,
    schema.V3_COUNT,
    schema.V3_COLUMNS,
}
_V3_FLOWS_OPTIONAL_KEYS = {
    schema.KEY_BOOT_COUNT,
    schema.KEY_PREVIOUS_BOOT_LAST_SEQ,
    schema.V3_IPV4,
    schema.V3_IPV6,
    schema.V3_MACS,
    schema.V3_ADDRESS_MACS,
    schema.V3_MAC_CODES,
    schema.V3_MAC_PAIRS,
    schema.V3_NAME_COLUMN,
    schema.V3_SERVER_NAMES,
}
_END_REASONS = frozenset(END_REASONS)


@dataclass(frozen=True, slots=True)
class Message:
    """A decoded payload. Data kinds have seq/window/counters/losses; status has
    state/time_us; each kind fills its own body field."""

    kind: str
    identity: SensorIdentity
    seq: int | None = None
    window_start_us: int | None = None
    window_end_us: int | None = None
    counters: dict[str, int] = field(default_factory=dict)
    losses: dict[str, int] = field(default_factory=dict)
    flows: list[FlowRecord] = field(default_factory=list)
    health: dict[str, Any] = field(default_factory=dict)
    devices: list[dict[str, Any]] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    state: str | None = None
    time_us: int | None = None
    agent_version: str | None = None
    version: int = schema.SCHEMA_VERSION
    previous_boot_last_seq: int | None = None
    loss_totals: dict[str, int] = field(default_factory=dict)
    missing_interfaces: list[str] = field(default_factory=list)


def _wrong(detail: str) -> Rejected:
    return Rejected(WRONG_TYPE, detail)


def _uint(value: Any, what: str, maximum: int = schema.UINT64_MAX) -> int:
    # bool is an int subclass in Python; CBOR true/false are not numbers.
    if type(value) is not int or value < 0 or value > maximum:
        raise _wrong(f"{what} must be an unsigned integer <= {maximum}")
    return value


def _tstr(value: Any, what: str) -> str:
    if type(value) is not str:
        raise _wrong(f"{what} must be a text string")
    return value


def _counter_map(value: Any, what: str) -> dict[str, int]:
    if type(value) is not dict:
        raise _wrong(f"{what} must be a map of name => unsigned integer")
    for name, count in value.items():
        _tstr(name, f"a {what} name")
        _uint(count, f"{what}[{name!r}]")
    return value


def _counters_by_id(value: Any) -> dict[str, int]:
    """Version 3's counters {id => uint} by name; an id this consumer does not know (a
    newer sensor's) is named "counter_<id>"."""
    if type(value) is not dict:
        raise _wrong("counters must be a map of counter id => unsigned integer")
    names = schema.COUNTER_NAMES
    out = {}
    for counter_id, count in value.items():
        _uint(counter_id, "a counter id")
        name = names[counter_id] if counter_id < len(names) else f"counter_{counter_id}"
        out[name] = _uint(count, f"counters[{name!r}]")
    return out


def _text_list(value: Any, what: str) -> list[str]:
    if type(value) is not list:
        raise _wrong(f"{what} must be an array of text strings")
    return [_tstr(item, f"an item of {what}") for item in value]


def decode_payload(data: bytes) -> Message:
    """Decode and check one payload. Raises Rejected (any reason of the CBOR layer,
    unsupported_version, wrong_type)."""
    payload = strict_loads(data, "payload")
    if type(payload) is not dict:
        raise _wrong("payload must be a map")
    version = payload.get(schema.KEY_VERSION)
    if version not in schema.READABLE_VERSIONS or type(version) is not int:
        raise Rejected(
            UNSUPPORTED_VERSION,
            f"schema version {version!r} is not supported (this consumer reads "
            f"{', '.join(map(str, schema.READABLE_VERSIONS))})",
        )
    kind = payload.get(schema.KEY_KIND)
    if kind not in _KEYS_BY_KIND:
        raise _wrong(f"payload kind {kind!r} is not one of {', '.join(schema.KINDS)}")
    allowed = _KEYS_BY_KIND[kind]
    optional = _OPTIONAL_KEYS_BY_KIND.get(kind, set())
    if version >= 2:
        optional = optional | _V2_OPTIONAL_KEYS[kind]
    if version >= 3 and kind == schema.KIND_FLOWS:
        allowed, optional = _V3_FLOWS_KEYS, _V3_FLOWS_OPTIONAL_KEYS
    missing = allowed - payload.keys()
    extra = payload.keys() - allowed - optional
    if missing or extra:
        raise _wrong(
            f"{kind} payload keys: missing {sorted(missing)}, unexpected {sorted(map(repr, extra))}"
        )
    boot = payload[schema.KEY_BOOT]
    if type(boot) is not bytes or len(boot) != schema.BOOT_ID_BYTES:
        raise _wrong(f"boot id must be a {schema.BOOT_ID_BYTES}-byte string")
    boot_count = payload.get(schema.KEY_BOOT_COUNT)
    identity = SensorIdentity(
        sensor_id=_tstr(payload[schema.KEY_SENSOR], "sensor id"),
        site=_tstr(payload[schema.KEY_SITE], "site"),
        wing=_tstr(payload[schema.KEY_WING], "wing"),
        boot_id=boot,
        boot_count=None if boot_count is None else _uint(boot_count, "boot count"),
    )
    if kind == schema.KIND_STATUS:
        state = payload[schema.KEY_STATE]
        if state not in schema.STATUS_STATES or type(state) is not str:
            raise _wrong(f"status state must be one of {schema.STATUS_STATES}")
        return Message(
            kind=kind,
            identity=identity,
            state=state,
            time_us=_uint(payload[schema.KEY_TIME_US], "status time"),
            agent_version=_tstr(payload[schema.KEY_AGENT_VERSION], "agent version"),
            version=version,
            loss_totals=_counter_map(payload.get(schema.KEY_LOSS_TOTALS, {}), "loss totals"),
            missing_interfaces=_text_list(
                payload.get(schema.KEY_MISSING_INTERFACES, []), "missing interfaces"
            ),
        )
    common: dict[str, Any] = {
        "kind": kind,
        "identity": identity,
        "seq": _uint(payload[schema.KEY_SEQ], "seq"),
        "window_start_us": _uint(payload[schema.KEY_WINDOW_START_US], "window start"),
        "window_end_us": _uint(payload[schema.KEY_WINDOW_END_US], "window end"),
        "counters": (
            _counters_by_id(payload[schema.KEY_COUNTERS])
            if version >= 3
            else _counter_map(payload[schema.KEY_COUNTERS], "counters")
        ),
        "losses": _counter_map(payload[schema.KEY_LOSSES], "losses"),
        "version": version,
        "previous_boot_last_seq": _previous_last_seq(payload),
    }
    if kind == schema.KIND_FLOWS:
        return Message(**common, flows=decode_flows(payload) if version >= 3 else _flows(payload))
    if kind == schema.KIND_HEALTH:
        return Message(**common, health=_health(payload[schema.KEY_ITEMS]))
    items = _items(payload[schema.KEY_ITEMS], kind)
    if kind == schema.KIND_DEVICES:
        return Message(**common, devices=items)
    return Message(**common, alerts=items)


def _previous_last_seq(payload: dict[int, Any]) -> int | None:
    value = payload.get(schema.KEY_PREVIOUS_BOOT_LAST_SEQ)
    if value is None:
        return None
    if payload[schema.KEY_SEQ] != 0:
        raise _wrong("only a boot's first message (seq 0) names the previous boot's last seq")
    return _uint(value, "previous boot's last seq")


def _health(value: Any) -> dict[str, Any]:
    if type(value) is not dict:
        raise _wrong("health figures must be a map")
    for name, figure in value.items():
        _tstr(name, "a health figure name")
        if type(figure) not in (int, float, bool, str):
            raise _wrong(f"health figure {name!r} must be a number, boolean or text")
        if type(figure) is int and figure < 0:
            raise _wrong(f"health figure {name!r} must not be negative")
        if type(figure) is float and not math.isfinite(figure):
            raise _wrong(f"health figure {name!r} must be a finite number")
    return value


def _items(value: Any, kind: str) -> list[dict[str, Any]]:
    if type(value) is not list:
        raise _wrong(f"{kind} must be an array of maps")
    for index, item in enumerate(value):
        if type(item) is not dict or not all(type(k) is str for k in item):
            raise _wrong(f"{kind}[{index}] must be a map with text keys")
        if kind == schema.KIND_ALERTS and type(item.get("rule")) is not str:
            raise _wrong(f'alerts[{index}] needs a text "rule"')
    return value


def _addresses(value: Any) -> list[bytes]:
    if type(value) is not list:
        raise _wrong("addresses must be an array")
    for index, addr in enumerate(value):
        if type(addr) is not bytes or len(addr) not in (4, 16):
            raise _wrong(f"addresses[{index}] must be a 4- or 16-byte string")
    return value


def _optional_uint(value: Any, what: str, maximum: int) -> int | None:
    return None if value is None else _uint(value, what, maximum)


def _shapes(value: Any) -> list[tuple[Any, ...]]:
    if type(value) is not list:
        raise _wrong("shapes must be an array")
    out = []
    for index, shape in enumerate(value):
        what = f"shapes[{index}]"
        if type(shape) is not list or len(shape) != len(schema.SHAPE_FIELDS):
            raise _wrong(f"{what} must be an array of {len(schema.SHAPE_FIELDS)}")
        proto, conn_state, history, orig_flags, resp_flags, end_reason, service, vlan, inner = shape
        if conn_state not in schema.CONN_STATES or type(conn_state) is not str:
            raise _wrong(f"{what} conn_state {conn_state!r} is not a Zeek conn_state")
        if type(history) is not str or len(history) > schema.MAX_HISTORY_CHARS:
            raise _wrong(f"{what} history must be text of at most 16 characters")
        if end_reason not in _END_REASONS or type(end_reason) is not str:
            raise _wrong(f"{what} end_reason {end_reason!r} is not one of {END_REASONS}")
        if service is not None:
            _tstr(service, f"{what} service")
        out.append(
            (
                _uint(proto, f"{what} proto", 255),
                conn_state,
                history,
                _uint(orig_flags, f"{what} orig_tcp_flags", 255),
                _uint(resp_flags, f"{what} resp_tcp_flags", 255),
                end_reason,
                service,
                _optional_uint(vlan, f"{what} vlan", 4095),
                _optional_uint(inner, f"{what} inner_vlan", 4095),
            )
        )
    return out


_FLOW_WIDTH = len(schema.FLOW_FIELDS)
_NO_L2: tuple[bytes | None, bytes | None] = (None, None)


def _l2_pairs(payload: dict[int, Any]) -> list[tuple[bytes | None, bytes | None]]:
    """The (orig, resp) MAC pairs flows refer to; [] when the batch carries none."""
    has_macs, has_pairs = schema.KEY_MACS in payload, schema.KEY_L2_PAIRS in payload
    if has_macs != has_pairs:
        raise _wrong("the MAC table and the MAC pair table come together")
    if not has_pairs:
        return []
    macs, pairs = payload[schema.KEY_MACS], payload[schema.KEY_L2_PAIRS]
    if type(macs) is not list or not macs:
        raise _wrong("MACs must be a non-empty array")
    for index, mac in enumerate(macs):
        if type(mac) is not bytes or len(mac) != schema.MAC_BYTES:
            raise _wrong(f"macs[{index}] must be a {schema.MAC_BYTES}-byte string")
    if type(pairs) is not list or not pairs:
        raise _wrong("MAC pairs must be a non-empty array")
    out = []
    for index, pair in enumerate(pairs):
        what = f"l2_pairs[{index}]"
        if type(pair) is not list or len(pair) != 2 or pair == [None, None]:
            raise _wrong(f"{what} must be an array of 2 MAC indices, at least one not null")
        ends = [_optional_uint(end, what, len(macs) - 1) for end in pair]
        out.append(tuple(None if end is None else macs[end] for end in ends))
    return out  # type: ignore[return-value]


def _server_names(payload: dict[int, Any]) -> list[str]:
    """The server names flows refer to; [] when the batch carries none."""
    if schema.KEY_SERVER_NAMES not in payload:
        return []
    names = payload[schema.KEY_SERVER_NAMES]
    if type(names) is not list or not names:
        raise _wrong("server names must be a non-empty array")
    for index, name in enumerate(names):
        if type(name) is not str or not 0 < len(name) <= schema.SERVER_NAME_MAX:
            raise _wrong(f"server_names[{index}] must be text of 1-{schema.SERVER_NAME_MAX}")
    return names


def _flows(payload: dict[int, Any]) -> list[FlowRecord]:
    base_time_us = _uint(payload[schema.KEY_BASE_TIME_US], "base time")
    addresses = _addresses(payload[schema.KEY_ADDRESSES])
    shapes = _shapes(payload[schema.KEY_SHAPES])
    l2_pairs = _l2_pairs(payload)
    server_names = _server_names(payload)
    rows = payload[schema.KEY_FLOWS]
    if type(rows) is not list:
        raise _wrong("flows must be an array")
    records = []
    ts_us, serial = base_time_us, 0
    for index, row in enumerate(rows):
        if type(row) is not list or not _FLOW_WIDTH <= len(row) <= _FLOW_WIDTH + 2:
            raise _wrong(
                f"flows[{index}] must be an array of {_FLOW_WIDTH} (+1 with MACs, +2 with a name)"
            )
        l2 = _NO_L2
        server_name = None
        if len(row) > _FLOW_WIDTH + 1:
            name = row[_FLOW_WIDTH + 1]
            if type(name) is not int or not 0 <= name < len(server_names):
                raise _wrong(f"flows[{index}].{schema.FLOW_NAME_FIELD} is not in the name table")
            server_name = server_names[name]
        if len(row) > _FLOW_WIDTH and not (len(row) > _FLOW_WIDTH + 1 and row[_FLOW_WIDTH] is None):
            pair = row[_FLOW_WIDTH]
            if type(pair) is not int or not 0 <= pair < len(l2_pairs):
                raise _wrong(f"flows[{index}].{schema.FLOW_L2_FIELD} is not in the pair table")
            l2 = l2_pairs[pair]
        row = row[:_FLOW_WIDTH]
        # serial_delta may be negative (records of old flows); everything else is uint.
        if type(row[0]) is not int:
            raise _wrong(f"flows[{index}].serial_delta must be an integer")
        for position in range(1, _FLOW_WIDTH):
            value = row[position]
            if type(value) is not int or value < 0 or value > schema.UINT64_MAX:
                name = schema.FLOW_FIELDS[position]
                raise _wrong(f"flows[{index}].{name} must be an unsigned integer")
        (
            serial_delta,
            ts_delta_us,
            duration_us,
            shape_index,
            orig_index,
            orig_port,
            resp_index,
            resp_port,
            orig_pkts,
            orig_ip_bytes,
            orig_bytes,
            resp_pkts,
            resp_ip_bytes,
            resp_bytes,
        ) = row
        if shape_index >= len(shapes):
            raise _wrong(f"flows[{index}].shape {shape_index} is not in the shape table")
        if orig_index >= len(addresses) or resp_index >= len(addresses):
            raise _wrong(f"flows[{index}] refers to an address not in the address table")
        if orig_port > 65535 or resp_port > 65535:
            raise _wrong(f"flows[{index}] has a port above 65535")
        serial += serial_delta
        ts_us += ts_delta_us
        if serial < 0 or serial > schema.UINT64_MAX or ts_us > schema.UINT64_MAX:
            raise _wrong(f"flows[{index}] serial or time out of range")
        proto, conn_state, history, orig_flags, resp_flags, end_reason, service, vlan, inner = (
            shapes[shape_index]
        )
        records.append(
            FlowRecord(
                serial=serial,
                ts_us=ts_us,
                duration_us=duration_us,
                proto=proto,
                orig_addr=addresses[orig_index],
                orig_port=orig_port,
                resp_addr=addresses[resp_index],
                resp_port=resp_port,
                vlan=vlan,
                inner_vlan=inner,
                orig_pkts=orig_pkts,
                orig_ip_bytes=orig_ip_bytes,
                orig_bytes=orig_bytes,
                resp_pkts=resp_pkts,
                resp_ip_bytes=resp_ip_bytes,
                resp_bytes=resp_bytes,
                orig_tcp_flags=orig_flags,
                resp_tcp_flags=resp_flags,
                conn_state=conn_state,
                history=history,
                end_reason=end_reason,
                service=service,
                orig_l2_addr=l2[0],
                resp_l2_addr=l2[1],
                server_name=server_name,
            )
        )
    return records
