"""COSE_Sign1 (RFC 9052) with EdDSA/Ed25519: sign a payload for a topic, and verify.

    signer = Signer.from_file(Path("/etc/iomt-agent/sensor.key"))
    message = signer.sign(payload, "iomt/st-mary/4b/wing4b-01/flows")   # bytes to publish
    kid, payload = verify_sign1(message, topic, trust_store)            # or Rejected

A message is CBOR tag 18 around [protected, unprotected, payload, signature]:
protected = bstr of the deterministic map {1 (alg): -8 (EdDSA), 4 (kid): kid},
unprotected = {}, payload embedded (not detached), signature = Ed25519 over the
Sig_structure ["Signature1", protected, external_aad, payload], where external_aad is
the UTF-8 topic: a message replayed onto another topic or wing fails verification.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cbor2
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from agent.keys import TrustStore, kid_for, load_private_key
from agent.wire.canonical import dumps, strict_loads
from agent.wire.rejection import (
    BAD_HEADER,
    BAD_SIGNATURE,
    OVERSIZE,
    UNKNOWN_KID,
    UNSUPPORTED_ALGORITHM,
    WRONG_TYPE,
    Rejected,
)
from agent.wire.schema import MAX_MESSAGE_BYTES

COSE_SIGN1_TAG = 18
HEADER_ALG = 1
HEADER_CRIT = 2
HEADER_KID = 4
ALG_EDDSA = -8
DEFAULT_MAX_MESSAGE_BYTES = MAX_MESSAGE_BYTES  # 256 KiB, docs/WIRE.md; 1000 flows: ~33 KB
_SIGN1_TAGS = frozenset({COSE_SIGN1_TAG})
# The COSE structure is 4 items and small headers; the payload is one byte string (its
# bytes are not decoded here), so the decoded structure costs little beyond the input.
_STRUCTURE_OVERHEAD = 64 * 1024


def _sig_structure(protected: bytes, topic: str, payload: bytes) -> bytes:
    return dumps(["Signature1", protected, topic.encode("utf-8"), payload])


class Signer:
    """Signs payloads with one Ed25519 key; `kid` is agent.keys.kid_for of its public key."""

    def __init__(self, key: Ed25519PrivateKey) -> None:
        self._key = key
        self.kid = kid_for(key.public_key())
        self._protected = dumps({HEADER_ALG: ALG_EDDSA, HEADER_KID: self.kid})

    def public_key(self) -> Ed25519PublicKey:
        """The public half, e.g. for a consumer's TrustStore in tests and tools."""
        return self._key.public_key()

    @classmethod
    def from_file(cls, path: Path) -> Signer:
        """Load the key file (mode 0600 enforced, see agent.keys.load_private_key)."""
        return cls(load_private_key(path))

    def sign(self, payload: bytes, topic: str) -> bytes:
        """The tagged COSE_Sign1 message carrying `payload`, bound to `topic`."""
        signature = self._key.sign(_sig_structure(self._protected, topic, payload))
        return dumps(cbor2.CBORTag(COSE_SIGN1_TAG, [self._protected, {}, payload, signature]))


def verify_sign1(
    message: bytes,
    topic: str,
    trust: TrustStore,
    max_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
) -> tuple[bytes, bytes]:
    """Check `message` as published on `topic`; return (kid, payload bytes).

    Nothing of the payload is decoded here: the signature is checked over its raw
    bytes, and agent.wire.decode reads it afterwards. The COSE structure itself is read
    with the strict decoder (tag 18 on top, no other tag anywhere), so a message that
    is not a COSE_Sign1 costs at most its own size to refuse.
    Raises Rejected: oversize, the CBOR-layer reasons, wrong_type (not a tagged
    COSE_Sign1), bad_header, unsupported_algorithm, unknown_kid, bad_signature.
    """
    if len(message) > max_bytes:
        raise Rejected(OVERSIZE, f"message of {len(message)} bytes exceeds the {max_bytes} limit")
    protected, unprotected, payload, signature = _parts(message)
    header = _protected_header(protected)
    _check_unprotected(unprotected, header)
    if header.get(HEADER_ALG) != ALG_EDDSA:
        raise Rejected(UNSUPPORTED_ALGORITHM, f"alg {header.get(HEADER_ALG)!r} is not EdDSA (-8)")
    kid = header.get(HEADER_KID)
    if type(kid) is not bytes:
        raise Rejected(WRONG_TYPE, "protected header has no byte-string kid")
    key = trust.get(kid)
    if key is None:
        raise Rejected(UNKNOWN_KID, f"kid {kid.hex()} is not in the trust directory")
    try:
        key.verify(signature, _sig_structure(protected, topic, payload))
    except InvalidSignature:
        raise Rejected(BAD_SIGNATURE, f"signature does not verify for topic {topic}") from None
    return kid, payload


def _protected_header(protected: bytes) -> dict[Any, Any]:
    # RFC 9052 section 3: an empty protected header is the zero-length string (then alg
    # is missing: unsupported_algorithm), never an encoded empty map.
    if protected == b"":
        return {}
    header = strict_loads(protected, "protected header")
    if type(header) is not dict:
        raise Rejected(WRONG_TYPE, "protected header must be a map")
    if not header:
        raise Rejected(BAD_HEADER, "an empty protected header must be a zero-length string")
    # Only alg and kid: a `crit` or any other parameter would ask for processing we do
    # not do, so it is refused rather than ignored (RFC 9052 section 3.1).
    extra = set(header) - {HEADER_ALG, HEADER_KID}
    if extra:
        raise Rejected(
            WRONG_TYPE, f"protected header has unexpected parameters {sorted(map(str, extra))}"
        )
    return header


def _check_unprotected(unprotected: dict[Any, Any], protected: dict[Any, Any]) -> None:
    """RFC 9052 section 3: a label in both buckets and an unprotected `crit` are errors.
    This profile protects everything it uses, so any unprotected parameter is refused
    rather than ignored: what is not signed cannot be trusted, and need not be read."""
    both = set(unprotected) & set(protected)
    if both:
        raise Rejected(
            BAD_HEADER, f"header labels {sorted(map(str, both))} are both protected and not"
        )
    if HEADER_CRIT in unprotected:
        raise Rejected(BAD_HEADER, "crit (2) must be in the protected header")
    if unprotected:
        raise Rejected(
            BAD_HEADER,
            f"unprotected header parameters {sorted(map(str, unprotected))} are not allowed",
        )


def signature_valid_for(message: bytes, topic: str, trust: TrustStore) -> bool:
    """True when `message` verifies for `topic` (used to tell a replayed topic apart)."""
    try:
        verify_sign1(message, topic, trust)
    except Rejected:
        return False
    return True


def unverified_payload(message: bytes) -> bytes:
    """The embedded payload of a well-formed COSE_Sign1, signature NOT checked (only to
    explain a rejection, never to decode it). Raises Rejected like verify_sign1's
    structural checks."""
    return _parts(message)[2]


def _parts(message: bytes) -> tuple[bytes, dict[Any, Any], bytes, bytes]:
    outer: Any = strict_loads(
        message,
        "message",
        tags=_SIGN1_TAGS,
        max_cost=len(message) + _STRUCTURE_OVERHEAD,
    )
    if not isinstance(outer, cbor2.CBORTag) or outer.tag != COSE_SIGN1_TAG:
        raise Rejected(WRONG_TYPE, "message is not a tagged COSE_Sign1 (CBOR tag 18)")
    value = outer.value
    if type(value) is not list or len(value) != 4:
        raise Rejected(WRONG_TYPE, "COSE_Sign1 must be an array of 4")
    protected, unprotected, payload, signature = value
    if type(protected) is not bytes or type(unprotected) is not dict:
        raise Rejected(WRONG_TYPE, "COSE_Sign1 headers must be a byte string and a map")
    if type(payload) is not bytes:
        raise Rejected(WRONG_TYPE, "COSE_Sign1 payload must be embedded (a byte string)")
    if type(signature) is not bytes or len(signature) != 64:
        raise Rejected(WRONG_TYPE, "COSE_Sign1 signature must be a 64-byte string")
    return protected, unprotected, payload, signature
