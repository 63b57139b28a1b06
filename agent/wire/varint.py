"""Unsigned LEB128 varints, the packing of schema 3's columns (docs/WIRE.md, "Flows").

A value is written 7 bits per byte, the least significant group first, the high bit
set on every byte but the last, in its shortest form (no trailing zero groups: a value's
last byte is never 0x00 unless the value is the single byte 0). A "varints" string is
such values concatenated; its length says nothing of how many values it holds.

`write_uvarints` is the reference writer (the C encoder writes the same bytes);
`read_uvarints` reads received bytes strictly and raises ValueError, which the wire
decoder turns into a `wrong_type` rejection.
"""

from __future__ import annotations

from collections.abc import Iterable

# The most bytes one value may take: 10 hold 70 bits, enough for a zigzagged difference
# of two 64-bit numbers (65 bits). Bounding it keeps a hostile run of 0x80 bytes from
# building one huge integer.
MAX_VARINT_BYTES = 10


def write_uvarints(values: Iterable[int]) -> bytes:
    """The values (each >= 0) as concatenated shortest LEB128. Raises ValueError for a
    negative value or one above 70 bits."""
    if isinstance(values, list) and values and min(values) >= 0 and max(values) < 0x80:
        return bytes(values)  # every value below 128: one byte each, the value itself
    out = bytearray()
    append = out.append
    for value in values:
        if value < 0x80:
            if value < 0:
                raise ValueError(f"a varint must not be negative, got {value}")
            append(value)
            continue
        if value >> (7 * MAX_VARINT_BYTES):
            raise ValueError(f"a varint takes at most {MAX_VARINT_BYTES} bytes, got {value}")
        while value >= 0x80:
            append((value & 0x7F) | 0x80)
            value >>= 7
        append(value)
    return bytes(out)


def zigzag(value: int) -> int:
    """A signed integer as an unsigned one: 0, -1, 1, -2 ... -> 0, 1, 2, 3 ..."""
    return value << 1 if value >= 0 else (-value << 1) - 1


def unzigzag(value: int) -> int:
    """The inverse of zigzag."""
    return value >> 1 if not value & 1 else -((value + 1) >> 1)


def read_uvarints(data: bytes, maximum: int) -> list[int]:
    """Every value of a varints string, in order.

    Raises ValueError when the string ends inside a value, a value is not in its
    shortest form or takes more than MAX_VARINT_BYTES bytes, or a value exceeds
    `maximum`.
    """
    if not data:
        return []
    if data[-1] & 0x80:
        raise ValueError("ends inside a value")
    if max(data) < 0x80:  # every value below 128: the bytes are the values
        out = list(data)
        if maximum < 0x7F and max(out) > maximum:
            raise ValueError(f"holds a value above {maximum}")
        return out
    out = []
    append = out.append
    value = shift = 0
    for byte in data:
        if byte < 0x80:
            if shift:
                if not byte:
                    raise ValueError("holds a value not in its shortest form")
                append(value | byte << shift)
                value = shift = 0
            else:
                append(byte)
        else:
            value |= (byte & 0x7F) << shift
            shift += 7
            if shift >= 7 * MAX_VARINT_BYTES:
                raise ValueError(f"holds a value longer than {MAX_VARINT_BYTES} bytes")
    if max(out) > maximum:
        raise ValueError(f"holds a value above {maximum}")
    return out
