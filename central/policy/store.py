"""Containment against the database: the baseline to use, the segmentation matrix, the
policy simulation and the nftables ruleset, as the page, the API and `export` want them.

    entries = baseline_for(connection, policy, baseline_days, site)
    segmentation(connection, policy, axis="zone")      # JSON-ready matrix
    simulation(connection, proposed_policy)            # "would block N flows of M devices ..."
    ruleset(connection, policy)                        # nftables text
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import Connection

from central.policy.acl import acl_listing
from central.policy.baseline import (
    BaselineEntry,
    learn_baseline,
    learned_rules,
    segmentation_matrix,
)
from central.policy.nftables import nftables_ruleset, zone_networks
from central.policy.rules import Policy
from central.policy.simulate import Simulation, simulate
from central.risk.store import hosts_of, load_communications, load_devices, stored_baseline


def baseline_for(
    connection: Connection, policy: Policy, baseline_days: float = 14.0, site: str | None = None
) -> list[BaselineEntry]:
    """The stored (frozen) baseline when one was learned, else one learned now from the
    last `baseline_days` of communications (counted back from the newest packet time, so
    an old capture still has a window)."""
    stored = stored_baseline(connection, site)
    if stored:
        return stored
    rows = load_communications(connection, site)
    if not rows:
        return []
    end = max(row.last_seen for row in rows)
    hosts = hosts_of(load_devices(connection))
    return learn_baseline(rows, hosts, policy.zone_map, end - timedelta(days=baseline_days), end)


def segmentation(
    connection: Connection,
    policy: Policy,
    axis: str = "zone",
    baseline_days: float = 14.0,
    site: str | None = None,
) -> dict[str, Any]:
    return segmentation_matrix(baseline_for(connection, policy, baseline_days, site), axis)


def simulation(connection: Connection, proposed: Policy, site: str | None = None) -> Simulation:
    """What `proposed` would block in the whole stored communication history."""
    hosts = hosts_of(load_devices(connection))
    return simulate(proposed, load_communications(connection, site), hosts)


def ruleset(
    connection: Connection,
    policy: Policy,
    baseline_days: float = 14.0,
    site: str | None = None,
    listing: bool = False,
) -> str:
    """The nftables ruleset for `policy` (with the learned allows when allow_learned), or
    with `listing` the same rules as a plain ACL listing."""
    devices = [d for d in load_devices(connection) if site is None or d.site == site]
    hosts = hosts_of(devices)
    enforced = policy
    if policy.allow_learned:
        entries = baseline_for(connection, policy, baseline_days, site)
        enforced = policy.with_rules(learned_rules(entries, policy.zone_map))
    networks = zone_networks(policy.zone_map, hosts)
    if listing:
        return acl_listing(enforced, networks)
    return nftables_ruleset(enforced, networks)
