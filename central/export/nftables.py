"""`export --format nftables`: the ruleset enforcing [zones] and [policy] (nft -f FILE);
`write_ruleset(..., listing=True)` is the same policy as a plain ACL listing (acl.py)."""

from __future__ import annotations

import argparse
from typing import TextIO

from sqlalchemy import Connection

from agent.errors import UsageError
from central.inventory.queries import DeviceFilter


def export(
    connection: Connection, where: DeviceFilter, args: argparse.Namespace, out: TextIO
) -> None:
    write_ruleset(connection, where, args, out, listing=False)


def write_ruleset(
    connection: Connection,
    where: DeviceFilter,
    args: argparse.Namespace,
    out: TextIO,
    listing: bool,
) -> None:
    """The configured policy with the learned baseline, as nftables or as a listing.
    Raises UsageError when no [zones] are configured."""
    from central.config import load_config
    from central.policy.store import ruleset

    config = load_config(args.config)
    policy = config.containment
    if policy is None or not policy.zone_map.zones:
        purpose = "list" if listing else "enforce"
        raise UsageError(f"{config.path}: no [zones] configured: there is nothing to {purpose}")
    out.write(ruleset(connection, policy, config.risk.baseline_days, where.site, listing=listing))
