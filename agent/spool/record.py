"""The on-disk record format of spool segments, and the scan that validates a segment.

A record is a fixed header followed by a body:

    header  magic b"\\xa5\\x5a" | body length (u32 BE) | CRC-32 of the body (u32 BE)
    body    record id (u64) | created, epoch ms (u64) | data seq (i64, -1 = none)
            | kind length (u8) | topic length (u16) | kind | topic | payload

The CRC covers the whole body, so a torn write (power cut mid-record), a flipped bit
or a zeroed block is always caught; a record is only ever returned whole and verified.
Record ids increase by one per append, so a scan also rejects stale or duplicated data.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

MAGIC = b"\xa5\x5a"
_HEADER = struct.Struct(">2sII")
_BODY_FIXED = struct.Struct(">QQqBH")
HEADER_BYTES = _HEADER.size
# A record larger than this is damage, not data: batches are kilobytes.
MAX_BODY_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class SpoolRecord:
    """One spooled message: what to publish, where, and its bookkeeping."""

    rid: int
    created_ms: int
    seq: int
    kind: str
    topic: str
    payload: bytes

    @property
    def size_bytes(self) -> int:
        """Bytes this record occupies on disk."""
        fields = len(self.kind.encode()) + len(self.topic.encode())
        return HEADER_BYTES + _BODY_FIXED.size + fields + len(self.payload)


def encode(rid: int, created_ms: int, seq: int, kind: str, topic: str, payload: bytes) -> bytes:
    """Serialize one record (header + body). Raises ValueError for oversize fields."""
    kind_bytes = kind.encode()
    topic_bytes = topic.encode()
    if len(kind_bytes) > 255 or len(topic_bytes) > 65535:
        raise ValueError("spool record kind or topic too long")
    body = (
        _BODY_FIXED.pack(rid, created_ms, seq, len(kind_bytes), len(topic_bytes))
        + kind_bytes
        + topic_bytes
        + payload
    )
    if len(body) > MAX_BODY_BYTES:
        raise ValueError(f"spool record of {len(body)} bytes exceeds {MAX_BODY_BYTES}")
    return _HEADER.pack(MAGIC, len(body), zlib.crc32(body)) + body


def decode_at(data: bytes | memoryview, offset: int) -> tuple[SpoolRecord, int] | None:
    """Decode and verify the record starting at `offset` of `data`.

    Returns (record, its length in bytes), or None when the bytes there are not a
    whole, valid record (short, bad magic, bad length, CRC mismatch, bad fields).
    """
    if len(data) - offset < HEADER_BYTES:
        return None
    magic, body_len, crc = _HEADER.unpack_from(data, offset)
    if magic != MAGIC or body_len < _BODY_FIXED.size or body_len > MAX_BODY_BYTES:
        return None
    start = offset + HEADER_BYTES
    body = bytes(data[start : start + body_len])
    if len(body) != body_len or zlib.crc32(body) != crc:
        return None
    rid, created_ms, seq, kind_len, topic_len = _BODY_FIXED.unpack_from(body, 0)
    fields_end = _BODY_FIXED.size + kind_len + topic_len
    if fields_end > body_len:
        return None
    try:
        kind = body[_BODY_FIXED.size : _BODY_FIXED.size + kind_len].decode()
        topic = body[_BODY_FIXED.size + kind_len : fields_end].decode()
    except UnicodeDecodeError:
        return None
    record = SpoolRecord(rid, created_ms, seq, kind, topic, body[fields_end:])
    return record, HEADER_BYTES + body_len


@dataclass(frozen=True)
class Damage:
    """A byte range of a segment that held no valid record and was cut or skipped."""

    segment: str
    offset: int
    length: int
    action: str  # "truncated" (torn tail, file cut) or "skipped" (valid records follow)


@dataclass(frozen=True)
class ScannedRecord:
    rid: int
    offset: int
    size_bytes: int
    created_ms: int


def scan_segment(name: str, data: bytes) -> tuple[list[ScannedRecord], list[Damage], int]:
    """Validate every record of a segment's bytes.

    Returns (valid records in order, damaged ranges, end offset of the last valid
    record). After damage the scan resynchronizes on the next record that has the magic,
    a matching CRC and a larger record id, so damage in the middle of a segment costs
    only the records it touched. Damage running to end of file is a torn tail: the
    caller truncates the file at the returned end offset.
    """
    records: list[ScannedRecord] = []
    damage: list[Damage] = []
    offset = 0
    last_rid = -1
    valid_end = 0
    while offset < len(data):
        decoded = decode_at(data, offset)
        if decoded is not None and decoded[0].rid > last_rid:
            record, length = decoded
            records.append(ScannedRecord(record.rid, offset, length, record.created_ms))
            last_rid = record.rid
            offset += length
            valid_end = offset
            continue
        resume = _resync(data, offset + 1, last_rid)
        if resume is None:
            damage.append(Damage(name, offset, len(data) - offset, "truncated"))
            break
        damage.append(Damage(name, offset, resume - offset, "skipped"))
        offset = resume
    return records, damage, valid_end


def _resync(data: bytes, start: int, last_rid: int) -> int | None:
    position = data.find(MAGIC, start)
    while position != -1:
        decoded = decode_at(data, position)
        if decoded is not None and decoded[0].rid > last_rid:
            return position
        position = data.find(MAGIC, position + 1)
    return None
