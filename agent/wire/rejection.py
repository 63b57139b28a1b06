"""Why a message was refused: one reason code per failure, shared by decoder and consumer."""

from __future__ import annotations

# Reason codes as they appear in {"type": "rejected", "reason": ...} records.
OVERSIZE = "oversize"
MALFORMED = "malformed"  # not CBOR at all, or truncated
INDEFINITE_LENGTH = "indefinite_length"
DUPLICATE_KEYS = "duplicate_keys"
TRAILING_BYTES = "trailing_bytes"
NON_DETERMINISTIC = "non_deterministic"
WRONG_TYPE = "wrong_type"
UNSUPPORTED_ALGORITHM = "unsupported_algorithm"
UNKNOWN_KID = "unknown_kid"
BAD_SIGNATURE = "bad_signature"
TOPIC_MISMATCH = "topic_mismatch"
KEY_NOT_FOR_SENSOR = "key_not_for_sensor"  # a trusted key, bound to other sensors
UNSUPPORTED_VERSION = "unsupported_version"
UNSUPPORTED_TAG = "unsupported_tag"  # a CBOR tag the schema does not allow (28/29, 25/256 ...)
TOO_COMPLEX = "too_complex"  # nested too deep, or would take too much memory to decode
BAD_HEADER = "bad_header"  # COSE headers RFC 9052 forbids (a label twice, crit unprotected)
REPLAYED = "replayed"  # a boot older than the consumer remembers for that sensor and key
STALE_STATUS = "stale_status"  # a status of an older boot than the sensor's newest
INTERNAL_ERROR = "internal_error"  # the consumer failed on it: a bug, reported not raised

REASONS = (
    OVERSIZE,
    MALFORMED,
    INDEFINITE_LENGTH,
    DUPLICATE_KEYS,
    TRAILING_BYTES,
    NON_DETERMINISTIC,
    WRONG_TYPE,
    UNSUPPORTED_ALGORITHM,
    UNKNOWN_KID,
    BAD_SIGNATURE,
    TOPIC_MISMATCH,
    KEY_NOT_FOR_SENSOR,
    UNSUPPORTED_VERSION,
    UNSUPPORTED_TAG,
    TOO_COMPLEX,
    BAD_HEADER,
    REPLAYED,
    STALE_STATUS,
    INTERNAL_ERROR,
)


class Rejected(Exception):
    """A message that must not be passed on. `reason` is one of REASONS; `detail` is
    a short human explanation (never message content beyond names and numbers)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
