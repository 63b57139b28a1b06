"""COSE headers are checked, not ignored (RFC 9052 section 3): a label in both buckets,
an unprotected `crit` or any unprotected parameter is refused, and an empty protected
header is read as the empty map it encodes (then alg is missing)."""

from __future__ import annotations

import os

import cbor2
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.consumer import Consumer
from agent.cose import Signer, _sig_structure
from agent.keys import TrustStore
from agent.wire import BatchInfo, SensorIdentity, encode_flow_batch, topic_for
from agent.wire.samples import synthetic_flows

IDENTITY = SensorIdentity("wing4b-01", "st-mary", "4b", os.urandom(16))
TOPIC = topic_for("iomt", "st-mary", "4b", "wing4b-01", "flows")
PAYLOAD = encode_flow_batch(synthetic_flows(2), IDENTITY, BatchInfo(0, 0, 1))
KEY = Ed25519PrivateKey.generate()
SIGNER = Signer(KEY)


def _message(protected: bytes, unprotected: dict) -> bytes:
    signature = KEY.sign(_sig_structure(protected, TOPIC, PAYLOAD))
    return cbor2.dumps(
        cbor2.CBORTag(18, [protected, unprotected, PAYLOAD, signature]), canonical=True
    )


def _reason(message: bytes) -> str:
    consumer = Consumer(TrustStore({SIGNER.kid: KEY.public_key()}))
    record = consumer.handle(message, TOPIC)[0]
    return record["reason"] if record["type"] == "rejected" else record["type"]


GOOD_PROTECTED = cbor2.dumps({1: -8, 4: SIGNER.kid}, canonical=True)


def test_the_signers_own_message_passes() -> None:
    assert _reason(_message(GOOD_PROTECTED, {})) == "boot"


@pytest.mark.parametrize(
    "unprotected",
    [
        {4: SIGNER.kid},  # kid in both buckets
        {1: -8},  # alg in both
        {2: [1]},  # crit unprotected
        {33: b"chain"},  # any other parameter: not signed, so not read
    ],
)
def test_unprotected_parameters_are_refused(unprotected: dict) -> None:
    assert _reason(_message(GOOD_PROTECTED, unprotected)) == "bad_header"


def test_an_empty_protected_header_means_no_algorithm() -> None:
    assert _reason(_message(b"", {})) == "unsupported_algorithm"


def test_an_encoded_empty_map_as_protected_header_is_refused() -> None:
    assert _reason(_message(b"\xa0", {})) == "bad_header"
