"""Schema 3's flows body (docs/WIRE.md, "Flows"): the exact bytes, round trips of the
edge cases, and a decoder that refuses every malformed variant as `wrong_type`."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from agent.flowrecord import FlowRecord
from agent.wire import BatchInfo, SensorIdentity, decode_payload, encode_flow_batch
from agent.wire import schema as s
from agent.wire.canonical import dumps, strict_loads
from agent.wire.columns import encode_flows_fragment
from agent.wire.encode import flows_envelope, join_flows_payload, join_payload
from agent.wire.rejection import WRONG_TYPE, Rejected
from agent.wire.samples import synthetic_flows
from agent.wire.varint import read_uvarints, unzigzag, write_uvarints, zigzag

IDENTITY = SensorIdentity("wing4b-01", "st-mary", "4b", bytes(range(16)), boot_count=3)
BATCH = BatchInfo(7, 1_000, 2_000, {"packets_seen": 10, "records_lost": 1}, {"spool_bytes": 9})
U64 = 2**64 - 1


def _v4(text: str) -> bytes:
    return ipaddress.IPv4Address(text).packed


def _v6(text: str) -> bytes:
    return ipaddress.IPv6Address(text).packed


MAC_A, MAC_B, MAC_C = (bytes.fromhex(h) for h in ("001a5c000001", "00000c9ff001", "020000000003"))


def _record(**fields: Any) -> FlowRecord:
    base = FlowRecord(
        serial=5, ts_us=1000, duration_us=200, proto=6, orig_addr=_v4("10.0.0.1"),
        orig_port=40000, resp_addr=_v4("10.0.0.2"), resp_port=443, vlan=None, inner_vlan=None,
        orig_pkts=3, orig_ip_bytes=180, orig_bytes=0, resp_pkts=2, resp_ip_bytes=120,
        resp_bytes=0, orig_tcp_flags=2, resp_tcp_flags=18, conn_state="S1", history="Sh",
        end_reason="idle",
    )  # fmt: skip
    return replace(base, **fields)


def _round_trip(records: list[FlowRecord]) -> list[FlowRecord]:
    return decode_payload(encode_flow_batch(records, IDENTITY, BATCH)).flows


def _sorted(records: list[FlowRecord]) -> list[FlowRecord]:
    return sorted(records, key=lambda r: (r.ts_us, r.serial))


# ---- the exact bytes (checked by hand against docs/WIRE.md; the C encoder's reference) ----

GOLDEN_RECORDS = [
    _record(
        serial=4, ts_us=1300, duration_us=0, proto=17, orig_addr=_v4("10.0.0.2"), orig_port=53,
        resp_addr=_v4("10.0.0.1"), resp_port=53, vlan=20, orig_pkts=1, orig_ip_bytes=60,
        orig_bytes=32, resp_pkts=0, resp_ip_bytes=0, orig_tcp_flags=0, resp_tcp_flags=0,
        conn_state="S0", history="D", end_reason="active", service="dns", orig_l2_addr=MAC_B,
        server_name="ns.example",
    ),
    _record(orig_l2_addr=MAC_A, resp_l2_addr=MAC_B),
]  # fmt: skip
GOLDEN_FRAGMENT = (
    "10" "1903e8"  # 16: base time 1000
    "11" "45" "8180805001"  # 17: 10.0.0.1 = 167772161 as LEB128, then +1
    "13" "82"  # 19: two shapes, in order of first use
    "89" "06" "01" "625368" "02" "12" "00" "f6f6f6"  # tcp S1 "Sh" 2 18 idle
    "89" "11" "00" "6144" "00" "00" "01" "63646e73" "14" "f6"  # udp S0 "D" active dns vlan 20
    "14" "45" "01bb03" "0035"  # 20: responders (1, 443), (0, 53)
    "15" "02"  # 21: N = 2
    "16" "8d"  # 22: 13 columns
    "42" "0a01"  # serial 5 (zigzag 10), then 4 (delta -1: zigzag 1)
    "43" "00ac02"  # ts delta 0, 300
    "43" "c80100"  # duration 200, 0
    "42" "0001"  # shape
    "42" "0001"  # originator address index
    "44" "c0b80235"  # orig port 40000, 53
    "42" "0001"  # responder index
    "42" "0301" "43" "b4013c" "42" "0020"  # orig pkts, ip bytes, bytes
    "42" "0200" "42" "7800" "42" "0000"  # resp pkts, ip bytes, bytes
    "17" "4c" "001a5c000001" "00000c9ff001"  # 23: MACs in order of first use
    "1818" "42" "0102"  # 24: 10.0.0.1's default MAC is 0, 10.0.0.2's is 1 (+1 each)
    "1819" "42" "0301"  # 25: both ends default; orig default, no resp MAC
    "181b" "42" "0001"  # 27: no name; name 0 (+1)
)  # fmt: skip


def test_the_fragment_is_exactly_the_documented_bytes() -> None:
    fragment = encode_flows_fragment(GOLDEN_RECORDS)
    assert fragment.data.hex() == GOLDEN_FRAGMENT
    assert (fragment.entries, fragment.server_names) == (10, ["ns.example"])


def test_the_payload_is_the_envelope_the_fragment_and_the_names_in_one_map() -> None:
    fragment = encode_flows_fragment(GOLDEN_RECORDS)
    payload = encode_flow_batch(GOLDEN_RECORDS, IDENTITY, BATCH)
    envelope = dumps(flows_envelope(IDENTITY, BATCH))
    # 12 envelope entries (0-11: no key 12 at seq 7) + 10 + key 28: 23 entries, one byte head
    assert payload[0] == 0xA0 + 23
    assert payload[1:] == envelope[1:] + fragment.data + bytes.fromhex("181c816a") + b"ns.example"
    assert join_flows_payload(IDENTITY, BATCH, fragment.data, 10, ["ns.example"]) == payload
    assert strict_loads(payload)[s.KEY_COUNTERS] == {0: 10, 18: 1}  # counters by id
    assert strict_loads(payload)[s.KEY_LOSSES] == {"spool_bytes": 9}


def test_join_payload_writes_a_two_byte_map_head_from_24_entries() -> None:
    envelope = flows_envelope(IDENTITY, replace(BATCH, seq=0, previous_boot_last_seq=3))
    assert len(envelope) == 13
    fragment = encode_flows_fragment(
        [replace(r, resp_l2_addr=MAC_C) for r in GOLDEN_RECORDS]  # codes >= 4: key 26 too
    )
    assert fragment.entries == 11
    payload = join_payload(envelope, fragment.data, fragment.entries, {28: ["ns.example"]})
    assert payload[:2] == bytes([0xB8, 25])
    assert strict_loads(payload)[28] == ["ns.example"]
    with pytest.raises(ValueError, match="envelope keys"):
        join_payload({16: 1}, b"", 0)
    with pytest.raises(ValueError, match="tail keys"):
        join_payload(envelope, b"", 0, {27: 1})


# ---- varints ----


@pytest.mark.parametrize(
    "value, encoded",
    [(0, "00"), (1, "01"), (127, "7f"), (128, "8001"), (300, "ac02"), (2**14, "808001"),
     (U64, "ffffffffffffffffff01"), (2 * U64, "feffffffffffffffff03")],
)  # fmt: skip
def test_varints_are_shortest_leb128(value: int, encoded: str) -> None:
    assert write_uvarints([value]).hex() == encoded
    assert read_uvarints(bytes.fromhex(encoded), 2 * U64) == [value]


def test_zigzag_maps_signed_to_unsigned_and_back() -> None:
    assert [zigzag(n) for n in (0, -1, 1, -2, 2)] == [0, 1, 2, 3, 4]
    for n in (0, 1, -1, U64, -U64, 2**63, -(2**63)):
        assert unzigzag(zigzag(n)) == n
    assert zigzag(-U64) == 2 * U64 - 1 and zigzag(U64) == 2 * U64


@pytest.mark.parametrize(
    "data, maximum, error",
    [
        ("80", U64, "ends inside"),
        ("0180", U64, "ends inside"),
        ("8000", U64, "shortest"),
        ("ff8000", U64, "shortest"),
        ("8080808080808080808001", 2**80, "longer than 10"),
        ("ffffffffffffffffff02", U64, "above"),
        ("05", 4, "above"),
        ("8001", 127, "above"),
    ],
)
def test_varint_reader_refuses_malformed_strings(data: str, maximum: int, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        read_uvarints(bytes.fromhex(data), maximum)


def test_varint_writer_refuses_negative_and_too_long_values() -> None:
    with pytest.raises(ValueError):
        write_uvarints([-1])
    with pytest.raises(ValueError):
        write_uvarints([2**70])


# ---- round trips ----


def test_one_record_round_trips() -> None:
    (record,) = synthetic_flows(1)
    assert _round_trip([record]) == [record]


def test_ipv6_only_batch_has_no_ipv4_table() -> None:
    records = [
        _record(serial=n, orig_addr=_v6(f"2001:db8::{n:x}"), resp_addr=_v6("fe80::1"))
        for n in range(1, 40)
    ]
    payload = strict_loads(encode_flow_batch(records, IDENTITY, BATCH))
    assert s.V3_IPV4 not in payload and len(payload[s.V3_IPV6]) == 40
    assert payload[s.V3_IPV6] == sorted(payload[s.V3_IPV6])
    assert _round_trip(records) == _sorted(records)


def test_mixed_ipv4_and_ipv6_index_ipv4_first_both_ascending() -> None:
    records = [
        _record(serial=1, orig_addr=_v6("2001:db8::2"), resp_addr=_v4("192.168.0.1")),
        _record(serial=2, orig_addr=_v4("10.9.0.1"), resp_addr=_v6("2001:db8::1")),
        _record(serial=3, orig_addr=_v4("0.0.0.0"), resp_addr=_v4("255.255.255.255")),
    ]
    payload = strict_loads(encode_flow_batch(records, IDENTITY, BATCH))
    numbers = read_uvarints(payload[s.V3_IPV4], U64)
    assert numbers == [0, 0x0A090001, 0xC0A80001 - 0x0A090001, 0xFFFFFFFF - 0xC0A80001]
    assert payload[s.V3_IPV6] == [_v6("2001:db8::1"), _v6("2001:db8::2")]
    assert _round_trip(records) == _sorted(records)


def test_records_without_macs_round_trip_without_mac_keys() -> None:
    records = [replace(r, orig_l2_addr=None, resp_l2_addr=None) for r in synthetic_flows(80)]
    payload = strict_loads(encode_flow_batch(records, IDENTITY, BATCH))
    assert not set(range(s.V3_MACS, s.V3_MAC_PAIRS + 1)) & payload.keys()
    assert _round_trip(records) == _sorted(records)


def test_a_mac_other_than_the_address_default_takes_a_pair_code() -> None:
    a, b = _v4("10.0.0.1"), _v4("10.0.0.2")
    records = [
        _record(serial=1, orig_addr=a, resp_addr=b, orig_l2_addr=MAC_A, resp_l2_addr=MAC_B),
        _record(serial=2, orig_addr=a, resp_addr=b, orig_l2_addr=MAC_A, resp_l2_addr=MAC_B),
        # 10.0.0.2 behind another MAC once (a moved device, a spoofer): a pair
        _record(serial=3, orig_addr=a, resp_addr=b, orig_l2_addr=MAC_A, resp_l2_addr=MAC_C),
        _record(serial=4, orig_addr=b, resp_addr=a, orig_l2_addr=MAC_C, resp_l2_addr=None),
        _record(serial=5, orig_addr=a, resp_addr=b, orig_l2_addr=None, resp_l2_addr=MAC_B),
    ]
    payload = strict_loads(encode_flow_batch(records, IDENTITY, BATCH))
    assert read_uvarints(payload[s.V3_ADDRESS_MACS], U64) == [1, 2]  # A for .1, B for .2
    assert read_uvarints(payload[s.V3_MAC_CODES], U64) == [3, 3, 4, 5, 2]
    assert read_uvarints(payload[s.V3_MAC_PAIRS], U64) == [1, 3, 3, 0]
    assert _round_trip(records) == records


def test_default_mac_tie_goes_to_the_lowest_mac_index() -> None:
    a, b, c = _v4("10.0.0.1"), _v4("10.0.0.2"), _v4("10.0.0.3")
    records = [
        _record(serial=1, orig_addr=c, resp_addr=b, orig_l2_addr=MAC_A),  # MAC_A index 0
        _record(serial=2, orig_addr=a, resp_addr=b, orig_l2_addr=MAC_B),  # MAC_B index 1
        _record(serial=3, orig_addr=a, resp_addr=b, orig_l2_addr=MAC_A),  # a: tie A/B
    ]
    payload = strict_loads(encode_flow_batch(records, IDENTITY, BATCH))
    assert read_uvarints(payload[s.V3_ADDRESS_MACS], U64) == [1, 0, 1]  # a -> A, b none, c -> A
    assert _round_trip(records) == records


def test_names_serials_going_back_vlans_and_values_near_two_to_the_64() -> None:
    records = [
        _record(serial=U64, ts_us=0, vlan=4095, inner_vlan=0, server_name="a" * 253),
        _record(serial=0, ts_us=1, end_reason="active", server_name="pacs.example"),
        _record(serial=2**63, ts_us=U64, duration_us=U64, orig_pkts=U64, orig_ip_bytes=U64,
                orig_bytes=U64, resp_pkts=U64, resp_ip_bytes=U64, resp_bytes=U64,
                orig_port=65535, resp_port=0, proto=255, orig_tcp_flags=255,
                conn_state="RSTRH", history="x" * 16, end_reason="resources", service="ü"),
    ]  # fmt: skip
    payload = strict_loads(encode_flow_batch(records, IDENTITY, BATCH))
    serials = read_uvarints(payload[s.V3_COLUMNS][0], 2 * U64)
    assert [unzigzag(v) for v in serials] == [U64, -U64, 2**63]
    assert _round_trip(records) == records


def test_every_conn_state_and_end_reason_has_a_code() -> None:
    records = [
        _record(serial=n, conn_state=state, end_reason=s.END_REASON_CODES[n % 5])
        for n, state in enumerate(s.CONN_STATE_CODES)
    ]
    assert set(s.CONN_STATE_CODES) == s.CONN_STATES
    assert _round_trip(records) == _sorted(records)
    with pytest.raises(ValueError, match="no code"):
        encode_flow_batch([_record(conn_state="XX")], IDENTITY, BATCH)


def test_a_realistic_batch_round_trips_exactly() -> None:
    records = synthetic_flows(1000, seed=11)
    assert _round_trip(records) == _sorted(records)


# ---- the decoder refuses every malformed variant (docs/WIRE.md, "What a consumer checks") ----

Breakage = Callable[[dict[int, Any]], None]


def _set(key: int, value: Any) -> Breakage:
    return lambda p: p.__setitem__(key, value)


def _column(index: int, data: bytes) -> Breakage:
    return lambda p: p[s.V3_COLUMNS].__setitem__(index, data)


def _pop(*keys: int) -> Breakage:
    return lambda p: [p.pop(key) for key in keys] and None


# The good payload these break: 3 records, 3 IPv4 + 1 IPv6 addresses, MACs with a pair,
# names (see _breakable(): 10.0.0.2's MACs tie, B wins as the lower index).
BREAKAGES: dict[str, Breakage] = {
    "varints ending inside a value": _column(0, b"\x02\x02\x82"),
    "varint not shortest": _column(1, b"\x00\x80\x00\x01"),
    "column of N - 1 values": _column(2, b"\x00\x00"),
    "column of N + 1 values": _column(2, b"\x00\x00\x00\x00"),
    "empty column": _column(2, b""),
    "column as an array": _column(2, [0, 0, 0]),
    "12 columns": lambda p: p[s.V3_COLUMNS].pop(),
    "14 columns": lambda p: p[s.V3_COLUMNS].append(b"\x00\x00\x00"),
    "shape index out of table": _column(3, b"\x00\x00\x09"),
    "address index out of table": _column(4, b"\x00\x00\x04"),
    "port above 65535": _column(5, b"\x00\x00\x80\x80\x04"),
    "responder index out of table": _column(6, b"\x00\x00\x09"),
    "first ts delta not 0": _column(1, b"\x01\x00\x00"),
    "serial going negative": _column(0, b"\x02\x05\x00"),
    "serial above 2^64-1": _column(0, b"\xfe\xff\xff\xff\xff\xff\xff\xff\xff\x03\x02\x02"),
    "ts above 2^64-1": _column(1, b"\x00" + b"\xff" * 9 + b"\x01\x00"),  # 1000 + U64
    "counter above 2^64-1": _column(7, b"\x00\x80\x80\x80\x80\x80\x80\x80\x80\x80\x02\x00"),
    "N = 0": _set(s.V3_COUNT, 0),
    "N as text": _set(s.V3_COUNT, "3"),
    "base time negative": _set(s.V3_BASE_TIME_US, -1),
    "IPv4 above 2^32-1": _set(s.V3_IPV4, b"\xff\xff\xff\xff\x0f\x01\x01"),
    "IPv4 not ascending": _set(s.V3_IPV4, b"\x05\x00\x01"),
    "IPv4 table empty": _set(s.V3_IPV4, b""),
    "IPv4 table as an array": _set(s.V3_IPV4, [b"\x0a\x00\x00\x01"]),
    "IPv6 not ascending": lambda p: p[s.V3_IPV6].insert(0, b"\xff" * 16),
    "IPv6 twice": lambda p: p[s.V3_IPV6].append(p[s.V3_IPV6][0]),
    "IPv6 of 4 bytes": _set(s.V3_IPV6, [b"\x01" * 4]),
    "IPv6 table empty": _set(s.V3_IPV6, []),
    "no address at all": _pop(s.V3_IPV4, s.V3_IPV6),
    "shapes empty": _set(s.V3_SHAPES, []),
    "shape of 8": lambda p: p[s.V3_SHAPES][0].pop(),
    "conn_state code 13": lambda p: p[s.V3_SHAPES][0].__setitem__(1, 13),
    "conn_state as text": lambda p: p[s.V3_SHAPES][0].__setitem__(1, "SF"),
    "end_reason code 5": lambda p: p[s.V3_SHAPES][0].__setitem__(5, 5),
    "vlan 4096": lambda p: p[s.V3_SHAPES][0].__setitem__(7, 4096),
    "inner vlan as bool": lambda p: p[s.V3_SHAPES][0].__setitem__(8, True),
    "history of 17": lambda p: p[s.V3_SHAPES][0].__setitem__(2, "x" * 17),
    "proto 256": lambda p: p[s.V3_SHAPES][0].__setitem__(0, 256),
    "shape twice": lambda p: p[s.V3_SHAPES].append(list(p[s.V3_SHAPES][0])),
    "responders odd": _set(s.V3_RESPONDERS, b"\x00\x35\x01"),
    "responder port above 65535": _set(s.V3_RESPONDERS, b"\x00\x80\x80\x04\x01\x01\x02\x01"),
    "responder address out of table": _set(s.V3_RESPONDERS, b"\x09\x35\x01\x01\x02\x01"),
    "responder twice": _set(s.V3_RESPONDERS, b"\x00\x35\x00\x35\x01\x01"),
    "MAC table without the rest": _pop(s.V3_ADDRESS_MACS, s.V3_MAC_CODES, s.V3_MAC_PAIRS),
    "MAC codes missing": _pop(s.V3_MAC_CODES),
    "address MACs missing": _pop(s.V3_ADDRESS_MACS),
    "MAC pairs without MACs": _pop(s.V3_MACS, s.V3_ADDRESS_MACS, s.V3_MAC_CODES),
    "MAC table of 5 bytes": _set(s.V3_MACS, b"\x01" * 5),
    "MAC table of 13 bytes": lambda p: p.__setitem__(s.V3_MACS, p[s.V3_MACS] + b"\x01"),
    "MAC twice": lambda p: p.__setitem__(s.V3_MACS, p[s.V3_MACS][:6] * 3),
    "address MACs: one too few": _set(s.V3_ADDRESS_MACS, b"\x01\x02\x00"),
    "address MAC out of table": _set(s.V3_ADDRESS_MACS, b"\x01\x02\x00\x09"),
    "MAC code out of range": _set(s.V3_MAC_CODES, b"\x03\x09\x00"),
    "MAC code bit for an address without MAC": _set(s.V3_MAC_CODES, b"\x03\x04\x02"),
    "MAC codes of N - 1": _set(s.V3_MAC_CODES, b"\x03\x04"),
    "MAC pair unused": lambda p: p.__setitem__(s.V3_MAC_PAIRS, p[s.V3_MAC_PAIRS] + b"\x02\x02"),
    "MAC pair (0, 0)": _set(s.V3_MAC_PAIRS, b"\x00\x00"),
    "MAC pair that is the defaults": _set(s.V3_MAC_PAIRS, b"\x01\x02"),
    "MAC pair twice": lambda p: p.__setitem__(s.V3_MAC_PAIRS, p[s.V3_MAC_PAIRS] * 2),
    "MAC pair index out of table": _set(s.V3_MAC_PAIRS, b"\x01\x09"),
    "MAC pairs with no code >= 4": _set(s.V3_MAC_CODES, b"\x03\x03\x00"),
    "name column without names": _pop(s.V3_SERVER_NAMES),
    "names without a column": _pop(s.V3_NAME_COLUMN),
    "name index out of table": _set(s.V3_NAME_COLUMN, b"\x01\x05\x00"),
    "name unused": lambda p: p[s.V3_SERVER_NAMES].append("other.example"),
    "name twice": lambda p: p[s.V3_SERVER_NAMES].append(p[s.V3_SERVER_NAMES][0]),
    "empty name": lambda p: p[s.V3_SERVER_NAMES].__setitem__(0, ""),
    "names empty": _set(s.V3_SERVER_NAMES, []),
    "name column of N + 1": _set(s.V3_NAME_COLUMN, b"\x01\x00\x00\x00"),
    "unknown key 29": _set(29, 0),
    "unknown key 13": _set(13, 0),
    "version 2's flow rows": _set(s.KEY_FLOWS, []),
    "counter id negative": _set(s.KEY_COUNTERS, {-1: 1}),
    "counter by name": _set(s.KEY_COUNTERS, {"packets_seen": 1}),
}


def _breakable() -> dict[int, Any]:
    a, b, c, v6 = _v4("10.0.0.1"), _v4("10.0.0.2"), _v4("10.0.0.3"), _v6("2001:db8::1")
    records = [
        _record(serial=1, orig_addr=a, resp_addr=b, orig_l2_addr=MAC_A, resp_l2_addr=MAC_B,
                server_name="pacs.example"),
        _record(serial=2, ts_us=1001, orig_addr=a, resp_addr=b, orig_l2_addr=MAC_A,
                resp_l2_addr=MAC_C),
        _record(serial=3, ts_us=1002, orig_addr=c, resp_addr=v6, orig_port=53),
    ]  # fmt: skip
    payload = strict_loads(encode_flow_batch(records, IDENTITY, BATCH))
    assert _round_trip(records) == records
    # What the breakages assume:
    assert read_uvarints(payload[s.V3_ADDRESS_MACS], U64) == [1, 2, 0, 0]
    assert read_uvarints(payload[s.V3_MAC_CODES], U64) == [3, 4, 0]
    assert read_uvarints(payload[s.V3_MAC_PAIRS], U64) == [1, 3]
    assert read_uvarints(payload[s.V3_NAME_COLUMN], U64) == [1, 0, 0]
    assert read_uvarints(payload[s.V3_RESPONDERS], U64) == [1, 443, 3, 443]
    return payload


@pytest.mark.parametrize("name", BREAKAGES)
def test_decoder_refuses_malformed_flows_as_wrong_type(name: str) -> None:
    payload = _breakable()
    BREAKAGES[name](payload)
    with pytest.raises(Rejected) as refused:
        decode_payload(dumps(payload))
    assert refused.value.reason == WRONG_TYPE, refused.value.detail


def test_an_unknown_counter_id_is_named_not_refused() -> None:
    payload = strict_loads(encode_flow_batch(synthetic_flows(2), IDENTITY, BATCH))
    payload[s.KEY_COUNTERS] = {0: 5, 19: 2, 4000: 1}  # ids a newer sensor may send
    counters = decode_payload(dumps(payload)).counters
    assert counters == {"packets_seen": 5, "counter_19": 2, "counter_4000": 1}


def test_random_bytes_in_any_column_never_escape_as_an_exception() -> None:
    rng = __import__("random").Random(5)
    payload = _breakable()
    for _ in range(3000):
        broken = strict_loads(dumps(payload))
        key = rng.choice([s.V3_IPV4, s.V3_RESPONDERS, s.V3_ADDRESS_MACS, s.V3_MAC_CODES,
                          s.V3_MAC_PAIRS, s.V3_NAME_COLUMN, s.V3_COLUMNS])  # fmt: skip
        junk = os.urandom(rng.randrange(0, 12))
        if key == s.V3_COLUMNS:
            broken[key][rng.randrange(13)] = junk
        else:
            broken[key] = junk
        try:
            decode_payload(dumps(broken))
        except Rejected as rejection:
            assert rejection.reason == WRONG_TYPE
