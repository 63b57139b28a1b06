"""The wire format: compact deterministic-CBOR payloads (docs/summary.cddl, docs/WIRE.md).

What the pipeline calls, per message:

    identity = SensorIdentity(sensor_id, site, wing, boot_id=os.urandom(16))
    batch = BatchInfo(seq, window_start_us, window_end_us, counters, losses)
    payload = encode_flow_batch(records, identity, batch)        # bytes, not yet signed
    topic = topic_for(prefix, site, wing, sensor_id, KIND_FLOWS)
    message = signer.sign(payload, topic)                        # agent.cose.Signer

A flows body encoded elsewhere (the C encoder's fragment, keys 16-27) becomes a payload
through join_flows_payload(identity, batch, fragment, entries, server_names), the join
encode_flow_batch uses too.

And likewise encode_health(figures, identity, batch), encode_devices(...),
encode_alerts(...), encode_status(state, identity, time_us). Consumers call
decode_payload(bytes) -> Message after agent.cose.verify_sign1, or use agent.consumer,
which does both plus dedupe and gap detection.

Importable without the C extension: consumers use it on machines without libpcap.
"""

from agent.wire.decode import Message, decode_payload
from agent.wire.encode import (
    BatchInfo,
    SensorIdentity,
    encode_alerts,
    encode_devices,
    encode_flow_batch,
    encode_health,
    encode_status,
    join_flows_payload,
)
from agent.wire.rejection import Rejected
from agent.wire.schema import (
    DATA_KINDS,
    KIND_ALERTS,
    KIND_DEVICES,
    KIND_FLOWS,
    KIND_HEALTH,
    KIND_STATUS,
    KINDS,
    SCHEMA_VERSION,
)
from agent.wire.topic import TopicParts, parse_topic, topic_for

__all__ = [
    "DATA_KINDS",
    "KINDS",
    "KIND_ALERTS",
    "KIND_DEVICES",
    "KIND_FLOWS",
    "KIND_HEALTH",
    "KIND_STATUS",
    "SCHEMA_VERSION",
    "BatchInfo",
    "Message",
    "Rejected",
    "SensorIdentity",
    "TopicParts",
    "decode_payload",
    "encode_alerts",
    "encode_devices",
    "encode_flow_batch",
    "encode_health",
    "encode_status",
    "join_flows_payload",
    "parse_topic",
    "topic_for",
]
