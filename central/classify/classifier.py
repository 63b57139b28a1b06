"""Label one device from its facts with a RuleSet: category, vendor, model, modality,
confidence, the evidence that decided, patient-data handling and criticality.

Pure: facts in, a Classification out; the inventory store calls it when a device's facts
change and records what changed in the device's history.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from central.classify.ruleset import Rule, RuleSet


@dataclass
class DeviceFacts:
    """What the sensors told about one device (all its sensors and boots together)."""

    oui_vendor: str | None = None
    fingerprints: dict[str, set[str]] = field(default_factory=dict)
    services: set[str] = field(default_factory=set)
    protocols: set[str] = field(default_factory=set)
    mac: str | None = None
    # Measured behaviour (central.classify.ruleset.BEHAVIOURS): ipv4_addresses and
    # ipv4_subnets it carried, public_addresses, peers.
    behaviours: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Classification:
    category: str
    vendor: str | None
    model: str | None
    modality: str | None
    confidence: float
    evidence: list[dict[str, Any]]  # the votes for the category (for unknown: every vote)
    handles_phi: bool
    phi_reason: str | None
    criticality: str

    def label(self) -> dict[str, Any]:
        """The fields a change of which is a `classification_changed` in the history."""
        return {
            "category": self.category,
            "vendor": self.vendor,
            "model": self.model,
            "modality": self.modality,
        }


@dataclass(frozen=True)
class _Vote:
    rule: Rule
    kind: str
    value: str
    model: str | None
    modality: str | None


def classify(facts: DeviceFacts, ruleset: RuleSet) -> Classification:
    votes = _own_votes([vote for rule in ruleset.rules for vote in _votes(rule, facts)], ruleset)
    score: dict[str, float] = {}
    order: dict[str, int] = {}
    for index, vote in enumerate(votes):
        category = vote.rule.category
        score[category] = 1 - (1 - score.get(category, 0.0)) * (1 - vote.rule.confidence)
        order.setdefault(category, index)
    category = "unknown"
    confidence = 0.0
    if score:
        best = max(score, key=lambda name: (score[name], -order[name]))
        if score[best] >= ruleset.minimum_confidence:
            category, confidence = best, score[best]
    decided = [vote for vote in votes if vote.rule.category == category] if score else []
    if category == "unknown":
        decided = votes
    by_confidence = sorted(decided, key=lambda vote: -vote.rule.confidence)
    vendor = next((v.rule.vendor for v in by_confidence if v.rule.vendor), None)
    if category != "unknown" and vendor is None:
        vendor = facts.oui_vendor
    if category == "unknown":
        vendor = facts.oui_vendor
    model = (
        next((v.model for v in by_confidence if v.model), None) if category != "unknown" else None
    )
    modality = next((v.modality for v in by_confidence if v.modality), None)
    phi_reasons = [
        reason for protocol, reason in ruleset.phi_protocols.items() if protocol in facts.protocols
    ] + [reason for service, reason in ruleset.phi_services.items() if service in facts.services]
    return Classification(
        category=category,
        vendor=vendor,
        model=model,
        modality=modality if category == "imaging" else None,
        confidence=round(confidence, 4),
        evidence=[
            {
                "rule": vote.rule.id,
                "kind": vote.kind,
                "value": vote.value,
                "category": vote.rule.category,
                "confidence": vote.rule.confidence,
            }
            for vote in decided
        ],
        handles_phi=bool(phi_reasons),
        phi_reason="; ".join(phi_reasons) or None,
        criticality=ruleset.criticality.get(category, "administrative"),
    )


def _own_votes(votes: list[_Vote], ruleset: RuleSet) -> list[_Vote]:
    """A router carries the traffic of the hosts behind it: their services, protocols and
    application fingerprints appear on its MAC. When the votes of `routes` rules reach
    the routing confidence, only votes of the kinds that describe the box itself count
    (routing.own_kinds, and the routing votes themselves)."""
    routing = 0.0
    for vote in votes:
        if vote.rule.routes:
            routing = 1 - (1 - routing) * (1 - vote.rule.confidence)
    if routing < ruleset.routing_minimum_confidence:
        return votes
    return [v for v in votes if v.rule.routes or v.kind in ruleset.routing_own_kinds]


def _votes(rule: Rule, facts: DeviceFacts) -> list[_Vote]:
    if rule.with_service and not rule.with_service & facts.services:
        return []
    if rule.without_service & facts.services:
        return []
    if rule.with_protocol and not rule.with_protocol & facts.protocols:
        return []
    if rule.without_protocol & facts.protocols:
        return []
    modality = None
    if rule.modality_from:
        values = sorted(facts.fingerprints.get(rule.modality_from, ()))
        modality = values[0] if values else None
    if rule.fingerprint is not None:
        assert rule.pattern is not None
        out = []
        for value in sorted(facts.fingerprints.get(rule.fingerprint, ())):
            match = rule.pattern.search(value)
            if match is None:
                continue
            model = rule.model
            if "model" in rule.pattern.groupindex and match.group("model"):
                model = match.group("model").strip()
            out.append(_Vote(rule, rule.fingerprint, value, model, modality))
        return out[:1]  # one vote per rule: ten values of one kind are not ten witnesses
    if rule.oui is not None:
        if facts.oui_vendor and rule.oui.search(facts.oui_vendor):
            return [_Vote(rule, "oui", facts.oui_vendor, rule.model, modality)]
        return []
    if rule.service is not None:
        if rule.service in facts.services:
            return [_Vote(rule, "service", rule.service, rule.model, modality)]
        return []
    if rule.protocol is not None:
        if rule.protocol in facts.protocols:
            return [_Vote(rule, "protocol", rule.protocol, rule.model, modality)]
        return []
    if rule.mac is not None:
        if facts.mac and rule.mac.search(facts.mac):
            return [_Vote(rule, "mac", facts.mac, rule.model, modality)]
        return []
    if rule.behaviour is not None:
        measured = facts.behaviours.get(rule.behaviour, 0)
        if measured >= rule.at_least:
            value = f"{rule.behaviour} {measured:g} (at least {rule.at_least:g})"
            return [_Vote(rule, "behaviour", value, rule.model, modality)]
    return []
