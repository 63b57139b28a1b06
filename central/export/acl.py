"""`export --format acl`: the policy as a plain ACL listing (first match wins), for
firewalls that are not nftables; the nftables export's ruleset, listed."""

from __future__ import annotations

import argparse
from typing import TextIO

from sqlalchemy import Connection

from central.export.nftables import write_ruleset
from central.inventory.queries import DeviceFilter


def export(
    connection: Connection, where: DeviceFilter, args: argparse.Namespace, out: TextIO
) -> None:
    write_ruleset(connection, where, args, out, listing=True)
