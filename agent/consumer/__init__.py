"""Consumers: verify, dedupe and decode what sensors publish (no C extension needed).

Using the consumer as a library
-------------------------------
One `Consumer` per process (or per shard of sensors) takes each message exactly as
received, the topic it arrived on, and returns JSON-ready records. It never raises for
what a sender put in the message: a message that fails any check is one
{"type": "rejected", "reason": ..., "detail": ...} record, and the caller acknowledges
it like any other (reasons: agent.wire.rejection.REASONS, docs/WIRE.md).

    from agent.consumer import Consumer, SequenceTracker
    from agent.keys import TrustStore

    trust = TrustStore.from_dir(Path("/etc/iomt-central/trust"))  # keys bound to sensors
    tracker = SequenceTracker.from_state(saved) if saved else SequenceTracker()
    consumer = Consumer(trust, tracker=tracker)
    for record in consumer.handle(payload_bytes, topic):
        ...                                   # record["type"]: flow, device, alert, health,
                                              # status, batch, boot, gap, late, rejected
    saved = consumer.tracker.state()          # JSON-able: persist it (atomically) now and
                                              # then, and restore it at start (replays and
                                              # duplicates are judged across restarts)
    consumer.stats                            # ConsumerStats: counts since this start

What `handle` does, in order: size limit (`max_message_bytes`, default the wire limit
of 256 KiB), the COSE structure and headers read by a bounded strict decoder, the
signature over the raw payload bytes (agent.cose.verify_sign1), then the payload
decoded (agent.wire.decode_payload, schema versions 1, 2 and 3), the topic and the key's
binding to the sensor checked, and the sequence judged by the tracker: duplicates
dropped (counted), boots and gaps reported, replays of forgotten boots and stale status
rejected, gaps held while the sensor's health says its spool drains a backlog. Memory
is bounded for any input (decoder: depth 16, ~24 MiB estimate; tracker: see
agent.consumer.tracker). A Consumer is not thread-safe: feed it from one thread.

For a typed view of a verified message instead of records, use the two steps directly:
`kid, payload = agent.cose.verify_sign1(message, topic, trust)` and
`agent.wire.decode_payload(payload)` -> `agent.wire.Message`.

Record types: flow, device, alert, health, status, batch (a data message's window,
counters and losses), boot (a sensor's new boot, with its boot count), gap (missing
sequence numbers), late (a message whose gap was reported arrived after all), rejected
(with its reason; never passed on). agent.consumer.mqtt subscribes to a broker and
feeds a Consumer (bounded: Maximum Packet Size, Receive Maximum, a bounded inbox).
"""

from agent.consumer.core import Consumer, ConsumerStats
from agent.consumer.tracker import SequenceTracker

__all__ = ["Consumer", "ConsumerStats", "SequenceTracker"]
