"""RFC 8520 MUD files from the learned baseline: one per device category.

Each file is the `ietf-mud:mud` container plus the `ietf-access-control-list:acls` it
points to (RFC 8519 with RFC 8520's augmentations), in the JSON encoding of YANG
(RFC 7951). Destinations are written the way MUD means them to travel between
hospitals: a peer whose category is known becomes a class of devices
(`ietf-mud:mud/controller`, URI `urn:iomt-central:category:<category>`), any other local
host `local-networks`, and an internet host its server name (`ietf-acldns:dst-dnsname`)
when the sensor saw one, else its address (/32 or /128).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from central.policy.baseline import BaselineEntry, Side
from central.timestamps import iso_z

CLASS_URN = "urn:iomt-central:category:"
PROTOCOL_NUMBERS = {"tcp": 6, "udp": 17, "icmp": 1, "icmpv6": 58, "sctp": 132}
DEFAULT_MUD_URL_BASE = "https://iomt-central.invalid/mud"


def mud_for_category(
    category: str,
    entries: Iterable[BaselineEntry],
    last_update: datetime,
    url_base: str = DEFAULT_MUD_URL_BASE,
    site: str | None = None,
) -> dict[str, Any]:
    """The MUD file for `category`: what its devices initiated (from-device) and what was
    initiated to them (to-device), each distinct (peer, protocol, port) one ACE."""
    from_device: dict[int, dict[tuple, dict]] = {4: {}, 6: {}}
    to_device: dict[int, dict[tuple, dict]] = {4: {}, 6: {}}
    devices: set[str] = set()
    for entry in entries:
        if entry.orig.category == category and entry.orig.device_id is not None:
            devices.add(entry.orig.device_id)
            _add_ace(from_device, entry, entry.resp, outbound=True)
        if entry.resp.category == category and entry.resp.device_id is not None:
            devices.add(entry.resp.device_id)
            _add_ace(to_device, entry, entry.orig, outbound=False)
    name = f"mud-iomt-{category.replace('_', '-')}"
    acls = []
    policies: dict[str, list[dict[str, str]]] = {"from": [], "to": []}
    for direction, table, suffix in (("from", from_device, "fr"), ("to", to_device, "to")):
        for family in (4, 6):
            aces = list(table[family].values())
            if not aces:
                continue
            acl_name = f"{name}-v{family}{suffix}"
            for index, ace in enumerate(aces):
                ace["name"] = f"cl{index}-{suffix}dev"
            acls.append(
                {
                    "name": acl_name,
                    "type": "ipv4-acl-type" if family == 4 else "ipv6-acl-type",
                    "aces": {"ace": aces},
                }
            )
            policies[direction].append({"name": acl_name})
    where = f" at {site}" if site else ""
    mud: dict[str, Any] = {
        "mud-version": 1,
        "mud-url": f"{url_base.rstrip('/')}/{category}.json",
        "last-update": iso_z(last_update),
        "cache-validity": 48,
        "is-supported": True,
        "systeminfo": f"iomt-central learned allowlist: {len(devices)} {category} device(s){where}",
    }
    if policies["from"]:
        mud["from-device-policy"] = {"access-lists": {"access-list": policies["from"]}}
    if policies["to"]:
        mud["to-device-policy"] = {"access-lists": {"access-list": policies["to"]}}
    return {"ietf-mud:mud": mud, "ietf-access-control-list:acls": {"acl": acls}}


def categories_in(entries: Iterable[BaselineEntry]) -> list[str]:
    """The device categories the baseline has devices of (one MUD file each)."""
    found = set()
    for entry in entries:
        for side in (entry.orig, entry.resp):
            if side.device_id is not None:
                found.add(side.category)
    return sorted(found)


def _add_ace(table: dict, entry: BaselineEntry, peer: Side, outbound: bool) -> None:
    family = ipaddress.ip_address(peer.address).version
    peer_match = _peer_match(peer, entry.server_name, outbound, family)
    key = (repr(sorted(peer_match.items(), key=str)), entry.proto, entry.port)
    if key in table[family]:
        return
    l3 = "ipv4" if family == 4 else "ipv6"
    matches: dict[str, Any] = {}
    ip_match: dict[str, Any] = dict(peer_match.get(l3, {}))
    number = PROTOCOL_NUMBERS.get(entry.proto)
    if number is not None:
        ip_match["protocol"] = number
    if ip_match:
        matches[l3] = ip_match
    if "ietf-mud:mud" in peer_match:
        matches["ietf-mud:mud"] = peer_match["ietf-mud:mud"]
    if entry.proto in ("tcp", "udp"):
        # The device's own port when it is the responder, the peer's when it initiated.
        port_match: dict[str, Any] = {"destination-port": {"operator": "eq", "port": entry.port}}
        if entry.proto == "tcp":
            port_match["ietf-mud:direction-initiated"] = "from-device" if outbound else "to-device"
        matches[entry.proto] = port_match
    table[family][key] = {"name": "", "matches": matches, "actions": {"forwarding": "accept"}}


def _peer_match(peer: Side, server_name: str | None, outbound: bool, family: int) -> dict:
    l3 = "ipv4" if family == 4 else "ipv6"
    if peer.category == "internet":
        if server_name:
            key = "ietf-acldns:dst-dnsname" if outbound else "ietf-acldns:src-dnsname"
            return {l3: {key: server_name}}
        prefix = 32 if family == 4 else 128
        key = f"destination-{l3}-network" if outbound else f"source-{l3}-network"
        return {l3: {key: f"{peer.address}/{prefix}"}}
    if peer.device_id is not None and peer.category != "unknown":
        return {"ietf-mud:mud": {"controller": CLASS_URN + peer.category}}
    return {"ietf-mud:mud": {"local-networks": [None]}}
