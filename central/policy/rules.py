"""The policy between zones: ordered rules, a default, and the medical-zone internet rule.

A flow is decided by the first rule that matches it (source zone, destination zone or
CIDR or server name, service). When none matches: a medical zone's flow to the internet
is denied (medical zones reach the internet only where a rule allows it); any other flow
touching a configured zone gets `default_action`; flows between unzoned hosts are allowed
(the policy does not speak about them).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass, field

from central.policy.services import ServiceSpec
from central.policy.zones import ANY, INTERNET, UNZONED, Network, ZoneMap, parse_address

ALLOW = "allow"
DENY = "deny"


@dataclass(frozen=True)
class FlowFacts:
    """What a decision looks at: responder port, protocol, label, and server name if seen."""

    proto: str
    port: int
    service: str | None = None
    server_name: str | None = None
    dst_address: str | None = None


@dataclass(frozen=True)
class Rule:
    name: str
    action: str
    source: str = ANY
    destination: str = ANY
    to_cidrs: tuple[Network, ...] = ()
    to_server: str | None = None  # a glob such as "*.vendor.example"
    services: tuple[ServiceSpec, ...] = ()
    learned: bool = False  # added from the learned baseline, not written by a person

    def matches(self, src_zone: str, dst_zone: str, flow: FlowFacts) -> bool:
        if self.source != ANY and self.source != src_zone:
            return False
        if self.destination != ANY and self.destination != dst_zone:
            return False
        if self.to_cidrs:
            address = parse_address(flow.dst_address or "")
            if address is None or not any(address in net for net in self.to_cidrs):
                return False
        if self.to_server is not None:
            name = (flow.server_name or "").lower().rstrip(".")
            if not name or not fnmatch.fnmatchcase(name, self.to_server):
                return False
        if self.services:
            return any(spec.matches(flow.proto, flow.port, flow.service) for spec in self.services)
        return True


@dataclass(frozen=True)
class Decision:
    action: str
    rule: str  # the rule's name, or "medical-internet" / "default"
    reason: str

    @property
    def allowed(self) -> bool:
        return self.action == ALLOW


@dataclass(frozen=True)
class Policy:
    zone_map: ZoneMap = field(default_factory=ZoneMap)
    rules: Sequence[Rule] = ()
    default_action: str = ALLOW
    allow_learned: bool = False
    mud_url_base: str = "https://iomt-central.invalid/mud"

    @property
    def configured(self) -> bool:
        return bool(self.zone_map.zones) or bool(self.rules)

    def decide(self, src_zone: str, dst_zone: str, flow: FlowFacts) -> Decision:
        for rule in self.rules:
            if rule.matches(src_zone, dst_zone, flow):
                verb = "allows" if rule.action == ALLOW else "denies"
                return Decision(rule.action, rule.name, f"rule {rule.name!r} {verb} it")
        if dst_zone == INTERNET and self.zone_map.is_medical(src_zone):
            return Decision(
                DENY,
                "medical-internet",
                f"zone {src_zone!r} is medical: the internet only where a rule allows it",
            )
        zoned = {src_zone, dst_zone} - {INTERNET, UNZONED}
        if zoned:
            return Decision(
                self.default_action, "default", f"no rule matches; default is {self.default_action}"
            )
        return Decision(ALLOW, "default", "between unzoned hosts: outside the policy")

    def with_rules(self, extra: Sequence[Rule]) -> Policy:
        """This policy with `extra` rules after its own (learned allows go last)."""
        return Policy(
            self.zone_map,
            (*self.rules, *extra),
            self.default_action,
            self.allow_learned,
            self.mud_url_base,
        )
