"""The risk rules data file: load the shipped one, merge a site's, check every value.

    rules = load_rules()                       # the packaged central/risk/rules.toml
    rules = load_rules(Path("/etc/iomt-central/risk.toml"))   # + a site's overrides

Raises RulesError (a usage error, exit 2) naming the file and key of every problem.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.errors import UsageError

SHIPPED_RULES = Path(__file__).resolve().parent / "rules.toml"
SEVERITIES = ("low", "medium", "high", "critical")
FINDING_IDS = (
    "cleartext_phi",
    "internet_communication",
    "telnet",
    "ftp",
    "http_basic_auth",
    "snmp_default_community",
    "smb1",
    "vnc_cleartext",
    "old_tls",
    "port_scan",
    "new_device",
    "identity_changed",
    "policy_violation",
    "known_vulnerability",
)
SIDES = ("originator", "responder", "both")


class RulesError(UsageError):
    """The risk rules file is invalid; the message has one line per problem."""


def severity_rank(severity: str) -> int:
    return SEVERITIES.index(severity)


@dataclass(frozen=True)
class FindingRule:
    id: str
    severity: str
    title: str
    fix: str
    options: Mapping[str, Any]  # the rest of the table (labels, ports, windows ...)

    def get(self, key: str, default: Any = None) -> Any:
        return self.options.get(key, default)


@dataclass(frozen=True)
class RiskRules:
    severity_points: Mapping[str, float]
    criticality_weight: Mapping[str, float]
    phi_weight: float
    per_extra_peer_fraction: float
    max_extra_fraction: float
    bands: tuple[tuple[str, float], ...]  # (name, lower bound), ascending
    medical_categories: frozenset[str]
    findings: Mapping[str, FindingRule]

    def weight_for(self, criticality: str | None) -> float:
        return self.criticality_weight.get(criticality or "", self.criticality_weight["default"])

    def band(self, score: float) -> str:
        name = self.bands[0][0]
        for band, lower in self.bands:
            if score >= lower:
                name = band
        return name


def load_rules(site_file: Path | None = None) -> RiskRules:
    """The shipped rules, with `site_file`'s tables merged over them when given."""
    raw = _read(SHIPPED_RULES)
    source = SHIPPED_RULES
    if site_file is not None:
        raw = _merge(raw, _read(site_file))
        source = site_file
    return _build(raw, source)


def _read(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except OSError as exc:
        raise RulesError(f"{path}: cannot read risk rules: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise RulesError(f"{path}: not valid TOML: {exc}") from None


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(dict(merged[key]), value)
        else:
            merged[key] = value
    return merged


def _build(raw: Mapping[str, Any], path: Path) -> RiskRules:
    errors: list[str] = []

    def number(section: str, key: str, value: Any, minimum: float = 0.0) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
            errors.append(f"{path}: {section}.{key}: must be a number >= {minimum}, not {value!r}")
            return minimum
        return float(value)

    points = raw.get("severity_points", {})
    severity_points = {s: number("severity_points", s, points.get(s)) for s in SEVERITIES}
    weights_raw = raw.get("criticality_weight", {})
    weights = {k: number("criticality_weight", k, v, 0.1) for k, v in weights_raw.items()}
    if "default" not in weights:
        errors.append(
            f"{path}: criticality_weight.default: missing (the weight of unlisted values)"
        )
        weights["default"] = 1.0
    score = raw.get("score", {})
    bands_raw = raw.get("bands", {})
    bands = []
    for name in SEVERITIES:
        bands.append((name, number("bands", name, bands_raw.get(name), 0.0)))
    if [b for _, b in bands] != sorted(b for _, b in bands):
        errors.append(f"{path}: bands: lower bounds must rise low < medium < high < critical")
    medical = raw.get("categories", {}).get("medical", [])
    findings: dict[str, FindingRule] = {}
    tables = raw.get("findings", {})
    for finding_id in FINDING_IDS:
        table = tables.get(finding_id)
        key = f"findings.{finding_id}"
        if not isinstance(table, Mapping):
            errors.append(f"{path}: {key}: missing (every finding id needs its table)")
            continue
        for severity_key in ("severity", "severity_across_zones", "severity_phi"):
            if severity_key in table and table[severity_key] not in SEVERITIES:
                errors.append(
                    f"{path}: {key}.{severity_key}: {table[severity_key]!r} is not one of "
                    f"{', '.join(SEVERITIES)}"
                )
        if table.get("side", "both") not in SIDES:
            errors.append(f"{path}: {key}.side: must be one of {', '.join(SIDES)}")
        for port in table.get("ports", []):
            proto, _, number_text = str(port).partition("/")
            if proto not in ("tcp", "udp") or not number_text.isdigit():
                errors.append(f'{path}: {key}.ports: {port!r} is not "tcp/N" or "udp/N"')
        prints = table.get("fingerprints", {})
        if not isinstance(prints, Mapping) or not all(
            isinstance(v, list) and all(isinstance(x, str) for x in v) for v in prints.values()
        ):
            errors.append(f'{path}: {key}.fingerprints: a table of kind = ["value", ...]')
        options = {k: v for k, v in table.items() if k not in ("severity", "title", "fix")}
        findings[finding_id] = FindingRule(
            finding_id,
            table.get("severity", "medium"),
            str(table.get("title", finding_id)),
            str(table.get("fix", "")),
            options,
        )
    unknown = sorted(set(tables) - set(FINDING_IDS))
    for finding_id in unknown:
        errors.append(
            f"{path}: findings.{finding_id}: unknown finding id; known: {', '.join(FINDING_IDS)}"
        )
    if errors:
        raise RulesError("\n".join(errors))
    return RiskRules(
        severity_points=severity_points,
        criticality_weight=weights,
        phi_weight=number("score", "phi_weight", score.get("phi_weight", 1.0), 1.0),
        per_extra_peer_fraction=number(
            "score", "per_extra_peer_fraction", score.get("per_extra_peer_fraction", 0.0)
        ),
        max_extra_fraction=number(
            "score", "max_extra_fraction", score.get("max_extra_fraction", 0.0)
        ),
        bands=tuple(bands),
        medical_categories=frozenset(medical),
        findings=findings,
    )
