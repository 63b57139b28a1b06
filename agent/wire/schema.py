"""The wire format's numbers and names, in one place (docs/summary.cddl is the spec).

Payloads are CBOR maps with small integer keys. Keys 0-15 are common to every kind,
keys from 16 up belong to the kind's body. Changing a meaning here means a new
SCHEMA_VERSION and a new rule in docs/summary.cddl.
"""

from __future__ import annotations

SCHEMA_VERSION = 2
# What a consumer reads: this version and the previous one, so messages spooled before an
# upgrade still drain and a fleet is upgraded box by box (docs/WIRE.md, "Versions").
READABLE_VERSIONS = (1, 2)

# The kinds of message, as they appear in topics and in payload key KEY_KIND.
KIND_FLOWS = "flows"
KIND_DEVICES = "devices"
KIND_ALERTS = "alerts"
KIND_HEALTH = "health"
KIND_STATUS = "status"
KINDS = (KIND_FLOWS, KIND_DEVICES, KIND_ALERTS, KIND_HEALTH, KIND_STATUS)
# Data kinds share one per-boot sequence; status stands outside it.
DATA_KINDS = (KIND_FLOWS, KIND_DEVICES, KIND_ALERTS, KIND_HEALTH)

# Common keys.
KEY_VERSION = 0
KEY_KIND = 1
KEY_SENSOR = 2
KEY_SITE = 3
KEY_WING = 4
KEY_BOOT = 5
# Version 2: the sensor's persistent boot counter (per key id), in every message.
KEY_BOOT_COUNT = 11
# Data messages only.
KEY_SEQ = 6
KEY_WINDOW_START_US = 7
KEY_WINDOW_END_US = 8
KEY_COUNTERS = 9
KEY_LOSSES = 10
# Version 2, in a boot's first data message (seq 0) only: the last seq the previous boot
# stored (under the same key id), or null when the sensor does not know it.
KEY_PREVIOUS_BOOT_LAST_SEQ = 12

# flows body.
KEY_BASE_TIME_US = 16
KEY_ADDRESSES = 17
KEY_SHAPES = 18
KEY_FLOWS = 19
# Optional in version 2 (absent when no flow of the batch carries a MAC): the MACs the
# sensor saw on its segment, and the (orig, resp) MAC pairs of the flows. A flow row that
# carries MACs has one more element, FLOW_L2_FIELD: its index into KEY_L2_PAIRS.
KEY_MACS = 20
KEY_L2_PAIRS = 21
FLOW_L2_FIELD = "l2_pair_index"
# Optional in version 2 (absent when no flow of the batch carries a server name): the
# server names of the batch's flows (text, or the [privacy] tls_sni hash). A flow row with a
# name has two more elements: its MAC pair index (or null) and FLOW_NAME_FIELD, its index
# into KEY_SERVER_NAMES.
KEY_SERVER_NAMES = 22
FLOW_NAME_FIELD = "server_name_index"
SERVER_NAME_MAX = 253
MAC_BYTES = 6
# devices / alerts / health body.
KEY_ITEMS = 16
# status body.
KEY_STATE = 16
KEY_TIME_US = 17
KEY_AGENT_VERSION = 18
KEY_LOSS_TOTALS = 19  # optional: cumulative losses (spool drops, capture drops)
KEY_MISSING_INTERFACES = 20  # optional: capture interfaces missing now

STATUS_STATES = ("online", "offline")

# The one byte limit of a message as published (the signed COSE_Sign1), docs/WIRE.md:
# the sender cuts batches to fit it, a consumer refuses anything larger by default and
# announces it to the broker as its MQTT 5 Maximum Packet Size (plus MQTT_OVERHEAD_BYTES).
MAX_MESSAGE_BYTES = 256 * 1024
# The COSE_Sign1 around a payload: tag, array, protected header, the payload's length,
# the 64-byte signature; 256 leaves room to spare.
COSE_OVERHEAD_BYTES = 256
MAX_PAYLOAD_BYTES = MAX_MESSAGE_BYTES - COSE_OVERHEAD_BYTES
# What an MQTT PUBLISH adds to the message: fixed header, topic, packet id, properties.
MQTT_OVERHEAD_BYTES = 4096

BOOT_ID_BYTES = 16

# Zeek conn_state values the engine produces (docs/flow-semantics.md).
CONN_STATES = frozenset(
    {"S0", "S1", "SF", "REJ", "S2", "S3", "RSTO", "RSTR", "RSTOS0", "RSTRH", "SH", "SHR", "OTH"}
)
MAX_HISTORY_CHARS = 16

# A flow row: these fields, in this order (see `flow` in docs/summary.cddl).
FLOW_FIELDS = (
    "serial_delta",
    "ts_delta_us",
    "duration_us",
    "shape",
    "orig_addr_index",
    "orig_port",
    "resp_addr_index",
    "resp_port",
    "orig_pkts",
    "orig_ip_bytes",
    "orig_bytes",
    "resp_pkts",
    "resp_ip_bytes",
    "resp_bytes",
)
# A shape: what many flows of a batch share, sent once per batch.
SHAPE_FIELDS = (
    "proto",
    "conn_state",
    "history",
    "orig_tcp_flags",
    "resp_tcp_flags",
    "end_reason",
    "service",
    "vlan",
    "inner_vlan",
)

UINT64_MAX = 2**64 - 1
