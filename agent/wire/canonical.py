"""Deterministic CBOR (RFC 8949 section 4.2.1, core deterministic encoding).

`dumps` is the one encoder every signed byte goes through. `strict_loads` is the one
decoder every received byte goes through; it is written here, not borrowed, because a
general CBOR library does too much for bytes a stranger sent: cbor2 expands shared
references (tags 28/29) and string references (25/256), so 311 bytes grew to gigabytes.

What `strict_loads` accepts is exactly what the schema can hold, in its one encoding:
- integers, byte and text strings (UTF-8), arrays, maps with integer or text keys,
  false/true/null and floats; a tag only where the caller allows it, at the top (the
  COSE_Sign1 tag 18). Every other tag, `undefined` and the other simple values are
  refused (unsupported_tag, wrong_type).
- definite lengths only, every argument in its shortest form, floats in the shortest
  of half/single/double that keeps the value, map keys in the bytewise order of their
  encodings (section 4.2.1) and never twice, no bytes after the item.
- bounded: at most MAX_DEPTH levels of nesting, and an estimate of the memory the
  decoded value takes (`max_cost`, in bytes) that a message may not exceed, checked
  before each container or string is built. Each item takes at least one input byte,
  so the work is linear in the input and the memory bounded by `max_cost`.

The encoder is cbor2's canonical mode. It sorts map keys length-first (RFC 8949
section 4.2.3), which is the same order as section 4.2.1 whenever all keys of a map
share one major type (for those, a longer encoding starts with a larger byte). Every
map of the schema does (integer keys for the envelope and COSE headers, text keys
elsewhere), and `dumps` refuses a map that does not, so both sides agree on 4.2.1.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping
from typing import Any

import cbor2

from agent.wire.rejection import (
    DUPLICATE_KEYS,
    INDEFINITE_LENGTH,
    MALFORMED,
    NON_DETERMINISTIC,
    TOO_COMPLEX,
    TRAILING_BYTES,
    UNSUPPORTED_TAG,
    WRONG_TYPE,
    Rejected,
)

# Deepest legitimate nesting: payload map > devices array > device map > fingerprints
# map > array > text is 5; alert values may nest a little more.
MAX_DEPTH = 16
# Estimated Python memory of one decoded message. A full flows message costs about
# 20 bytes of estimate per input byte, so this admits 1 MiB messages (the most
# --max-message-bytes allows) and keeps any input's decoded value near 24 MiB.
MAX_DECODED_COST = 24 << 20
_COST_ITEM = 32
_COST_STRING = 40
_COST_ARRAY = 56
_COST_MAP = 64
_COST_ARRAY_SLOT = 8
_COST_MAP_ENTRY = 48


def dumps(value: Any) -> bytes:
    """Deterministic CBOR encoding of `value` (RFC 8949 4.2.1) for values whose maps
    each have keys of one type (see check_map_keys; not checked here, it is the hot
    path)."""
    return cbor2.dumps(value, canonical=True)


def check_map_keys(value: Any) -> None:
    """Raise ValueError when a map in `value` mixes integer and text keys, or has keys
    of another type: such a map has no single deterministic order both sides agree on.
    The encoders call it on the parts of a payload that come from callers."""
    if isinstance(value, Mapping):
        kinds = {str if type(key) is str else int if type(key) is int else None for key in value}
        if None in kinds or len(kinds) > 1:
            raise ValueError("a map's keys must be all text or all unsigned/negative integers")
        for item in value.values():
            check_map_keys(item)
    elif isinstance(value, list | tuple):
        for item in value:
            check_map_keys(item)


class _Decoder:
    __slots__ = ("budget", "data", "end", "what")

    def __init__(self, data: bytes, what: str, max_cost: int) -> None:
        self.data = data
        self.end = len(data)
        self.budget = max_cost
        self.what = what

    def fail(self, reason: str, detail: str) -> Rejected:
        return Rejected(reason, f"{self.what} {detail}")

    def charge(self, cost: int) -> None:
        self.budget -= cost
        if self.budget < 0:
            raise self.fail(TOO_COMPLEX, "would take too much memory to decode")

    def head(self, pos: int) -> tuple[int, int, int, int]:
        """(major type, additional info, argument, position after the head)."""
        data = self.data
        if pos >= self.end:
            raise self.fail(MALFORMED, "is truncated")
        initial = data[pos]
        major, info = initial >> 5, initial & 31
        pos += 1
        if info < 24:
            return major, info, info, pos
        if info > 27:
            if info == 31:
                if major in (2, 3, 4, 5):
                    raise self.fail(INDEFINITE_LENGTH, "uses an indefinite length")
                raise self.fail(MALFORMED, "has a break or indefinite item where none may be")
            raise self.fail(MALFORMED, f"uses reserved additional information {info}")
        size = 1 << (info - 24)
        if pos + size > self.end:
            raise self.fail(MALFORMED, "is truncated")
        argument = int.from_bytes(data[pos : pos + size], "big")
        if major != 7 and argument < (24 if size == 1 else 1 << (4 * size)):
            raise self.fail(NON_DETERMINISTIC, "has an integer or length not in its shortest form")
        return major, info, argument, pos + size

    def item(self, pos: int, depth: int, tags: frozenset[int]) -> tuple[Any, int]:
        major, info, argument, pos = self.head(pos)
        if major == 0:
            return argument, pos
        if major == 1:
            return -1 - argument, pos
        if major == 2 or major == 3:
            end = pos + argument
            if end > self.end:
                raise self.fail(MALFORMED, "is truncated")
            self.charge(_COST_STRING + argument)
            raw = self.data[pos:end]
            if major == 2:
                return raw, end
            try:
                return raw.decode("utf-8"), end
            except UnicodeDecodeError:
                raise self.fail(MALFORMED, "has a text string that is not UTF-8") from None
        if depth >= MAX_DEPTH:
            raise self.fail(TOO_COMPLEX, f"nests deeper than {MAX_DEPTH} levels")
        if major == 4:
            if argument > self.end - pos:  # every item takes at least one byte
                raise self.fail(MALFORMED, "is truncated")
            self.charge(_COST_ARRAY + _COST_ARRAY_SLOT * argument)
            return self.array(argument, pos, depth)
        if major == 5:
            return self.map(argument, pos, depth)
        if major == 6:
            if argument not in tags:
                raise self.fail(UNSUPPORTED_TAG, f"uses CBOR tag {argument}, which it may not hold")
            value, pos = self.item(pos, depth + 1, _NO_TAGS)
            return cbor2.CBORTag(argument, value), pos
        return self.simple(info, argument, pos)

    def array(self, count: int, pos: int, depth: int) -> tuple[list[Any], int]:
        # The hot loop (a flow row is 14 integers): unsigned integers are read here,
        # without a call per item; everything else goes through item().
        data, end = self.data, self.end
        out: list[Any] = []
        append = out.append
        for _ in range(count):
            if pos >= end:
                raise self.fail(MALFORMED, "is truncated")
            initial = data[pos]
            if initial < 24:
                append(initial)
                pos += 1
                continue
            if initial < 28:
                size = 1 << (initial - 24)
                after = pos + 1 + size
                if after > end:
                    raise self.fail(MALFORMED, "is truncated")
                value = int.from_bytes(data[pos + 1 : after], "big")
                if value < (24 if size == 1 else 1 << (4 * size)):
                    raise self.fail(
                        NON_DETERMINISTIC, "has an integer or length not in its shortest form"
                    )
                append(value)
                pos = after
                continue
            if 0x80 <= initial < 0x98 and depth + 1 < MAX_DEPTH:  # a short array: a row
                size = initial - 0x80
                if size > end - pos - 1:
                    raise self.fail(MALFORMED, "is truncated")
                self.charge(_COST_ARRAY + _COST_ARRAY_SLOT * size)
                row, pos = self.array(size, pos + 1, depth + 1)
                append(row)
                continue
            item, pos = self.item(pos, depth + 1, _NO_TAGS)
            append(item)
        return out, pos

    def map(self, count: int, pos: int, depth: int) -> tuple[dict[Any, Any], int]:
        if count > (self.end - pos) // 2:
            raise self.fail(MALFORMED, "is truncated")
        self.charge(_COST_MAP + _COST_MAP_ENTRY * count)
        data = self.data
        out: dict[Any, Any] = {}
        previous = b""
        for _ in range(count):
            start = pos
            key, pos = self.item(pos, depth + 1, _NO_TAGS)
            if type(key) is not int and type(key) is not str:
                raise self.fail(WRONG_TYPE, "has a map key that is not an integer or text")
            encoded = data[start:pos]
            if encoded <= previous:
                if encoded == previous:
                    raise self.fail(DUPLICATE_KEYS, "has a map with a duplicate key")
                raise self.fail(
                    NON_DETERMINISTIC, "has map keys out of order (RFC 8949 4.2.1: bytewise)"
                )
            previous = encoded
            out[key], pos = self.item(pos, depth + 1, _NO_TAGS)
        return out, pos

    def simple(self, info: int, argument: int, pos: int) -> tuple[Any, int]:
        if info == 20:
            return False, pos
        if info == 21:
            return True, pos
        if info == 22:
            return None, pos
        if info <= 24:
            raise self.fail(WRONG_TYPE, f"holds simple value {argument}, which it may not hold")
        self.charge(_COST_ITEM)
        raw = argument.to_bytes(1 << (info - 24), "big")
        value: float = struct.unpack({25: ">e", 26: ">f", 27: ">d"}[info], raw)[0]
        if _shortest_float(value) != bytes([0xE0 | info]) + raw:
            raise self.fail(NON_DETERMINISTIC, "has a float not in its shortest form")
        return value, pos


_NO_TAGS: frozenset[int] = frozenset()


def _shortest_float(value: float) -> bytes:
    """The deterministic encoding of a float: the shortest that keeps its value."""
    if math.isnan(value):
        return b"\xf9\x7e\x00"
    for code, fmt in ((0xF9, ">e"), (0xFA, ">f")):
        try:
            packed = struct.pack(fmt, value)
        except OverflowError:
            continue
        if struct.unpack(fmt, packed)[0] == value:
            return bytes([code]) + packed
    return b"\xfb" + struct.pack(">d", value)


def strict_loads(
    data: bytes,
    what: str = "message",
    tags: frozenset[int] = _NO_TAGS,
    max_cost: int = MAX_DECODED_COST,
) -> Any:
    """Decode one deterministic CBOR item that is all of `data`.

    `tags`: the tags allowed on the top item (none below it). Raises Rejected with
    reason malformed, indefinite_length, non_deterministic, duplicate_keys,
    trailing_bytes, unsupported_tag, wrong_type or too_complex; `what` names the part
    in the detail.
    """
    decoder = _Decoder(bytes(data), what, max_cost)
    value, pos = decoder.item(0, 0, tags)
    if pos != decoder.end:
        raise Rejected(
            TRAILING_BYTES, f"{what} has {decoder.end - pos} byte(s) after its CBOR item"
        )
    return value


def peek_text_fields(data: bytes, keys: frozenset[int]) -> dict[int, str]:
    """The text values of `keys` in a top-level CBOR map, without decoding anything else
    (other values are skipped, not built). For explaining a rejection only: `data` is
    unverified. Raises Rejected like strict_loads."""
    decoder = _Decoder(bytes(data), "payload", 0)
    major, _info, count, pos = decoder.head(0)
    if major != 5:
        raise Rejected(WRONG_TYPE, "payload is not a map")
    out: dict[int, str] = {}
    for _ in range(count):
        key_major, _i, key, pos = decoder.head(pos)
        value_major, _i, length, value_pos = decoder.head(pos)
        if key_major == 0 and key in keys and value_major == 3 and length <= 256:
            raw = decoder.data[value_pos : value_pos + length]
            out[key] = raw.decode("utf-8", "replace")
        pos = _skip(decoder, pos, 0)
    return out


def _skip(decoder: _Decoder, pos: int, depth: int) -> int:
    """The position after the item at `pos`, walking it without building it."""
    if depth >= MAX_DEPTH:
        raise decoder.fail(TOO_COMPLEX, f"nests deeper than {MAX_DEPTH} levels")
    major, _info, argument, pos = decoder.head(pos)
    if major in (2, 3):
        if pos + argument > decoder.end:
            raise decoder.fail(MALFORMED, "is truncated")
        return pos + argument
    if major in (4, 5):
        for _ in range(argument * (2 if major == 5 else 1)):
            pos = _skip(decoder, pos, depth + 1)
        return pos
    if major == 6:
        raise decoder.fail(UNSUPPORTED_TAG, f"uses CBOR tag {argument}, which it may not hold")
    return pos
