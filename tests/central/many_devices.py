"""A hospital-sized inventory for the paging tests and bench_inventory_page: `count`
devices over two sites and six wings, every category, one or two addresses each, and a
stored risk score (as an evaluation leaves it), written in a few bulk statements.

    seed_many_devices(engine, 5000, now)   # ids "dev-00000" ...; see device_values(i)
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, insert

from central.db import tables
from central.inventory.queries import CATEGORIES, CRITICALITIES
from central.risk.tables import device_risk

SITES = ("st-mary", "st-luke")
WINGS = ("1a", "2b", "3c", "4d", "5e", "6f")
VENDORS = ("Baxter", "Philips", "GE", "Siemens", "Zebra", "Axis", "Dell", "Cisco")


def device_values(index: int, now: datetime) -> dict[str, Any]:
    """Device `index`'s row: everything derived from the index, so tests can predict."""
    site = SITES[index % len(SITES)]
    wing = WINGS[(index // 2) % len(WINGS)]
    category = CATEGORIES[index % len(CATEGORIES)]
    mac = "02:00:{:02x}:{:02x}:{:02x}:{:02x}".format(*(index >> s & 0xFF for s in (24, 16, 8, 0)))
    seen = now - timedelta(days=40, minutes=index)
    return {
        "id": f"dev-{index:05d}",
        "site": site,
        "identity_kind": "mac",
        "identity": mac,
        "mac": mac,
        "oui_vendor": None,
        "wings": [wing],
        "sensors": [f"{site}-{wing}-01"],
        "vlans": [10 + index % 5],
        "protocols": [],
        "peers_estimate": 1,
        "hl7_messages": 0,
        "first_seen": seen,
        "last_seen": seen + timedelta(days=30),
        "created_at": now - timedelta(days=index % 30),
        "updated_at": now,
        "category": category,
        "vendor": VENDORS[index % len(VENDORS)],
        "model": f"M{index % 97}",
        "modality": None,
        "confidence": 0.9,
        "evidence": [],
        "handles_phi": index % 3 == 0,
        "phi_reason": "speaks HL7" if index % 3 == 0 else None,
        "criticality": CRITICALITIES[index % len(CRITICALITIES)],
    }


def address_of(index: int) -> str:
    return f"10.{index // 65536 % 256}.{index // 256 % 256}.{index % 256}"


def risk_of(index: int) -> int:
    return index * 37 % 101


def seed_many_devices(engine: Engine, count: int, now: datetime) -> None:
    rows = [device_values(index, now) for index in range(count)]
    addresses = []
    for index, row in enumerate(rows):
        addresses.append(_address(row, address_of(index), now))
        if index % 4 == 0:
            addresses.append(_address(row, f"fd00::{index:x}", now))
    scores = []
    for index, row in enumerate(rows):
        risk = risk_of(index)
        band = (
            "low" if risk < 25 else "medium" if risk < 50 else "high" if risk < 75 else "critical"
        )
        scores.append(
            {
                "device_id": row["id"],
                "risk": risk,
                "band": band,
                "explanation": {"explanation": f"{risk} (seeded)"},
                "updated_at": now,
            }
        )
    with engine.begin() as connection:
        connection.execute(insert(tables.devices), rows)
        connection.execute(insert(tables.device_addresses), addresses)
        connection.execute(insert(device_risk), scores)


def _address(row: dict[str, Any], address: str, now: datetime) -> dict[str, Any]:
    return {
        "device_id": row["id"],
        "site": row["site"],
        "address": address,
        "family": 6 if ":" in address else 4,
        "first_seen": row["first_seen"],
        "last_seen": now,
    }
