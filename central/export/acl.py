"""`export --format acl`: the policy as a plain ACL listing (first match wins), for
firewalls that are not nftables."""

from __future__ import annotations

import argparse
from typing import TextIO

from sqlalchemy import Connection

from agent.errors import UsageError
from central.inventory.queries import DeviceFilter


def export(
    connection: Connection, where: DeviceFilter, args: argparse.Namespace, out: TextIO
) -> None:
    from central.config import load_config
    from central.policy.store import ruleset

    config = load_config(args.config)
    policy = config.containment
    if policy is None or not policy.zone_map.zones:
        raise UsageError(f"{config.path}: no [zones] configured: there is nothing to list")
    out.write(ruleset(connection, policy, config.risk.baseline_days, where.site, listing=True))
