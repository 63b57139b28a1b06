"""The learned baseline: what each device and category actually talked to in a window.

Input is the inventory's communications (one row per site, originator, responder,
protocol, responder port and label, with flow counts and first/last seen) and what is
known of each address (its device's id, category, wings, VLANs, criticality). Output is
one BaselineEntry per row that falls in the window, with both ends' zone and category,
from which the MUD files, the segmentation matrix and learned policy rules are made.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from central.policy.zones import Endpoint, ZoneMap, is_internet
from central.timestamps import iso_z

CLINICAL_CRITICALITIES = ("life-sustaining", "monitoring", "diagnostic")


@dataclass(frozen=True)
class HostInfo:
    """What containment needs to know of the device behind an address."""

    device_id: str
    site: str
    category: str = "unknown"
    wings: tuple[str, ...] = ()
    vlans: tuple[int, ...] = ()
    criticality: str = "administrative"

    @property
    def clinical(self) -> bool:
        return self.criticality in CLINICAL_CRITICALITIES


@dataclass(frozen=True)
class Communication:
    """One communications row (aggregated flows between two addresses on one service)."""

    site: str
    orig: str
    resp: str
    proto: str
    port: int
    service: str | None
    flows: int
    first_seen: datetime
    last_seen: datetime
    server_name: str | None = None


@dataclass(frozen=True)
class Side:
    address: str
    device_id: str | None
    category: str  # the device's category; "internet" or "unknown" for hosts without one
    zone: str


@dataclass(frozen=True)
class BaselineEntry:
    site: str
    orig: Side
    resp: Side
    proto: str
    port: int
    service: str | None
    flows: int
    first_seen: datetime
    last_seen: datetime
    server_name: str | None = None


Hosts = Mapping[tuple[str, str], HostInfo]  # (site, address) -> host


def endpoint_for(site: str, address: str, hosts: Hosts) -> Endpoint:
    host = hosts.get((site, address))
    if host is None:
        return Endpoint(address, site)
    return Endpoint(address, site, host.wings, host.vlans, host.category)


def side_for(site: str, address: str, hosts: Hosts, zone_map: ZoneMap) -> Side:
    host = hosts.get((site, address))
    zone = zone_map.zone_of(endpoint_for(site, address, hosts))
    if host is not None:
        return Side(address, host.device_id, host.category, zone)
    return Side(address, None, "internet" if is_internet(address) else "unknown", zone)


def learn_baseline(
    communications: Iterable[Communication],
    hosts: Hosts,
    zone_map: ZoneMap,
    start: datetime | None = None,
    end: datetime | None = None,
) -> list[BaselineEntry]:
    """Entries for the rows seen within [start, end] (either bound None: open)."""
    entries = []
    for row in communications:
        if start is not None and row.last_seen < start:
            continue
        if end is not None and row.first_seen > end:
            continue
        entries.append(
            BaselineEntry(
                site=row.site,
                orig=side_for(row.site, row.orig, hosts, zone_map),
                resp=side_for(row.site, row.resp, hosts, zone_map),
                proto=row.proto,
                port=row.port,
                service=row.service or None,
                flows=row.flows,
                first_seen=row.first_seen,
                last_seen=row.last_seen,
                server_name=row.server_name,
            )
        )
    return entries


def service_name(proto: str, port: int, service: str | None) -> str:
    """How a cell of the matrix names a service: "hl7 (tcp/2575)" or "tcp/2575"."""
    where = proto if proto in ("icmp", "icmpv6") else f"{proto}/{port}"
    return f"{service} ({where})" if service else where


def segmentation_matrix(entries: Iterable[BaselineEntry], axis: str = "zone") -> dict:
    """Who talks to whom on what: `axis` "zone" or "category" for both ends.

    Returns {"axis", "sources", "destinations", "cells": [{"from", "to", "service",
    "proto", "port", "label", "flows", "devices", "first_seen", "last_seen"}]}, cells
    sorted by (from, to, proto, port). JSON-ready; the page draws it as a grid.
    """
    if axis not in ("zone", "category"):
        raise ValueError(f"axis must be 'zone' or 'category', not {axis!r}")
    cells: dict[tuple[str, str, str, int, str | None], dict] = {}
    for entry in entries:
        src = entry.orig.zone if axis == "zone" else entry.orig.category
        dst = entry.resp.zone if axis == "zone" else entry.resp.category
        key = (src, dst, entry.proto, entry.port, entry.service)
        cell = cells.get(key)
        if cell is None:
            cell = cells[key] = {
                "from": src,
                "to": dst,
                "service": service_name(entry.proto, entry.port, entry.service),
                "proto": entry.proto,
                "port": entry.port,
                "label": entry.service,
                "flows": 0,
                "_devices": set(),
                "first_seen": entry.first_seen,
                "last_seen": entry.last_seen,
            }
        cell["flows"] += entry.flows
        for side in (entry.orig, entry.resp):
            if side.device_id is not None:
                cell["_devices"].add(side.device_id)
        cell["first_seen"] = min(cell["first_seen"], entry.first_seen)
        cell["last_seen"] = max(cell["last_seen"], entry.last_seen)
    out = []
    for key in sorted(cells, key=lambda k: (k[0], k[1], k[2], k[3], k[4] or "")):
        cell = cells[key]
        cell["devices"] = len(cell.pop("_devices"))
        cell["first_seen"] = iso_z(cell["first_seen"])
        cell["last_seen"] = iso_z(cell["last_seen"])
        out.append(cell)
    return {
        "axis": axis,
        "sources": sorted({cell["from"] for cell in out}),
        "destinations": sorted({cell["to"] for cell in out}),
        "cells": out,
    }


def learned_rules(entries: Iterable[BaselineEntry], zone_map: ZoneMap) -> list:
    """Allow rules for what the baseline saw between zones (one per zone pair and port).

    Never for a medical zone's traffic to the internet: that needs a person's rule.
    """
    from central.policy.rules import ALLOW, Rule
    from central.policy.services import parse_service
    from central.policy.zones import INTERNET, UNZONED

    seen: dict[tuple[str, str, str], set[tuple[str, int]]] = {}
    for entry in entries:
        src, dst = entry.orig.zone, entry.resp.zone
        if {src, dst} <= {INTERNET, UNZONED}:
            continue
        if dst == INTERNET and zone_map.is_medical(src):
            continue
        seen.setdefault((src, dst, entry.proto), set()).add((entry.proto, entry.port))
    rules = []
    for (src, dst, proto), ports in sorted(seen.items()):
        services: tuple = ()
        if proto in ("icmp", "icmpv6"):
            services = (parse_service(proto),)
        else:
            services = tuple(parse_service(f"{p}/{port}") for p, port in sorted(ports))
        rules.append(
            Rule(
                name=f"learned {src} -> {dst} {proto}",
                action=ALLOW,
                source=src,
                destination=dst,
                services=services,
                learned=True,
            )
        )
    return rules
