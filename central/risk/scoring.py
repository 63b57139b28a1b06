"""A 0-100 risk score per device, explained; the "fix these first" list; roll-ups.

    score = base x criticality weight x (PHI weight if it handles patient data), capped at 100
    base  = sum over the device's finding ids of
            severity points of the worst finding of that id
            x (1 + min(max_extra_fraction, per_extra_peer_fraction x (peers - 1)))

Every number comes from the rules data file (central/risk/rules.toml), and the
explanation lists each term, so a person can redo the sum on the device page.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from central.risk.model import DeviceFacts, Finding
from central.risk.rules import SEVERITIES, RiskRules, severity_rank


@dataclass(frozen=True)
class Term:
    finding: str
    severity: str
    peers: int
    points: float  # after the peer factor, before device weights
    weighted: float  # x criticality x PHI: this finding's share of the score


@dataclass(frozen=True)
class DeviceScore:
    device_id: str
    score: int
    band: str
    base: float
    criticality_weight: float
    phi_weight: float
    terms: tuple[Term, ...] = field(default=())

    def explanation(self) -> str:
        if not self.terms:
            return "No findings: risk 0."
        parts = [f"{t.finding} ({t.severity}, {t.peers} peer(s)) {t.points:g}" for t in self.terms]
        uncapped = self.base * self.criticality_weight * self.phi_weight
        text = (
            f"{' + '.join(parts)} = {self.base:g}; x {self.criticality_weight:g} (criticality)"
            f" x {self.phi_weight:g} (patient data) = {uncapped:.1f}"
        )
        return text + (", capped at 100" if uncapped > 100 else "") + f": risk {self.score}."

    def as_json(self) -> dict[str, Any]:
        return {
            "device_id": self.device_id,
            "risk": self.score,
            "band": self.band,
            "base": round(self.base, 2),
            "criticality_weight": self.criticality_weight,
            "phi_weight": self.phi_weight,
            "terms": [t.__dict__ for t in self.terms],
            "explanation": self.explanation(),
        }


def score_device(rules: RiskRules, device: DeviceFacts, findings: Iterable[Finding]) -> DeviceScore:
    """The device's score from its findings (those of other devices are ignored)."""
    worst: dict[str, str] = {}
    peers: dict[str, set[str]] = defaultdict(set)
    for finding in findings:
        if finding.device_id != device.id:
            continue
        current = worst.get(finding.finding)
        if current is None or severity_rank(finding.severity) > severity_rank(current):
            worst[finding.finding] = finding.severity
        peers[finding.finding].add(finding.peer or "")
    criticality = rules.weight_for(device.criticality)
    phi = rules.phi_weight if device.handles_phi else 1.0
    terms = []
    for finding_id, severity in worst.items():
        extra = min(
            rules.max_extra_fraction, rules.per_extra_peer_fraction * (len(peers[finding_id]) - 1)
        )
        points = rules.severity_points[severity] * (1 + extra)
        terms.append(
            Term(
                finding_id,
                severity,
                len(peers[finding_id]),
                round(points, 2),
                round(points * criticality * phi, 2),
            )
        )
    terms.sort(key=lambda t: (-t.weighted, t.finding))
    base = sum(t.points for t in terms)
    score = min(100, round(base * criticality * phi))
    return DeviceScore(
        device.id, score, rules.band(score), round(base, 2), criticality, phi, tuple(terms)
    )


def score_all(
    rules: RiskRules, devices: Iterable[DeviceFacts], findings: Sequence[Finding]
) -> dict[str, DeviceScore]:
    by_device: dict[str, list[Finding]] = defaultdict(list)
    for finding in findings:
        by_device[finding.device_id].append(finding)
    return {d.id: score_device(rules, d, by_device.get(d.id, ())) for d in devices}


def fix_first(
    rules: RiskRules,
    devices: Iterable[DeviceFacts],
    scores: Mapping[str, DeviceScore],
    limit: int = 50,
) -> list[dict[str, Any]]:
    """What to fix first: one entry per (device, finding id), ranked by that finding's
    weighted share of the device's score, then the device's score, severity, criticality.
    """
    by_id = {d.id: d for d in devices}
    items = []
    for device_id, score in scores.items():
        device = by_id[device_id]
        for term in score.terms:
            rule = rules.findings[term.finding]
            item: dict[str, Any] = {
                "device_id": device_id,
                "site": device.site,
                "wings": list(device.wings),
                "category": device.category,
                "criticality": device.criticality,
                "handles_phi": device.handles_phi,
                "finding": term.finding,
                "severity": term.severity,
                "peers": term.peers,
                "weight": term.weighted,
                "device_risk": score.score,
                "title": rule.title,
                "fix": rule.fix,
            }
            items.append(item)
    items.sort(
        key=lambda i: (
            -i["weight"],
            -i["device_risk"],
            -severity_rank(i["severity"]),
            -rules.weight_for(i["criticality"]),
            i["device_id"],
            i["finding"],
        )
    )
    for rank, item in enumerate(items[:limit], start=1):
        item["rank"] = rank
    return items[:limit]


def rollups(
    devices: Iterable[DeviceFacts], scores: Mapping[str, DeviceScore], findings: Iterable[Finding]
) -> list[dict[str, Any]]:
    """One roll-up per site (wing None) and per (site, wing): device count, mean and max
    risk, devices per band, findings per severity. A device seen in several wings counts
    in each of them, once in its site."""
    groups: dict[tuple[str, str | None], set[str]] = defaultdict(set)
    for device in devices:
        groups[(device.site, None)].add(device.id)
        for wing in device.wings:
            groups[(device.site, wing)].add(device.id)
    per_device: dict[str, list[Finding]] = defaultdict(list)
    for finding in findings:
        per_device[finding.device_id].append(finding)
    out = []
    for (site, wing_name), ids in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")):
        values = [scores[i].score for i in ids if i in scores]
        bands = {band: 0 for band in SEVERITIES}
        for i in ids:
            if i in scores:
                bands[scores[i].band] += 1
        severities = {severity: 0 for severity in SEVERITIES}
        for i in ids:
            for finding in per_device.get(i, ()):
                severities[finding.severity] += 1
        out.append(
            {
                "site": site,
                "wing": wing_name,
                "devices": len(ids),
                "mean_risk": round(sum(values) / len(values), 1) if values else 0.0,
                "max_risk": max(values, default=0),
                "by_band": bands,
                "findings_by_severity": severities,
            }
        )
    return out
