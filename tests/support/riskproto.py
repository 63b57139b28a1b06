"""Payloads of the protocols that make a device risky (issue 14): telnet, FTP, SSH, RDP,
VNC, SMB, SNMP, HTTP Basic authentication, TLS ServerHello. Built field by field from the
specifications (SNMP by scapy's BER encoder), each with room for a planted secret that
the sensor must never read."""

from __future__ import annotations

import base64
import struct
from pathlib import Path

from scapy.asn1.asn1 import ASN1_OID
from scapy.layers.snmp import (
    SNMP,
    SNMPget,
    SNMPresponse,
    SNMPtrapv2,
    SNMPvarbind,
)

# ---------------------------------------------------------------- telnet, FTP, SSH

IAC, DO, WILL = 0xFF, 0xFD, 0xFB
TELNET_NEGOTIATION = bytes([IAC, DO, 24, IAC, DO, 32, IAC, WILL, 1])  # terminal type, speed, echo


def ssh_banner(software: bytes) -> bytes:
    return b"SSH-2.0-" + software + b"\r\n"


# ---------------------------------------------------------------- RDP


def rdp_connection_request(user: bytes, requested: int = 0x3) -> bytes:
    """X.224 Connection Request with a cookie naming the user and an RDP_NEG_REQ."""
    variable = b"Cookie: mstshash=" + user + b"\r\n" + struct.pack("<BBHI", 1, 0, 8, requested)
    x224 = bytes([6 + len(variable), 0xE0, 0, 0, 0, 0, 0]) + variable
    return struct.pack(">BBH", 3, 0, 4 + len(x224)) + x224


def rdp_connection_confirm(selected: int | None) -> bytes:
    """X.224 Connection Confirm: with an RDP_NEG_RSP, or none (None: old server)."""
    variable = b"" if selected is None else struct.pack("<BBHI", 2, 0, 8, selected)
    x224 = bytes([6 + len(variable), 0xD0, 0, 0, 0x12, 0x34, 0]) + variable
    return struct.pack(">BBH", 3, 0, 4 + len(x224)) + x224


def iso_tsap_connection_request() -> bytes:
    """S7comm's COTP Connection Request (TPKT too, port 102): parameters, not RDP's."""
    params = bytes([0xC1, 2, 1, 0, 0xC2, 2, 1, 2, 0xC0, 1, 0x0A])
    x224 = bytes([6 + len(params), 0xE0, 0, 0, 0, 1, 0]) + params
    return struct.pack(">BBH", 3, 0, 4 + len(x224)) + x224


# ---------------------------------------------------------------- VNC

RFB_38 = b"RFB 003.008\n"
RFB_33 = b"RFB 003.003\n"


def vnc_security_types(*types: int) -> bytes:
    return bytes([len(types), *types])


# ---------------------------------------------------------------- SMB


def _netbios(message: bytes) -> bytes:
    return b"\x00" + len(message).to_bytes(3, "big") + message


def _smb1_header(command: int, reply: bool) -> bytes:
    flags = 0x98 if reply else 0x18
    return b"\xffSMB" + struct.pack("<BIBH12sHHHH", command, 0, flags, 0xC853, b"", 0, 0, 1, 1)


def smb1_negotiate_request(dialects: list[bytes]) -> bytes:
    data = b"".join(b"\x02" + d + b"\x00" for d in dialects)
    return _netbios(_smb1_header(0x72, False) + b"\x00" + struct.pack("<H", len(data)) + data)


def smb1_negotiate_response_nt_lm() -> bytes:
    """A server that chose "NT LM 0.12" (index 0): word count 17."""
    words = struct.pack("<HBHHIIIIQhB", 0, 3, 50, 1, 65536, 65536, 0, 0xF3F9, 0, 0, 8)
    return _netbios(_smb1_header(0x72, True) + b"\x11" + words + b"\x00\x00")


def smb1_session_setup(user: bytes) -> bytes:
    """An SMB1 SESSION_SETUP_ANDX request naming a user (never read)."""
    return _netbios(_smb1_header(0x73, False) + b"\x00" + struct.pack("<H", len(user)) + user)


def _smb2_header(command: int, response: bool) -> bytes:
    return struct.pack(
        "<4sHHIHHIIQIIQ16s",
        b"\xfeSMB",
        64,
        0,
        0,
        command,
        1,
        1 if response else 0,
        0,
        0,
        0,
        0,
        0,
        b"",
    )


def smb2_negotiate_request(dialects: list[int]) -> bytes:
    body = struct.pack("<HHHHI16sQ", 36, len(dialects), 1, 0, 0x7F, b"\x11" * 16, 0)
    body += b"".join(struct.pack("<H", d) for d in dialects)
    return _netbios(_smb2_header(0, False) + body)


def smb2_negotiate_response(dialect: int) -> bytes:
    body = struct.pack(
        "<HHHH16sIIIIQQHHI",
        65,
        1,
        dialect,
        0,
        b"\x22" * 16,
        0x2F,
        65536,
        65536,
        65536,
        0,
        0,
        128,
        0,
        0,
    )
    return _netbios(_smb2_header(0, True) + body)


def smb2_session_setup(user: bytes) -> bytes:
    """An SMB2 SESSION_SETUP request whose blob names a user (never read)."""
    blob = b"NTLMSSP\x00\x03\x00\x00\x00" + user
    body = struct.pack("<HBBIIHHQ", 25, 0, 1, 0, 0, 88, len(blob), 0) + blob
    return _netbios(_smb2_header(1, False) + body)


# ---------------------------------------------------------------- SNMP

_SYS_DESCR = ASN1_OID("1.3.6.1.2.1.1.1.0")


def snmp_get(community: bytes, version: int = 1) -> bytes:
    pdu = SNMPget(varbindlist=[SNMPvarbind(oid=_SYS_DESCR)])
    return bytes(SNMP(version=version, community=community, PDU=pdu))


def snmp_response(community: bytes, version: int = 1, value: bytes = b"Printer 3000") -> bytes:
    pdu = SNMPresponse(varbindlist=[SNMPvarbind(oid=_SYS_DESCR, value=value)])
    return bytes(SNMP(version=version, community=community, PDU=pdu))


def snmp_trap_v2(community: bytes) -> bytes:
    return bytes(SNMP(version=1, community=community, PDU=SNMPtrapv2()))


def snmp_v3_message() -> bytes:
    """An SNMPv3 message header (msgVersion 3) with a user name in its security
    parameters (never read)."""
    global_data = bytes.fromhex("300f020200010203008000040104020103")
    usm = (
        b"\x04\x12" + b"\x30\x10\x04\x00\x02\x01\x00\x02\x01\x00\x04\x06" + b"nurse1" + b"\x04\x00"
    )
    body = b"\x02\x01\x03" + global_data[:2] + global_data[2:] + usm
    return b"\x30" + bytes([len(body)]) + body


# ---------------------------------------------------------------- HTTP, TLS


def http_get(path: bytes = b"/", authorization: bytes | None = None) -> bytes:
    headers = (
        b"GET " + path + b" HTTP/1.1\r\nHost: pump-17.ward4.example\r\nUser-Agent: Browser/2\r\n"
    )
    if authorization is not None:
        headers += b"Authorization: " + authorization + b"\r\n"
    return headers + b"\r\n"


def basic_credentials(user: bytes, password: bytes) -> bytes:
    return b"Basic " + base64.b64encode(user + b":" + password)


def http_401(challenges: list[bytes]) -> bytes:
    lines = b"".join(b"WWW-Authenticate: " + c + b"\r\n" for c in challenges)
    return (
        b"HTTP/1.1 401 Unauthorized\r\nServer: PumpWeb/1.2\r\n"
        + lines
        + b"Content-Length: 0\r\n\r\n"
    )


def http_200(body: bytes = b"ok") -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body


def tls_server_hello(version: int, supported_version: int | None = None) -> bytes:
    """A ServerHello choosing `version` (TLS 1.3: legacy 1.2 and supported_versions)."""
    exts = b""
    if supported_version is not None:
        exts = struct.pack(">HHH", 0x002B, 2, supported_version)
    body = struct.pack(">H", version) + bytes(32) + b"\x00" + struct.pack(">HB", 0xC02F, 0)
    if exts:
        body += struct.pack(">H", len(exts)) + exts
    handshake = b"\x02" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x03" + struct.pack(">H", len(handshake)) + handshake


def tls_client_hello_legacy(version: int = 0x0301) -> bytes:
    """A ClientHello of an old stack: no supported_versions, legacy version only."""
    ciphers = [0x002F, 0x0035]
    body = (
        struct.pack(">H", version)
        + bytes(32)
        + b"\x00"
        + struct.pack(">H", 2 * len(ciphers))
        + b"".join(struct.pack(">H", c) for c in ciphers)
        + b"\x01\x00"
    )
    handshake = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + struct.pack(">H", len(handshake)) + handshake


# ---------------------------------------------------------------- fuzz seeds


def write_seed_capture(path: Path) -> Path:
    """One capture with every handshake above, for fuzz_engine's seed corpus
    (tests/support/medical.py write_seed_captures adds it): later messages included, so
    the fuzzer starts inside the readers of a flow's first 4 KiB."""
    from tests.support import medical as m

    a, b = m.Host("00:1a:5c:00:00:38", "10.4.2.38"), m.Host("00:50:56:00:00:42", "10.9.0.42")
    sessions: list[tuple[int, list[tuple[str, bytes]]]] = [
        (23, [("s", TELNET_NEGOTIATION), ("c", b"x\r\n")]),
        (21, [("s", b"220 FTP\r\n"), ("c", b"AUTH TLS\r\n"), ("s", b"234 ok\r\n")]),
        (22, [("s", ssh_banner(b"OpenSSH_9.2")), ("c", ssh_banner(b"PuTTY"))]),
        (3389, [("c", rdp_connection_request(b"u")), ("s", rdp_connection_confirm(2))]),
        (5900, [("s", RFB_38), ("c", RFB_38), ("s", vnc_security_types(1, 2)), ("c", b"\x02")]),
        (
            445,
            [
                ("c", smb1_negotiate_request([b"NT LM 0.12", b"SMB 2.???"])),
                ("s", smb2_negotiate_response(0x02FF)),
                ("c", smb2_negotiate_request([0x0311])),
                ("s", smb2_negotiate_response(0x0311)),
            ],
        ),
        (80, [("c", http_get()), ("s", http_401([b"Basic"])), ("c", http_get(b"/", b"Basic x"))]),
        (443, [("c", tls_client_hello_legacy()), ("s", tls_server_hello(0x0303, 0x0304))]),
    ]
    cap = m.CaptureBuilder()
    for i, (port, exchanges) in enumerate(sessions):
        cap.tcp_session(a, b, 41000 + i, port, exchanges)
    cap.udp(a, b, 41100, 161, snmp_get(b"public"))
    cap.udp(b, a, 161, 41100, snmp_response(b"public"))
    return cap.write(path)
