"""One deterministic encoding on both sides: RFC 8949 section 4.2.1 (map keys in the
bytewise order of their encodings), shortest integers, lengths and floats."""

from __future__ import annotations

import os

import cbor2
import pytest

from agent.wire import BatchInfo, Rejected, SensorIdentity, encode_alerts, encode_health
from agent.wire.canonical import dumps, strict_loads

IDENTITY = SensorIdentity("s", "site", "wing", os.urandom(16))


def test_mixed_key_map_in_bytewise_order_is_accepted() -> None:
    # {24: 0, "": 1}: 0x18 0x18 sorts before 0x60 bytewise (4.2.1), after it length-first.
    assert strict_loads(bytes.fromhex("a21818006001")) == {24: 0, "": 1}


def test_mixed_key_map_in_length_first_order_is_refused() -> None:
    with pytest.raises(Rejected) as caught:
        strict_loads(bytes.fromhex("a26001181800"))
    assert caught.value.reason == "non_deterministic"


def test_negative_and_positive_keys_follow_bytewise_order() -> None:
    assert strict_loads(bytes.fromhex("a21864002001")) == {100: 0, -1: 1}
    with pytest.raises(Rejected):
        strict_loads(bytes.fromhex("a22001186400"))


def test_the_encoder_refuses_a_map_whose_key_types_have_no_agreed_order() -> None:
    with pytest.raises(ValueError, match="all text or all"):
        encode_alerts([{"rule": "r", "facts": {1: 2, "a": 3}}], IDENTITY, BatchInfo(0, 0, 1))


def test_every_map_the_encoder_makes_decodes_strictly() -> None:
    figures = {"a": 1, "bb": 2.5, "c": True, "dddddddddddddddddddddddddddddd": "x", "e": 1e300}
    payload = encode_health(
        figures, IDENTITY, BatchInfo(0, 0, 1, {"malformed": 1, "packets_seen": 2})
    )
    assert strict_loads(payload)[16] == figures


@pytest.mark.parametrize(
    "encoded",
    [
        "fa3fc00000",  # 1.5 as single: half keeps it
        "fb3ff8000000000000",  # 1.5 as double
        "fb3ff0000000000000",  # 1.0 as double
        "fa7fc00000",  # NaN not as f97e00
        "1817",  # 23 in two bytes
        "190017",  # in three
        "5800",  # a byte-string length in two bytes
    ],
)
def test_a_longer_form_than_needed_is_refused(encoded: str) -> None:
    with pytest.raises(Rejected) as caught:
        strict_loads(bytes.fromhex(encoded))
    assert caught.value.reason == "non_deterministic"


@pytest.mark.parametrize("value", [1.5, 0.1, 1e300, -0.0, 65504.0, 100000.0, 5.960464477539063e-08])
def test_shortest_floats_round_trip(value: float) -> None:
    encoded = dumps(value)
    assert strict_loads(encoded) == value
    assert encoded == cbor2.dumps(value, canonical=True)


@pytest.mark.parametrize(
    ("encoded", "reason"),
    [
        ("f7", "wrong_type"),  # undefined
        ("f0", "wrong_type"),  # simple(16)
        ("f820", "wrong_type"),  # simple(32)
        ("9f00ff", "indefinite_length"),
        ("ff", "malformed"),
        ("1c", "malformed"),  # reserved additional information
        ("62c328", "malformed"),  # not UTF-8
        ("a1a000", "wrong_type"),  # a map as a map key
        ("a200000001", "duplicate_keys"),
        ("0000", "trailing_bytes"),
        ("9a7fffffff", "malformed"),  # claims more items than there are bytes
    ],
)
def test_what_the_schema_cannot_hold_is_refused_with_its_reason(encoded: str, reason: str) -> None:
    with pytest.raises(Rejected) as caught:
        strict_loads(bytes.fromhex(encoded))
    assert caught.value.reason == reason
