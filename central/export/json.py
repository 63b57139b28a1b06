"""JSON: the API's device list (GET /api/devices), as one JSON array."""

from __future__ import annotations

import argparse
import json
from typing import TextIO

from sqlalchemy import Connection

from central.inventory.queries import DeviceFilter, list_devices


def export(
    connection: Connection, where: DeviceFilter, _args: argparse.Namespace, out: TextIO
) -> None:
    json.dump(list_devices(connection, where), out, indent=1, sort_keys=True)
    out.write("\n")
