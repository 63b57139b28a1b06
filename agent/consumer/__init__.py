"""Consumers: verify, dedupe and decode what sensors publish (no C extension needed).

    from agent.consumer import Consumer
    from agent.keys import TrustStore
    consumer = Consumer(TrustStore.from_dir(Path("/etc/iomt-consumer/trust")))
    records = consumer.handle(message_bytes, topic)   # list of JSON-ready dicts

Record types: flow, device, alert, health, status, batch (a data message's window,
counters and losses), boot (a sensor's new boot id), gap (missing sequence numbers),
rejected (with its reason; never passed on). Duplicates are dropped and counted in
`consumer.stats`. agent.consumer.mqtt subscribes to a broker and feeds a Consumer.
"""

from agent.consumer.core import Consumer, ConsumerStats

__all__ = ["Consumer", "ConsumerStats"]
