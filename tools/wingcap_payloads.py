"""Synthetic application payloads for the wing-capture generator (tools/wingcap.py).

Each builder returns the first payload bytes of one message, plausible enough for the
agent's header extractors (DICOM association, MLLP/MSH, DNS, DHCP options, TLS SNI,
NTP). Every name, identifier and value here is invented: no patient data, no real
hosts. Bulk bodies (DICOM P-DATA, TLS records) are junk the caller slices from a
seeded random block.
"""

from __future__ import annotations

import struct

# ---- DICOM upper layer (PS3.8): A-ASSOCIATE-RQ/AC/RJ, P-DATA-TF, A-RELEASE ----

_APP_CONTEXT = b"1.2.840.10008.3.1.1.1"
_IMPLICIT_LE = b"1.2.840.10008.1.2"
_IMPL_CLASS_UID = b"1.2.826.0.1.3680043.99.1"  # synthetic root, not a real vendor's


def _item(item_type: int, body: bytes) -> bytes:
    return struct.pack(">BBH", item_type, 0, len(body)) + body


def _ae_title(name: str) -> bytes:
    return name.encode("ascii")[:16].ljust(16, b" ")


def _associate(
    pdu_type: int, called_ae: str, calling_ae: str, context: bytes, version: bytes
) -> bytes:
    """An A-ASSOCIATE-RQ (1) or -AC (2) PDU: the fixed header, the application context,
    one presentation context item and the user information (max length, implementation
    class UID and version name)."""
    user_info = _item(
        0x50,
        _item(0x51, struct.pack(">I", 16384)) + _item(0x52, _IMPL_CLASS_UID) + _item(0x55, version),
    )
    body = (
        struct.pack(">HH", 1, 0)
        + _ae_title(called_ae)
        + _ae_title(calling_ae)
        + bytes(32)
        + _item(0x10, _APP_CONTEXT)
        + context
        + user_info
    )
    return struct.pack(">BBI", pdu_type, 0, len(body)) + body


def dicom_associate_rq(called_ae: str, calling_ae: str, sop_class_uid: str) -> bytes:
    """A-ASSOCIATE-RQ PDU (type 0x01) proposing one SOP class, implicit VR LE."""
    context = _item(
        0x20,
        bytes([1, 0, 0, 0])
        + _item(0x30, sop_class_uid.encode("ascii"))
        + _item(0x40, _IMPLICIT_LE),
    )
    return _associate(0x01, called_ae, calling_ae, context, b"WINGSIM_100")


def dicom_associate_ac(called_ae: str, calling_ae: str) -> bytes:
    """A-ASSOCIATE-AC PDU (type 0x02) accepting presentation context 1."""
    context = _item(0x21, bytes([1, 0, 0, 0]) + _item(0x40, _IMPLICIT_LE))
    return _associate(0x02, called_ae, calling_ae, context, b"PACSSIM_200")


def dicom_associate_rj() -> bytes:
    """A-ASSOCIATE-RJ PDU (type 0x03): rejected permanent, called AE not recognized."""
    return struct.pack(">BBIBBBB", 0x03, 0, 4, 0, 1, 1, 7)


def dicom_pdata_header(pdu_len: int) -> bytes:
    """Start of a P-DATA-TF PDU (type 0x04) with one PDV item; the body follows as junk."""
    return struct.pack(">BBIIBB", 0x04, 0, pdu_len, pdu_len - 4, 1, 0x02)


def dicom_release(rq: bool) -> bytes:
    """A-RELEASE-RQ (0x05) or A-RELEASE-RP (0x06), 10 bytes each."""
    return struct.pack(">BBII", 0x05 if rq else 0x06, 0, 4, 0)


# ---- HL7 v2 over MLLP: 0x0B, segments ending in CR, 0x1C 0x0D ----


def hl7_oru(sending_app: str, control_id: int, observations: int) -> bytes:
    """An ORU^R01 with a synthetic test patient and `observations` OBX segments."""
    segments = [
        f"MSH|^~\\&|{sending_app}|WARD4B|EHR|STMARY|20260302080000||ORU^R01|"
        f"SIM{control_id:08d}|P|2.5",
        "PID|1||SIM000000^^^SIMULATED||SYNTHETIC^TESTPATIENT||19000101|U",
        "OBR|1|||8867-4^VITALS^LN",
    ]
    for n in range(observations):
        segments.append(f"OBX|{n + 1}|NM|8867-4^HEART RATE^LN||{60 + n % 40}|/min|||||F")
    return b"\x0b" + "\r".join(segments).encode("ascii") + b"\r\x1c\r"


def hl7_ack(control_id: int) -> bytes:
    """The receiving system's ACK^R01 for `control_id`."""
    text = (
        f"MSH|^~\\&|EHR|STMARY|WINGSIM|WARD4B|20260302080000||ACK^R01|ACK{control_id:08d}|P|2.5\r"
        f"MSA|AA|SIM{control_id:08d}\r"
    )
    return b"\x0b" + text.encode("ascii") + b"\x1c\r"


# ---- DNS ----


def _qname(name: str) -> bytes:
    out = b"".join(bytes([len(label)]) + label.encode("ascii") for label in name.split("."))
    return out + b"\x00"


def dns_query(query_id: int, name: str, qtype: int) -> bytes:
    """A recursive query for `name` (qtype 1 = A, 28 = AAAA)."""
    return (
        struct.pack(">HHHHHH", query_id, 0x0100, 1, 0, 0, 0)
        + _qname(name)
        + struct.pack(">HH", qtype, 1)
    )


def dns_response(query_id: int, name: str, qtype: int, answer: bytes | None) -> bytes:
    """The answer to `dns_query` (one record), or NXDOMAIN when `answer` is None."""
    question = _qname(name) + struct.pack(">HH", qtype, 1)
    if answer is None:
        return struct.pack(">HHHHHH", query_id, 0x8183, 1, 0, 0, 0) + question
    record = struct.pack(">HHHIH", 0xC00C, qtype, 1, 300, len(answer)) + answer
    return struct.pack(">HHHHHH", query_id, 0x8180, 1, 1, 0, 0) + question + record


# ---- DHCP (BOOTP with options) ----

DHCP_DISCOVER, DHCP_OFFER, DHCP_REQUEST, DHCP_ACK = 1, 2, 3, 5


def dhcp_message(
    msg_type: int,
    xid: int,
    client_mac: bytes,
    client_addr: bytes,
    your_addr: bytes,
    hostname: str,
    vendor_class: str,
) -> bytes:
    """A DHCP message; client messages carry options 12, 55, 60, 61 (fingerprint fields)."""
    is_reply = msg_type in (DHCP_OFFER, DHCP_ACK)
    fixed = struct.pack(
        ">BBBBIHH4s4s4s4s16s64s128s",
        2 if is_reply else 1,
        1,
        6,
        0,
        xid,
        0,
        0x8000,
        client_addr,
        your_addr,
        bytes(4),
        bytes(4),
        client_mac,
        b"",
        b"",
    )
    options = bytes([53, 1, msg_type])
    if is_reply:
        options += bytes([54, 4]) + bytes(4) + bytes([51, 4]) + struct.pack(">I", 86400)
    else:
        name = hostname.encode("ascii")
        vendor = vendor_class.encode("ascii")
        options += bytes([61, 7, 1]) + client_mac
        options += bytes([12, len(name)]) + name
        options += bytes([60, len(vendor)]) + vendor
        options += bytes([55, 6, 1, 3, 6, 15, 42, 119])
    message = fixed + b"\x63\x82\x53\x63" + options + b"\xff"
    return message.ljust(300, b"\x00")


# ---- NTP ----


def ntp_message(server: bool, stamp: int) -> bytes:
    """A 48-byte NTPv4 client (mode 3) or server (mode 4) message."""
    first = 0x24 if server else 0x23
    stratum = 2 if server else 0
    return struct.pack(">BBbbII4sQQQQ", first, stratum, 6, -20, 0, 0, b"", 0, 0, 0, stamp)


# ---- TLS ----


def tls_client_hello(server_name: str, total_len: int) -> bytes:
    """A TLS 1.3-style ClientHello record with SNI and ALPN, padded to `total_len` bytes."""
    name = server_name.encode("ascii")
    sni = struct.pack(">HHHBH", 0, len(name) + 5, len(name) + 3, 0, len(name)) + name
    alpn_body = b"\x02h2\x08http/1.1"
    alpn = struct.pack(">HHH", 16, len(alpn_body) + 2, len(alpn_body)) + alpn_body
    versions = struct.pack(">HHB", 43, 5, 4) + b"\x03\x04\x03\x03"
    groups = struct.pack(">HHH", 10, 6, 4) + b"\x00\x1d\x00\x17"
    extensions = sni + alpn + versions + groups
    ciphers = b"\x13\x01\x13\x02\x13\x03\xc0\x2b\xc0\x2f\xc0\x2c\xc0\x30"
    hello = (
        b"\x03\x03"
        + bytes(range(32))
        + b"\x20"
        + bytes(range(32, 64))
        + struct.pack(">H", len(ciphers))
        + ciphers
        + b"\x01\x00"
    )
    # Header sizes: record 5, handshake 4, extensions length 2, padding extension 4.
    pad = max(0, total_len - 5 - 4 - len(hello) - 2 - len(extensions) - 4)
    extensions += struct.pack(">HH", 21, pad) + bytes(pad)
    body = hello + struct.pack(">H", len(extensions)) + extensions
    handshake = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + struct.pack(">H", len(handshake)) + handshake


def tls_record_header(content_type: int, length: int) -> bytes:
    """The 5-byte header of a TLS record (22 handshake, 23 application data)."""
    return struct.pack(">BHH", content_type, 0x0303, length)


# ---- VRRP (IP protocol 112): a proto-only flow ----


def vrrp_advert(vrid: int, address: bytes) -> bytes:
    """A VRRPv2 advertisement for one virtual IPv4 address (20 bytes)."""
    return struct.pack(">BBBBBBH", 0x21, vrid, 100, 1, 0, 1, 0) + address + bytes(8)
