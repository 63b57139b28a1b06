"""Nothing that fails a check is passed on: each failure is one `rejected` record with
its own reason, and no flipped byte anywhere in a message survives verification."""

from __future__ import annotations

import os
from dataclasses import replace

import cbor2
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.consumer import Consumer
from agent.cose import Signer
from agent.keys import TrustStore
from agent.wire import BatchInfo, SensorIdentity, encode_flow_batch, encode_status, topic_for
from agent.wire.samples import synthetic_flows

IDENTITY = SensorIdentity("wing4b-01", "st-mary", "4b", os.urandom(16))
TOPIC = topic_for("iomt", "st-mary", "4b", "wing4b-01", "flows")
BATCH = BatchInfo(seq=0, window_start_us=1_000, window_end_us=2_000, counters={"packets_seen": 1})


@pytest.fixture(scope="module")
def signer() -> Signer:
    return Signer(Ed25519PrivateKey.generate())


@pytest.fixture()
def consumer(signer: Signer) -> Consumer:
    key = signer.public_key()
    return Consumer(TrustStore({signer.kid: key}), max_message_bytes=64 * 1024)


def _only_rejection(records: list[dict]) -> str:
    assert len(records) == 1 and records[0]["type"] == "rejected", records
    return records[0]["reason"]


def _good_payload(flows: int = 3) -> bytes:
    return encode_flow_batch(synthetic_flows(flows), IDENTITY, BATCH)


def _signed_raw(signer: Signer, payload: bytes, topic: str = TOPIC) -> bytes:
    return signer.sign(payload, topic)


def test_good_message_passes(consumer: Consumer, signer: Signer) -> None:
    records = consumer.handle(signer.sign(_good_payload(), TOPIC), TOPIC)
    assert [r["type"] for r in records] == ["boot", "batch", "flow", "flow", "flow"]


def test_bad_signature(consumer: Consumer, signer: Signer) -> None:
    message = bytearray(signer.sign(_good_payload(), TOPIC))
    message[-1] ^= 0x01  # the last byte belongs to the signature
    assert _only_rejection(consumer.handle(bytes(message), TOPIC)) == "bad_signature"


def test_unknown_kid(consumer: Consumer) -> None:
    stranger = Signer(Ed25519PrivateKey.generate())
    records = consumer.handle(stranger.sign(_good_payload(), TOPIC), TOPIC)
    assert _only_rejection(records) == "unknown_kid"
    assert stranger.kid.hex() in records[0]["detail"]


def test_message_replayed_onto_another_wing_is_a_topic_mismatch(
    consumer: Consumer, signer: Signer
) -> None:
    message = signer.sign(_good_payload(), TOPIC)
    other_wing = topic_for("iomt", "st-mary", "5a", "wing4b-01", "flows")
    records = consumer.handle(message, other_wing)
    assert _only_rejection(records) == "topic_mismatch"
    assert TOPIC in records[0]["detail"]


def test_payload_naming_another_sensor_than_its_topic_is_a_topic_mismatch(
    consumer: Consumer, signer: Signer
) -> None:
    # Signed for the topic it is sent on, but the payload claims another sensor.
    other = replace(IDENTITY, sensor_id="wing4b-02")
    message = signer.sign(encode_flow_batch(synthetic_flows(1), other, BATCH), TOPIC)
    assert _only_rejection(consumer.handle(message, TOPIC)) == "topic_mismatch"


def test_unsupported_schema_version(consumer: Consumer, signer: Signer) -> None:
    payload = cbor2.loads(_good_payload())
    payload[0] = 4
    message = signer.sign(cbor2.dumps(payload, canonical=True), TOPIC)
    assert _only_rejection(consumer.handle(message, TOPIC)) == "unsupported_version"


def test_unsorted_map_keys_are_non_deterministic(consumer: Consumer, signer: Signer) -> None:
    payload = cbor2.loads(_good_payload())
    unsorted = dict(sorted(payload.items(), reverse=True))
    message = signer.sign(cbor2.dumps(unsorted), TOPIC)  # not canonical: keys 19..0
    assert _only_rejection(consumer.handle(message, TOPIC)) == "non_deterministic"


def test_non_shortest_integer_is_non_deterministic(consumer: Consumer, signer: Signer) -> None:
    good = _good_payload()
    assert good[1:3] == bytes([0x00, 0x03])  # after the map header: key 0, version 3
    longer = good[:2] + b"\x18\x03" + good[3:]  # version 3 as a one-byte-argument uint
    message = signer.sign(longer, TOPIC)
    assert _only_rejection(consumer.handle(message, TOPIC)) == "non_deterministic"


def test_duplicate_keys(consumer: Consumer, signer: Signer) -> None:
    good = encode_status("online", IDENTITY, 5)
    # one more entry: key 0 repeated, same value, keys still in order.
    assert 0xA0 <= good[0] < 0xB7 and good[1:3] == b"\x00\x03"
    duplicated = bytes([good[0] + 1]) + b"\x00\x03" + good[1:]
    message = signer.sign(duplicated, topic_for("iomt", "st-mary", "4b", "wing4b-01", "status"))
    records = consumer.handle(message, topic_for("iomt", "st-mary", "4b", "wing4b-01", "status"))
    assert _only_rejection(records) == "duplicate_keys"


def test_indefinite_length(consumer: Consumer, signer: Signer) -> None:
    good = encode_status("online", IDENTITY, 5)
    indefinite = bytes([0xBF]) + good[1:] + b"\xff"
    topic = topic_for("iomt", "st-mary", "4b", "wing4b-01", "status")
    assert _only_rejection(consumer.handle(signer.sign(indefinite, topic), topic)) == (
        "indefinite_length"
    )


def test_trailing_bytes_in_payload(consumer: Consumer, signer: Signer) -> None:
    message = signer.sign(_good_payload() + b"\x00", TOPIC)
    assert _only_rejection(consumer.handle(message, TOPIC)) == "trailing_bytes"


def test_trailing_bytes_after_message(consumer: Consumer, signer: Signer) -> None:
    message = signer.sign(_good_payload(), TOPIC) + b"\x00"
    assert _only_rejection(consumer.handle(message, TOPIC)) == "trailing_bytes"


def test_oversize_message_is_refused_before_parsing(consumer: Consumer, signer: Signer) -> None:
    message = signer.sign(_good_payload(3000), TOPIC)
    assert len(message) > 64 * 1024
    records = consumer.handle(message, TOPIC)
    assert _only_rejection(records) == "oversize"
    assert records[0]["bytes"] == len(message)


@pytest.mark.parametrize(
    ("where", "value"),
    [
        (2, 42),  # sensor id as a number
        (6, -1),  # negative seq
        (9, {0: 1.5}),  # a float counter
        (9, {"packets_seen": 1}),  # a counter by name (version 2's way) in version 3
        (19, [[6, 2, "S", 0, 0, 0, None, None, True]]),  # a boolean VLAN in a shape
        (17, [b"\x0a\x00\x00\x01"]),  # the IPv4 table as version 2's array
        (22, [b"\x00"] * 13),  # columns of one value, where the batch has 3 records
        (22, [b"\x00\x00\x00"] * 12),  # 12 columns
        (21, 4),  # a record count the columns do not hold
    ],
)
def test_wrong_types(consumer: Consumer, signer: Signer, where: int, value: object) -> None:
    payload = cbor2.loads(_good_payload())
    payload[where] = value
    message = signer.sign(cbor2.dumps(payload, canonical=True), TOPIC)
    assert _only_rejection(consumer.handle(message, TOPIC)) == "wrong_type"


def test_index_outside_a_table_is_a_wrong_type(consumer: Consumer, signer: Signer) -> None:
    payload = cbor2.loads(_good_payload())
    assert 18 not in payload and len(payload[17]) < 100  # fewer than 100 addresses
    payload[22][4] = bytes([0, 0, 100])  # the third record's originator: past the table
    message = signer.sign(cbor2.dumps(payload, canonical=True), TOPIC)
    assert _only_rejection(consumer.handle(message, TOPIC)) == "wrong_type"


def test_untagged_or_non_cose_message_is_a_wrong_type(consumer: Consumer, signer: Signer) -> None:
    tagged = cbor2.loads(signer.sign(_good_payload(), TOPIC))
    untagged = cbor2.dumps(list(tagged.value), canonical=True)
    assert _only_rejection(consumer.handle(untagged, TOPIC)) == "wrong_type"
    assert _only_rejection(consumer.handle(b"\xf6", TOPIC)) == "wrong_type"


def test_garbage_is_malformed(consumer: Consumer) -> None:
    assert _only_rejection(consumer.handle(b"\xd2\x84\x43", TOPIC)) == "malformed"
    assert _only_rejection(consumer.handle(b"", TOPIC)) == "malformed"


def test_other_algorithm_is_refused(consumer: Consumer, signer: Signer) -> None:
    tagged = cbor2.loads(signer.sign(_good_payload(), TOPIC))
    protected = cbor2.dumps({1: -7, 4: signer.kid}, canonical=True)  # ES256
    forged = cbor2.CBORTag(18, [protected, {}, tagged.value[2], tagged.value[3]])
    records = consumer.handle(cbor2.dumps(forged, canonical=True), TOPIC)
    assert _only_rejection(records) == "unsupported_algorithm"


def test_protected_header_with_more_than_alg_and_kid_is_refused(
    consumer: Consumer, signer: Signer
) -> None:
    payload = _good_payload()
    protected = cbor2.dumps({1: -8, 2: [99], 4: signer.kid}, canonical=True)  # crit: [99]
    to_sign = cbor2.dumps(["Signature1", protected, TOPIC.encode(), payload], canonical=True)
    signature = signer._key.sign(to_sign)  # a validly signed message, with a crit header
    message = cbor2.dumps(cbor2.CBORTag(18, [protected, {}, payload, signature]), canonical=True)
    assert _only_rejection(consumer.handle(message, TOPIC)) == "wrong_type"


def test_flipping_any_bit_of_any_byte_is_rejected(consumer: Consumer, signer: Signer) -> None:
    message = signer.sign(_good_payload(2), TOPIC)
    assert [r["type"] for r in consumer.handle(message, TOPIC)][:2] == ["boot", "batch"]
    survivors = []
    for index in range(len(message)):
        for bit in (0x01, 0x80):
            tampered = bytearray(message)
            tampered[index] ^= bit
            records = consumer.handle(bytes(tampered), TOPIC)
            if len(records) != 1 or records[0]["type"] != "rejected":
                survivors.append((index, bit))
    assert survivors == []
    assert consumer.stats.rejected == 2 * len(message)


def test_rejections_never_carry_message_content(consumer: Consumer, signer: Signer) -> None:
    message = bytearray(signer.sign(_good_payload(), TOPIC))
    message[-1] ^= 0xFF
    (record,) = consumer.handle(bytes(message), TOPIC)
    assert set(record) == {"type", "reason", "detail", "topic", "bytes"}
