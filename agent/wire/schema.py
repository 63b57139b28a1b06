"""The wire format's numbers and names, in one place (docs/summary.cddl is the spec).

Payloads are CBOR maps with small integer keys. Keys 0-15 are common to every kind,
keys from 16 up belong to the kind's body. Changing a meaning here means a new
SCHEMA_VERSION and a new rule in docs/summary.cddl.
"""

from __future__ import annotations

SCHEMA_VERSION = 3
# What a consumer reads: this version and the previous ones, so messages spooled before an
# upgrade still drain and a fleet is upgraded box by box (docs/WIRE.md, "Versions").
READABLE_VERSIONS = (1, 2, 3)

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
KEY_COUNTERS = 9  # version 3: {counter id => uint}; versions 1-2: {name => uint}
KEY_LOSSES = 10
# Version 2, in a boot's first data message (seq 0) only: the last seq the previous boot
# stored (under the same key id), or null when the sensor does not know it.
KEY_PREVIOUS_BOOT_LAST_SEQ = 12

# Version 3: a counter's id in key 9 is its position here, fixed forever; new counters are
# appended. A consumer names an id it does not know "counter_<id>" (a newer sensor).
COUNTER_NAMES = (
    "packets_seen",
    "bytes_seen",
    "packets_in_flows",
    "non_ip",
    "malformed",
    "truncated",
    "fragments_unmatched",
    "flows_created",
    "flows_ended_idle",
    "flows_ended_active",
    "flows_ended_end",
    "flows_ended_forced",
    "flows_ended_resources",
    "clock_steps_held",
    "kernel_drops",
    "interface_drops",
    "flow_macs_unrecorded",
    "server_names_replaced",
    "records_lost",
)
COUNTER_IDS = {name: index for index, name in enumerate(COUNTER_NAMES)}

# flows body, version 3 (docs/WIRE.md, "Flows"): columns of LEB128 varints.
V3_BASE_TIME_US = 16
V3_IPV4 = 17  # varints: ascending IPv4 addresses as 32-bit numbers, each a difference
V3_IPV6 = 18  # [+ bstr .size 16], ascending
V3_SHAPES = 19  # [+ shape], codes for conn_state and end_reason
V3_RESPONDERS = 20  # varints: (address index, port) pairs
V3_COUNT = 21  # N, the number of records
V3_COLUMNS = 22  # [13 varints], N values each, V3_COLUMN_NAMES
V3_MACS = 23  # bstr: 6 x M bytes
V3_ADDRESS_MACS = 24  # varints: per address 0 or 1 + its default MAC's index
V3_MAC_CODES = 25  # varints: N codes, 0-3 or 4 + an index into V3_MAC_PAIRS
V3_MAC_PAIRS = 26  # varints: (orig MAC index + 1 or 0, resp MAC index + 1 or 0) pairs
V3_NAME_COLUMN = 27  # varints: N values, 0 or 1 + an index into V3_SERVER_NAMES
V3_SERVER_NAMES = 28  # [+ tstr .size (1..253)]
# Keys the C encoder writes as one fragment (the rest of the payload comes from Python).
V3_FRAGMENT_KEYS = range(V3_BASE_TIME_US, V3_NAME_COLUMN + 1)
V3_COLUMN_NAMES = (
    "serial_delta",  # zigzag
    "ts_delta_us",
    "duration_us",
    "shape_index",
    "orig_addr_index",
    "orig_port",
    "responder_index",
    "orig_pkts",
    "orig_ip_bytes",
    "orig_bytes",
    "resp_pkts",
    "resp_ip_bytes",
    "resp_bytes",
)
# Codes of the shape's conn_state and end_reason (position = code), fixed forever.
CONN_STATE_CODES = (
    "S0", "S1", "SF", "REJ", "S2", "S3", "RSTO", "RSTR", "RSTOS0", "RSTRH", "SH", "SHR", "OTH"
)  # fmt: skip
END_REASON_CODES = ("idle", "active", "end", "forced", "resources")
# MAC codes: bit 0 = the orig end carries its address's default MAC, bit 1 = the resp end;
# from MAC_CODE_PAIRS up: an index into V3_MAC_PAIRS.
MAC_CODE_PAIRS = 4

# flows body, versions 1 and 2.
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
