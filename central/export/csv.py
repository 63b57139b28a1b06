"""CSV for a CMMS: one row per device, the columns a biomedical engineering team
imports (id, MAC, addresses, vendor, model, category, criticality, PHI ...)."""

from __future__ import annotations

import argparse
import csv
from typing import Any, TextIO

from sqlalchemy import Connection

from central.inventory.queries import DeviceFilter, list_devices

COLUMNS = (
    "id", "site", "wings", "mac", "ipv4", "ipv6", "vlans", "vendor", "model", "category",
    "modality", "confidence", "criticality", "handles_phi", "phi_reason", "risk",
    "first_seen", "last_seen", "evidence",
)  # fmt: skip


def rows(devices: list[dict[str, Any]]) -> list[dict[str, str]]:
    out = []
    for device in devices:
        row = {}
        for column in COLUMNS:
            value = device.get(column)
            if column == "evidence":
                value = "; ".join(f"{e['kind']}={e['value']}" for e in value or [])
            elif isinstance(value, list):
                value = " ".join(str(item) for item in value)
            elif isinstance(value, bool):
                value = "yes" if value else "no"
            row[column] = "" if value is None else str(value)
        out.append(row)
    return out


def export(
    connection: Connection, where: DeviceFilter, _args: argparse.Namespace, out: TextIO
) -> None:
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows(list_devices(connection, where)))
