"""Suggestions for a device the rules left `unknown`: the known devices that behave most
like it (services it answers on, protocols it speaks, ports it calls, its peers'
categories), by Jaccard similarity. Always marked as a suggestion, never a label."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import Connection, select

from central.db.tables import communications, device_addresses, device_services, devices

MIN_SIMILARITY = 0.25


def behaviour_features(connection: Connection, site: str) -> dict[str, set[str]]:
    """{device id: its behaviour features} for every device of `site`."""
    features: dict[str, set[str]] = defaultdict(set)
    category: dict[str, str] = {}
    for device_id, protocols, label in connection.execute(
        select(devices.c.id, devices.c.protocols, devices.c.category).where(devices.c.site == site)
    ):
        category[device_id] = label
        features[device_id].update(f"speaks {p}" for p in protocols or [])
    for device_id, service in connection.execute(
        select(device_services.c.device_id, device_services.c.service)
        .join(devices, devices.c.id == device_services.c.device_id)
        .where(devices.c.site == site)
    ):
        features[device_id].add(f"serves {service}")
    owner = {
        address: device_id
        for address, device_id in connection.execute(
            select(device_addresses.c.address, device_addresses.c.device_id).where(
                device_addresses.c.site == site
            )
        )
    }
    for orig, resp, proto, port in connection.execute(
        select(
            communications.c.orig,
            communications.c.resp,
            communications.c.proto,
            communications.c.port,
        ).where(communications.c.site == site)
    ):
        caller, callee = owner.get(orig), owner.get(resp)
        if caller is not None:
            features[caller].add(f"calls {proto}/{port}")
            if callee is not None and category.get(callee, "unknown") != "unknown":
                features[caller].add(f"talks to {category[callee]}")
        if (
            callee is not None
            and caller is not None
            and category.get(caller, "unknown") != "unknown"
        ):
            features[callee].add(f"talks to {category[caller]}")
    return features


def similar_devices(
    connection: Connection, device: dict[str, Any], limit: int = 3
) -> list[dict[str, Any]]:
    """Up to `limit` suggestions for `device` (an API-shaped dict):
    [{"suggestion": True, "category", "device", "similarity", "shared"}], best first."""
    features = behaviour_features(connection, device["site"])
    mine = features.get(device["id"], set())
    if not mine:
        return []
    categories = dict(
        connection.execute(
            select(devices.c.id, devices.c.category).where(
                devices.c.site == device["site"], devices.c.category != "unknown"
            )
        ).all()
    )
    scored = []
    for other, theirs in features.items():
        if other == device["id"] or other not in categories or not theirs:
            continue
        shared = mine & theirs
        similarity = len(shared) / len(mine | theirs)
        if similarity >= MIN_SIMILARITY:
            scored.append((similarity, other, shared))
    scored.sort(key=lambda item: (-item[0], item[1]))
    return [
        {
            "suggestion": True,
            "category": categories[other],
            "device": other,
            "similarity": round(similarity, 3),
            "shared": sorted(shared),
        }
        for similarity, other, shared in scored[:limit]
    ]
