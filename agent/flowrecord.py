"""One finished flow record, and its JSON form (Zeek conn.log field names).

This module is shared by the engine wrapper (records coming out of the C engine) and
by consumers (records decoded from the wire), so it must not import the C extension.
The JSON field names are a contract (docs/architecture.md); docs/flow-semantics.md
says what each number means.
"""

from __future__ import annotations

import base64
import hashlib
import socket
import struct
from dataclasses import dataclass
from typing import Any

END_REASONS = ("idle", "active", "end", "forced", "resources")

PROTO_NAMES = {1: "icmp", 6: "tcp", 17: "udp", 58: "icmp", 132: "sctp"}

# ICMP types that have a counterpart (request <-> reply), per Community ID v1.
_ICMP4_TWO_WAY = {8, 0, 13, 14, 15, 16, 10, 9, 17, 18}
_ICMP6_TWO_WAY = {128, 129, 133, 134, 135, 136, 130, 131, 139, 140, 144, 145}
_PORT_PROTOS = frozenset({1, 6, 17, 58, 132})


@dataclass(frozen=True, slots=True)
class FlowRecord:
    """A flow (or one `active` report of a long flow), in raw form.

    Addresses are 4- or 16-byte strings, times are integer microseconds, counters
    are per direction as the originator (orig) and responder (resp) saw them.
    """

    serial: int
    ts_us: int
    duration_us: int
    proto: int
    orig_addr: bytes
    orig_port: int
    resp_addr: bytes
    resp_port: int
    vlan: int | None
    inner_vlan: int | None
    orig_pkts: int
    orig_ip_bytes: int
    orig_bytes: int
    resp_pkts: int
    resp_ip_bytes: int
    resp_bytes: int
    orig_tcp_flags: int
    resp_tcp_flags: int
    conn_state: str
    history: str
    end_reason: str
    service: str | None = None
    # Each end's Ethernet source as the sensor saw it on its segment (6 bytes), first seen
    # per direction; None when not seen (that end never sent, or no Ethernet).
    orig_l2_addr: bytes | None = None
    resp_l2_addr: bytes | None = None
    # The responder's name as the sensor last saw it before the record was made (a DNS
    # answer for its address, a ClientHello's SNI or an HTTP Host sent to it), lower case;
    # None when none was seen. The [privacy] tls_sni setting applies (agent/devices.py).
    server_name: str | None = None

    def to_json(self, boot_id: bytes) -> dict[str, Any]:
        """The contract's JSON object for this record; `boot_id` salts the uid."""
        out: dict[str, Any] = {
            "ts": self.ts_us / 1e6,
            "uid": flow_uid(boot_id, self.serial),
            "id.orig_h": format_addr(self.orig_addr),
            "id.orig_p": self.orig_port,
            "id.resp_h": format_addr(self.resp_addr),
            "id.resp_p": self.resp_port,
            "proto": PROTO_NAMES.get(self.proto, self.proto),
        }
        if self.service is not None:
            out["service"] = self.service
        out.update(
            {
                "duration": self.duration_us / 1e6,
                "orig_pkts": self.orig_pkts,
                "orig_ip_bytes": self.orig_ip_bytes,
                "resp_pkts": self.resp_pkts,
                "resp_ip_bytes": self.resp_ip_bytes,
                "orig_bytes": self.orig_bytes,
                "resp_bytes": self.resp_bytes,
                "conn_state": self.conn_state,
                "history": self.history,
            }
        )
        if self.vlan is not None:
            out["vlan"] = self.vlan
        if self.inner_vlan is not None:
            out["inner_vlan"] = self.inner_vlan
        out["community_id"] = community_id(
            self.proto, self.orig_addr, self.orig_port, self.resp_addr, self.resp_port
        )
        out["end_reason"] = self.end_reason
        if self.orig_l2_addr is not None:
            out["orig_l2_addr"] = format_mac(self.orig_l2_addr)
        if self.resp_l2_addr is not None:
            out["resp_l2_addr"] = format_mac(self.resp_l2_addr)
        if self.server_name is not None:
            out["server_name"] = self.server_name
        return out


def format_addr(addr: bytes) -> str:
    """Text form of a 4- or 16-byte address."""
    return socket.inet_ntop(socket.AF_INET if len(addr) == 4 else socket.AF_INET6, addr)


def format_mac(mac: bytes) -> str:
    """Zeek's form of a MAC: "00:1a:5c:00:00:38"."""
    return mac.hex(":")


# base64 without its two symbols: uids stay alphanumeric like Zeek's, for every tool
# that splits on punctuation.
_UID_SYMBOLS = bytes.maketrans(b"+/", b"Zz")


def flow_uid(boot_id: bytes, serial: int) -> str:
    """Zeek-style uid ("C" + 17 alphanumeric chars), the same for every record of a flow.

    Derived from the boot id and the engine's flow serial, so a consumer computes
    exactly what the sensor would have printed, without the uid on the wire.
    """
    digest = hashlib.blake2b(serial.to_bytes(8, "big"), key=boot_id[:64], digest_size=13)
    return "C" + base64.b64encode(digest.digest()).translate(_UID_SYMBOLS)[:17].decode("ascii")


def community_id(
    proto: int, orig_addr: bytes, orig_port: int, resp_addr: bytes, resp_port: int, seed: int = 0
) -> str:
    """Community ID v1 (https://github.com/corelight/community-id-spec), base64 form.

    For ICMP the engine already stores ports as the spec wants them (type, and the
    counterpart type or the code), so only the one-way rule is applied here.
    """
    src, dst, sport, dport = orig_addr, resp_addr, orig_port, resp_port
    if proto == 1:
        one_way = sport not in _ICMP4_TWO_WAY
    elif proto == 58:
        one_way = sport not in _ICMP6_TWO_WAY
    else:
        one_way = False
    if not one_way and (src, sport) > (dst, dport):
        src, dst, sport, dport = dst, src, dport, sport
    data = struct.pack(">H", seed) + src + dst + struct.pack(">BB", proto, 0)
    if proto in _PORT_PROTOS:
        data += struct.pack(">HH", sport, dport)
    return "1:" + base64.b64encode(hashlib.sha1(data).digest()).decode("ascii")
