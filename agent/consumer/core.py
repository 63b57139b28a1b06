"""The consumer's pipeline for one message: verify, decode, check the topic, dedupe.

    consumer = Consumer(TrustStore.from_dir(Path("trust")))
    for record in consumer.handle(message_bytes, topic):
        print(json.dumps(record))

Nothing that fails a check is passed on: it becomes one {"type": "rejected"} record.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from agent.consumer.records import message_records
from agent.consumer.tracker import Gap, SequenceTracker
from agent.cose import (
    DEFAULT_MAX_MESSAGE_BYTES,
    signature_valid_for,
    unverified_payload,
    verify_sign1,
)
from agent.errors import UsageError
from agent.keys import TrustStore
from agent.wire import KIND_HEALTH, Message, Rejected, decode_payload, parse_topic, schema
from agent.wire.canonical import peek_text_fields
from agent.wire.rejection import (
    BAD_SIGNATURE,
    INTERNAL_ERROR,
    KEY_NOT_FOR_SENSOR,
    TOPIC_MISMATCH,
)
from agent.wire.topic import topic_for


@dataclass
class ConsumerStats:
    messages: int = 0
    records: int = 0
    rejected: int = 0
    duplicates: int = 0
    gaps: int = 0
    missing_messages: int = 0  # in gaps reported and not filled by late arrivals since
    late: int = 0  # messages that arrived after their gap was reported


class Consumer:
    """Verifies and decodes messages from any number of sensors.

    `max_message_bytes` bounds what is even parsed; `report_gaps=False` for a member
    of a shared subscription (it sees only part of each sensor's sequence).
    """

    def __init__(
        self,
        trust: TrustStore,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        report_gaps: bool = True,
        tracker: SequenceTracker | None = None,
    ) -> None:
        """`tracker`: one restored from a saved state (else a fresh one)."""
        self._trust = trust
        self._max_bytes = max_message_bytes
        self.tracker = tracker or SequenceTracker(report_gaps=report_gaps)
        self.stats = ConsumerStats()

    def handle(self, data: bytes, topic: str, source: str | None = None) -> list[dict[str, Any]]:
        """All records for one message as received on `topic` (source: e.g. a file
        name, added to rejections). Never raises for bad input."""
        self.stats.messages += 1
        try:
            return self._records(data, topic)
        except Rejected as rejection:
            return [self._rejected(rejection, data, topic, source)]
        except Exception as exc:  # a bug must not stop the stream: report it, go on
            failure = Rejected(INTERNAL_ERROR, f"the consumer failed on it ({type(exc).__name__})")
            return [self._rejected(failure, data, topic, source)]

    def _records(self, data: bytes, topic: str) -> list[dict[str, Any]]:
        kid, message = self._authentic(data, topic)
        duplicate, out = self._sequence_records(message, kid, topic)
        if duplicate:
            return []
        records = message_records(message, topic)
        self.stats.records += len(records)
        return out + records

    def _rejected(
        self, rejection: Rejected, data: bytes, topic: str, source: str | None
    ) -> dict[str, Any]:
        self.stats.rejected += 1
        record: dict[str, Any] = {
            "type": "rejected",
            "reason": rejection.reason,
            "detail": rejection.detail,
            "topic": topic,
            "bytes": len(data),
        }
        if source is not None:
            record["source"] = source
        return record

    def _authentic(self, data: bytes, topic: str) -> tuple[bytes, Message]:
        try:
            kid, payload = verify_sign1(data, topic, self._trust, self._max_bytes)
        except Rejected as rejection:
            if rejection.reason == BAD_SIGNATURE:
                claimed = _claimed_topic(data, topic)
                if claimed and claimed != topic and signature_valid_for(data, claimed, self._trust):
                    raise Rejected(
                        TOPIC_MISMATCH, f"message was signed for {claimed}, received on {topic}"
                    ) from None
            raise
        message = decode_payload(payload)
        parts = parse_topic(topic)
        identity = message.identity
        if parts is None or (parts.site, parts.wing, parts.sensor_id, parts.kind) != (
            identity.site,
            identity.wing,
            identity.sensor_id,
            message.kind,
        ):
            raise Rejected(
                TOPIC_MISMATCH,
                f"payload names {identity.site}/{identity.wing}/{identity.sensor_id}/"
                f"{message.kind}, received on {topic}",
            )
        if not self._trust.may_sign_for(kid, identity.sensor_id):
            raise Rejected(
                KEY_NOT_FOR_SENSOR,
                f"kid {kid.hex()} may not sign for sensor {identity.sensor_id}: it is not in "
                "that sensor's directory of the trust directory",
            )
        return kid, message

    def _sequence_records(
        self, message: Message, kid: bytes, topic: str
    ) -> tuple[bool, list[dict[str, Any]]]:
        """(is it a duplicate, the boot/gap/late records that go before its own records).
        Raises Rejected: replayed, stale_status."""
        identity = message.identity
        origin = {
            "sensor": identity.sensor_id,
            "site": identity.site,
            "wing": identity.wing,
            "boot": identity.boot_id.hex(),
        }
        count = identity.boot_count
        if message.seq is None:  # status: outside the sequence, but a boot is a boot
            assert message.time_us is not None
            verdict = self.tracker.observe_status(
                identity.sensor_id, identity.boot_id, message.time_us, kid=kid, boot_count=count
            )
        else:
            verdict = self.tracker.observe(
                identity.sensor_id,
                identity.boot_id,
                message.seq,
                previous_last_seq=message.previous_boot_last_seq,
                kid=kid,
                boot_count=count,
            )
        if verdict.duplicate:
            self.stats.duplicates += 1
            return True, []
        out = []
        if verdict.new_boot:
            out.append(_boot_record(origin, topic, verdict.previous_boot, count))
        if verdict.gap is not None:
            out += self._gap_records(origin, [(identity.boot_id, *verdict.gap)], topic)
        out += self._gap_records(origin, verdict.confirmed, topic)
        if verdict.late_reported:
            self.stats.late += 1
            self.stats.missing_messages -= 1
            out.append({"type": "late", **origin, "seq": message.seq, "topic": topic})
        if message.kind == KIND_HEALTH and message.seq is not None:
            depth = message.health.get("spool_depth_messages")
            if type(depth) is int:
                confirmed = self.tracker.observe_backlog(
                    identity.sensor_id, identity.boot_id, message.seq, depth
                )
                out += self._gap_records(origin, confirmed, topic)
        return False, out

    def _gap_records(
        self, origin: dict[str, Any], gaps: Iterable[Gap], topic: str
    ) -> list[dict[str, Any]]:
        out = []
        for boot, first, last in gaps:
            self.stats.gaps += 1
            self.stats.missing_messages += last - first + 1
            out.append(
                {
                    "type": "gap",
                    **origin,
                    "boot": boot.hex(),
                    "first_missing_seq": first,
                    "last_missing_seq": last,
                    "missing": last - first + 1,
                    "topic": topic,
                }
            )
        return out


def _boot_record(
    origin: dict[str, Any], topic: str, previous: bytes | None, count: int | None
) -> dict[str, Any]:
    return {
        "type": "boot",
        **origin,
        "boot_count": count,
        "previous_boot": previous.hex() if previous is not None else None,
        "topic": topic,
    }


def _claimed_topic(data: bytes, topic: str) -> str | None:
    """The topic the (unverified) payload claims, with the received topic's prefix.

    Only the four short text fields that name a topic are read (agent.wire.canonical.
    peek_text_fields skips the rest unbuilt): nothing unsigned is decoded."""
    parts = parse_topic(topic)
    try:
        fields = peek_text_fields(unverified_payload(data), _TOPIC_KEYS)
        prefix = parts.prefix if parts else topic.rsplit("/", 4)[0]
        return topic_for(
            prefix,
            fields[schema.KEY_SITE],
            fields[schema.KEY_WING],
            fields[schema.KEY_SENSOR],
            fields[schema.KEY_KIND],
        )
    except (Rejected, KeyError, UsageError):  # no better explanation to give
        return None


_TOPIC_KEYS = frozenset({schema.KEY_KIND, schema.KEY_SENSOR, schema.KEY_SITE, schema.KEY_WING})
