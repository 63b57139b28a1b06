"""Deterministic CBOR (RFC 8949 section 4.2): encode, and decode only what is deterministic.

`dumps` is the one encoder every signed byte goes through. `strict_loads` accepts
exactly the bytes `dumps` would produce for the decoded value, and says why not
otherwise. The check is "decode with duplicates and indefinite lengths refused, then
re-encode canonically and compare": CBOR items are self-delimiting, so if the
canonical encoding is a strict prefix of the input, the rest is trailing bytes, and
any other difference is a non-shortest integer/length/float or unsorted map keys.
"""

from __future__ import annotations

from typing import Any

import cbor2

from agent.wire.rejection import (
    DUPLICATE_KEYS,
    INDEFINITE_LENGTH,
    MALFORMED,
    NON_DETERMINISTIC,
    TRAILING_BYTES,
    Rejected,
)


def dumps(value: Any) -> bytes:
    """Deterministic CBOR encoding of `value` (maps sorted, shortest forms)."""
    return cbor2.dumps(value, canonical=True)


def strict_loads(data: bytes, what: str = "message") -> Any:
    """Decode one deterministic CBOR item that is all of `data`.

    Raises Rejected with reason indefinite_length, duplicate_keys, malformed,
    trailing_bytes or non_deterministic; `what` names the part in the detail.
    """
    try:
        value = cbor2.loads(data, allow_indefinite=False, allow_duplicate_keys=False)
    except cbor2.CBORDecodeError as exc:
        text = str(exc)
        if "indefinite length" in text:
            raise Rejected(INDEFINITE_LENGTH, f"{what} uses an indefinite length") from None
        if "Duplicate map key" in text:
            raise Rejected(DUPLICATE_KEYS, f"{what} has a map with a duplicate key") from None
        raise Rejected(MALFORMED, f"{what} is not well-formed CBOR ({text})") from None
    except (ValueError, TypeError, RecursionError, OverflowError) as exc:
        raise Rejected(MALFORMED, f"{what} is not well-formed CBOR ({exc})") from None
    try:
        canonical = dumps(value)
    except (cbor2.CBOREncodeError, ValueError, TypeError) as exc:
        raise Rejected(
            NON_DETERMINISTIC, f"{what} holds values with no deterministic form ({exc})"
        ) from None
    if canonical == data:
        return value
    if data.startswith(canonical):
        extra = len(data) - len(canonical)
        raise Rejected(TRAILING_BYTES, f"{what} has {extra} byte(s) after its CBOR item")
    raise Rejected(NON_DETERMINISTIC, f"{what} is not deterministic CBOR (RFC 8949 4.2)")
