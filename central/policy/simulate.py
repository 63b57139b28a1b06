"""Policy simulation: what a proposed policy would block in the stored history.

"Would block N flows of M devices, of which K clinical", with the list, before anyone
enforces it. Every communications row is decided as the enforcing firewall would
(central.policy.rules.Policy.decide); denied rows are the list.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from central.policy.baseline import Communication, HostInfo, Hosts, endpoint_for
from central.policy.rules import FlowFacts, Policy


@dataclass
class Simulation:
    flows_blocked: int = 0
    rows_checked: int = 0
    flows_checked: int = 0
    devices: dict[str, HostInfo] = field(default_factory=dict)
    blocked: list[dict] = field(default_factory=list)

    @property
    def clinical_devices(self) -> int:
        return sum(1 for host in self.devices.values() if host.clinical)

    def summary(self) -> str:
        return (
            f"would block {self.flows_blocked} flows of {len(self.devices)} devices, "
            f"of which {self.clinical_devices} clinical"
        )

    def as_json(self) -> dict:
        return {
            "summary": self.summary(),
            "flows_blocked": self.flows_blocked,
            "devices": len(self.devices),
            "clinical_devices": self.clinical_devices,
            "flows_checked": self.flows_checked,
            "blocked": self.blocked,
            "device_ids": sorted(self.devices),
        }


def simulate(policy: Policy, communications: Iterable[Communication], hosts: Hosts) -> Simulation:
    """Decide every row; count and list what `policy` denies."""
    result = Simulation()
    zone_of = policy.zone_map.zone_of
    for row in communications:
        result.rows_checked += 1
        result.flows_checked += row.flows
        src = zone_of(endpoint_for(row.site, row.orig, hosts))
        dst = zone_of(endpoint_for(row.site, row.resp, hosts))
        facts = FlowFacts(row.proto, row.port, row.service or None, row.server_name, row.resp)
        decision = policy.decide(src, dst, facts)
        if decision.allowed:
            continue
        result.flows_blocked += row.flows
        ends = []
        for address in (row.orig, row.resp):
            host = hosts.get((row.site, address))
            if host is not None:
                result.devices[host.device_id] = host
            ends.append(host.device_id if host else None)
        result.blocked.append(
            {
                "site": row.site,
                "orig": row.orig,
                "orig_device": ends[0],
                "orig_zone": src,
                "resp": row.resp,
                "resp_device": ends[1],
                "resp_zone": dst,
                "proto": row.proto,
                "port": row.port,
                "service": row.service or None,
                "flows": row.flows,
                "rule": decision.rule,
                "reason": decision.reason,
            }
        )
    result.blocked.sort(key=lambda item: (-item["flows"], item["orig"], item["resp"], item["port"]))
    return result
