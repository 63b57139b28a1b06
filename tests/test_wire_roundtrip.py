"""The wire format: what goes in comes back out, bit for bit, and it is small."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import fields, replace
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.cose import Signer
from agent.engine import EngineCounters
from agent.flowrecord import FlowRecord
from agent.pipeline import cumulative_counters
from agent.wire import (
    BatchInfo,
    SensorIdentity,
    decode_payload,
    encode_alerts,
    encode_devices,
    encode_flow_batch,
    encode_health,
    encode_status,
    topic_for,
)
from agent.wire.canonical import dumps, strict_loads
from agent.wire.rejection import Rejected
from agent.wire.samples import synthetic_flows
from agent.wire.schema import (
    V3_ADDRESS_MACS,
    V3_MAC_CODES,
    V3_MAC_PAIRS,
    V3_MACS,
    V3_NAME_COLUMN,
    V3_SERVER_NAMES,
)
from agent.wire.varint import read_uvarints

CDDL = Path(__file__).resolve().parent.parent / "docs" / "summary.cddl"
IDENTITY = SensorIdentity("wing4b-01", "st-mary", "4b", bytes(range(16)))
BATCH = BatchInfo(
    seq=41,
    window_start_us=1_767_225_590_000_000,
    window_end_us=1_767_225_600_000_000,
    counters={"packets_seen": 123_456, "kernel_drops": 0, "flows_created": 900},
    losses={"spool_messages": 3},
)


PUMP_MAC = bytes.fromhex("001a5c000038")


def _by_time(records: list[FlowRecord]) -> list[FlowRecord]:
    return sorted(records, key=lambda r: (r.ts_us, r.serial))


def _odd_records() -> list[FlowRecord]:
    """Edge cases: IPv6, VLANs, service, an `active` record of an old flow (serial
    going backwards), ICMP, large counters, the same start time twice."""
    base = synthetic_flows(1)[0]
    v6a = ipaddress.IPv6Address("2001:db8::1").packed
    v6b = ipaddress.IPv6Address("fe80::1").packed
    return [
        replace(base, serial=10, ts_us=1_000_000, vlan=100, inner_vlan=7, service="hl7"),
        replace(base, serial=3, ts_us=1_000_000, end_reason="active", history="^hADadR"),
        # Only the responder's MAC (the originator's frames came another way), and none.
        replace(base, serial=13, ts_us=1_500_000, orig_l2_addr=None, resp_l2_addr=PUMP_MAC),
        replace(base, serial=14, ts_us=1_600_000, orig_l2_addr=None, resp_l2_addr=None),
        # Server names: with MACs, without (the row's MAC index is then null), hashed.
        replace(base, serial=15, ts_us=1_700_000, server_name="pacs.example.org"),
        replace(
            base,
            serial=16,
            ts_us=1_800_000,
            orig_l2_addr=None,
            resp_l2_addr=None,
            server_name="pacs.example.org",
        ),
        replace(base, serial=17, ts_us=1_900_000, server_name="h:" + "0" * 32),
        replace(
            base,
            serial=11,
            ts_us=2_000_000,
            proto=58,
            orig_addr=v6a,
            resp_addr=v6b,
            orig_port=128,
            resp_port=129,
            conn_state="OTH",
            history="",
        ),
        replace(base, serial=2**40, ts_us=2**52, orig_pkts=2**63, orig_ip_bytes=2**64 - 1),
        replace(base, serial=12, ts_us=3_000_000, proto=132, vlan=4095, service=None),
    ]


def test_flow_batch_round_trips_every_field() -> None:
    records = synthetic_flows(700, seed=3) + _odd_records()
    message = decode_payload(encode_flow_batch(records, IDENTITY, BATCH))
    assert message.flows == _by_time(records)
    assert (message.kind, message.identity, message.seq) == ("flows", IDENTITY, 41)
    assert (message.window_start_us, message.window_end_us) == (
        BATCH.window_start_us,
        BATCH.window_end_us,
    )
    assert message.counters == BATCH.counters
    assert message.losses == {"spool_messages": 3}


def test_decoded_flow_json_equals_what_the_sensor_would_print() -> None:
    records = _odd_records()
    message = decode_payload(encode_flow_batch(records, IDENTITY, BATCH))
    decoded = sorted((r.to_json(IDENTITY.boot_id) for r in message.flows), key=str)
    original = sorted((r.to_json(IDENTITY.boot_id) for r in records), key=str)
    assert decoded == original


def test_flow_macs_round_trip_through_per_address_defaults() -> None:
    records = synthetic_flows(300, seed=4) + _odd_records()
    assert {r.resp_l2_addr is None for r in records} == {True, False}
    payload = strict_loads(encode_flow_batch(records, IDENTITY, BATCH))
    # Each distinct MAC once; a record names a pair only when a MAC is not its address's
    # usual one (here: the pump's MAC on a cloud address, and 10.4.2.x's own).
    macs = {m for r in records for m in (r.orig_l2_addr, r.resp_l2_addr) if m is not None}
    table = payload[V3_MACS]
    assert sorted(table[i : i + 6] for i in range(0, len(table), 6)) == sorted(macs)
    codes = read_uvarints(payload[V3_MAC_CODES], 2**64)
    assert len(codes) == len(records) and {0, 1, 3} <= set(codes)
    assert max(codes) >= 4 and V3_MAC_PAIRS in payload
    decoded = decode_payload(encode_flow_batch(records, IDENTITY, BATCH)).flows
    assert decoded == _by_time(records)
    json_lines = [r.to_json(IDENTITY.boot_id) for r in decoded]
    assert {"orig_l2_addr", "resp_l2_addr"} <= set().union(*json_lines)
    assert any("orig_l2_addr" not in line and "resp_l2_addr" in line for line in json_lines)


def test_flows_without_macs_carry_no_mac_keys() -> None:
    """A batch with no MAC (a sensor on a non-Ethernet link) has none of keys 23-26."""
    records = [replace(r, orig_l2_addr=None, resp_l2_addr=None) for r in synthetic_flows(50)]
    payload = strict_loads(encode_flow_batch(records, IDENTITY, BATCH))
    assert not {V3_MACS, V3_ADDRESS_MACS, V3_MAC_CODES, V3_MAC_PAIRS} & payload.keys()
    assert decode_payload(encode_flow_batch(records, IDENTITY, BATCH)).flows == _by_time(records)


def test_server_names_round_trip_through_a_per_batch_table() -> None:
    records = synthetic_flows(100, seed=5) + _odd_records()
    payload = strict_loads(encode_flow_batch(records, IDENTITY, BATCH))
    # Each distinct name once, in order of first use; a column of 1 + index or 0.
    assert sorted(payload[V3_SERVER_NAMES]) == ["h:" + "0" * 32, "pacs.example.org"]
    column = read_uvarints(payload[V3_NAME_COLUMN], 2**64)
    assert len(column) == len(records) and sum(1 for v in column if v) == 3
    decoded = decode_payload(encode_flow_batch(records, IDENTITY, BATCH)).flows
    assert decoded == _by_time(records)
    json_lines = [r.to_json(IDENTITY.boot_id) for r in decoded]
    assert sum(line.get("server_name") == "pacs.example.org" for line in json_lines) == 2
    assert sum("server_name" not in line for line in json_lines) == len(records) - 3


def test_flows_without_server_names_carry_no_name_keys() -> None:
    records = synthetic_flows(60, seed=6) + _odd_records()
    unnamed = [replace(r, server_name=None) for r in records]
    payload = strict_loads(encode_flow_batch(unnamed, IDENTITY, BATCH))
    assert not {V3_NAME_COLUMN, V3_SERVER_NAMES} & payload.keys()


@pytest.mark.parametrize(
    "breakage, reason",
    [
        (lambda p: p.__setitem__(V3_SERVER_NAMES, []), "non-empty"),
        (lambda p: p[V3_SERVER_NAMES].__setitem__(0, b"x"), "must be text"),
        (lambda p: p[V3_SERVER_NAMES].__setitem__(0, "x" * 254), "must be text"),
        (lambda p: p.pop(V3_SERVER_NAMES), "come together"),
        (lambda p: p.pop(V3_NAME_COLUMN), "come together"),
        (lambda p: p[V3_SERVER_NAMES].append("unused.example"), "not used"),
        (lambda p: p[V3_SERVER_NAMES].append(p[V3_SERVER_NAMES][0]), "twice"),
    ],
    ids=["empty-table", "bytes-name", "long-name", "table-missing", "column-missing", "unused",
         "twice"],
)  # fmt: skip
def test_decoder_refuses_broken_server_name_tables(breakage, reason) -> None:
    payload = strict_loads(encode_flow_batch(_odd_records(), IDENTITY, BATCH))
    breakage(payload)
    with pytest.raises(Rejected, match=reason):
        decode_payload(dumps(payload))


def test_encoder_refuses_an_empty_flows_batch() -> None:
    """The batcher never ships an empty window as flows; schema 3 has N >= 1."""
    with pytest.raises(ValueError, match="at least one"):
        encode_flow_batch([], IDENTITY, BATCH)


def test_encoding_is_deterministic_and_independent_of_input_order() -> None:
    records = synthetic_flows(300, seed=5)
    first = encode_flow_batch(records, IDENTITY, BATCH)
    again = encode_flow_batch(list(reversed(records)), IDENTITY, BATCH)
    assert first == again
    assert strict_loads(first) is not None  # our own strict reader accepts it


def test_health_status_devices_alerts_round_trip() -> None:
    figures: dict[str, int | float | bool | str | None] = {
        "agent_rss_bytes": 31_000_000,
        "box_cpu_percent": 12.5,
        "clock_synchronized": True,
        "interface": "eth1",
        "temperature_c": None,
    }
    health = decode_payload(encode_health(figures, IDENTITY, BATCH))
    assert health.health == {k: v for k, v in figures.items() if v is not None}
    with_totals = decode_payload(
        encode_status("online", IDENTITY, 1, losses={"spool_dropped_messages": 3},
                      missing_interfaces=["usbeth0"])
    )  # fmt: skip
    assert with_totals.loss_totals == {"spool_dropped_messages": 3}
    assert with_totals.missing_interfaces == ["usbeth0"]
    status = decode_payload(encode_status("offline", IDENTITY, 1_767_225_600_123_456))
    assert (status.kind, status.state, status.time_us, status.seq) == (
        "status",
        "offline",
        1_767_225_600_123_456,
        None,
    )
    devices = [{"mac": bytes.fromhex("00095b112233"), "hostname": "pump-12", "vlan": 20}]
    assert decode_payload(encode_devices(devices, IDENTITY, BATCH)).devices == devices
    alerts = [{"rule": "no-internet", "port": 443}]
    assert decode_payload(encode_alerts(alerts, IDENTITY, BATCH)).alerts == alerts


def test_encoder_refuses_values_the_schema_cannot_hold() -> None:
    bad_addr = replace(synthetic_flows(1)[0], orig_addr=b"\x01\x02\x03")
    with pytest.raises(ValueError, match="4 or 16 bytes"):
        encode_flow_batch([bad_addr], IDENTITY, BATCH)
    one = synthetic_flows(1)
    with pytest.raises(ValueError, match="unsigned"):
        encode_flow_batch(one, IDENTITY, replace(BATCH, counters={"packets_seen": -1}))
    with pytest.raises(ValueError, match="no id"):
        encode_flow_batch(one, IDENTITY, replace(BATCH, counters={"packets_sen": 1}))
    with pytest.raises(ValueError, match="state"):
        encode_status("sleeping", IDENTITY, 0)
    with pytest.raises(ValueError, match="finite"):
        encode_health({"box_load_1m": float("nan")}, IDENTITY, BATCH)  # JSON has no NaN


@pytest.mark.parametrize(
    "flows_per_batch, most_bytes_per_flow", [(500, 40), (1000, 28), (4000, 28)]
)
def test_signed_flow_batch_stays_within_its_byte_budget(
    flows_per_batch: int, most_bytes_per_flow: int
) -> None:
    """Issue 17's budget (schema 3): <= 28 bytes a flow at 1000-flow batches, MACs counted;
    the bench capture's figures are in docs/PERFORMANCE.md ("Wire schema 3")."""
    records = synthetic_flows(flows_per_batch, seed=flows_per_batch)
    signer = Signer(Ed25519PrivateKey.generate())
    topic = topic_for("iomt", "st-mary", "4b", "wing4b-01", "flows")
    # Every counter a data message can carry (what the pipeline sends), each changed by
    # a billion: the batch's worst case.
    huge = EngineCounters(*[10**9] * len(fields(EngineCounters)))
    batch = replace(BATCH, counters=cumulative_counters(huge))
    message = signer.sign(encode_flow_batch(records, IDENTITY, batch), topic)
    assert len(message) / flows_per_batch <= most_bytes_per_flow


def test_every_kind_validates_against_the_published_cddl() -> None:
    pycddl = pytest.importorskip("pycddl", reason="pycddl (test extra) is not installed")
    schema = pycddl.Schema(CDDL.read_text())
    payloads = [
        encode_flow_batch(synthetic_flows(400, seed=9) + _odd_records(), IDENTITY, BATCH),
        encode_flow_batch(synthetic_flows(1), IDENTITY, BATCH),
        encode_health({"box_load_1m": 0.25, "clock_synchronized": False, "n": 3}, IDENTITY, BATCH),
        encode_status("online", IDENTITY, 1),
        encode_status(
            "online",
            IDENTITY,
            1,
            losses={"spool_dropped_messages": 3, "kernel_drops": 0},
            missing_interfaces=["usbeth0"],
        ),
        encode_devices(
            [{"mac": "00:01:02:03:04:05", "change": "new", "ipv4": ["10.4.2.21"]}], IDENTITY, BATCH
        ),
        encode_alerts([{"rule": "telnet", "count": 2}], IDENTITY, BATCH),
    ]
    for payload in payloads:
        schema.validate_cbor(payload)


def test_cddl_validator_refuses_what_the_schema_forbids() -> None:
    """The schema is not so loose that anything passes: break one field at a time."""
    pycddl = pytest.importorskip("pycddl", reason="pycddl (test extra) is not installed")
    import cbor2

    schema = pycddl.Schema(CDDL.read_text())
    good = cbor2.loads(encode_flow_batch(synthetic_flows(5) + _odd_records(), IDENTITY, BATCH))
    breakages = {
        "version 4": lambda p: p.__setitem__(0, 4),
        "17-byte IPv6 address": lambda p: p[18].__setitem__(0, b"\x01" * 17),
        "conn_state code 13": lambda p: p[19][0].__setitem__(1, 13),
        "end_reason code 5": lambda p: p[19][0].__setitem__(5, 5),
        "vlan 4096": lambda p: p[19][0].__setitem__(7, 4096),
        "no records": lambda p: p.__setitem__(21, 0),
        "12 columns": lambda p: p[22].pop(),
        # (not "a column as an array": pycddl misses a wrong array item behind the
        # payload's choice of messages; the decoder refuses it, tests/test_wire_columns.py)
        "empty server name": lambda p: p[28].__setitem__(0, ""),
        "counter by name": lambda p: p.__setitem__(9, {"packets_seen": 1}),
        "negative counter": lambda p: p[9].__setitem__(0, -1),
        "unknown key 29": lambda p: p.__setitem__(29, b"\x00"),
        "missing seq": lambda p: p.pop(6),
        "15-byte boot id": lambda p: p.__setitem__(5, b"\x00" * 15),
    }
    for name, breakage in breakages.items():
        payload = cbor2.loads(cbor2.dumps(good))
        breakage(payload)
        with pytest.raises(pycddl.ValidationError):
            schema.validate_cbor(cbor2.dumps(payload, canonical=True))
            pytest.fail(f"validator accepted: {name}")


def test_boot_id_must_be_16_bytes() -> None:
    with pytest.raises(ValueError):
        SensorIdentity("s", "site", "w", os.urandom(8))
