"""The classification rules: loaded from TOML data files (the shipped one, then a
site's), every mistake reported at once with file and key.

    ruleset = load_ruleset([Path("/etc/iomt-central/rules.d/site.toml")])
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

SHIPPED_RULES = "default.toml"
CONDITIONS = ("fingerprint", "oui", "service", "protocol", "mac", "behaviour")
RULE_KEYS = {
    "id", "description", "fingerprint", "pattern", "oui", "service", "protocol", "mac",
    "behaviour", "at_least", "with_service", "without_service", "with_protocol",
    "without_protocol", "category", "confidence", "vendor", "model", "modality_from",
    "routes",
}  # fmt: skip
TOP_KEYS = {"minimum_confidence", "categories", "criticality", "phi", "routing", "rule"}
ROUTING_KEYS = {"minimum_confidence", "own_kinds"}
# What the inventory measures of a device's behaviour (central.inventory.store._facts).
BEHAVIOURS = ("ipv4_addresses", "ipv4_subnets", "public_addresses", "peers")


class RulesError(Exception):
    """A rules file is unreadable or wrong; `problems` holds one line per mistake."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass(frozen=True)
class Rule:
    id: str
    source: str  # file it came from, for evidence and errors
    category: str
    confidence: float
    fingerprint: str | None = None
    pattern: re.Pattern[str] | None = None
    oui: re.Pattern[str] | None = None
    service: str | None = None
    protocol: str | None = None
    mac: re.Pattern[str] | None = None
    behaviour: str | None = None
    at_least: float = 1.0
    routes: bool = False  # its vote says the device forwards for hosts behind it
    with_service: frozenset[str] = frozenset()
    without_service: frozenset[str] = frozenset()
    with_protocol: frozenset[str] = frozenset()
    without_protocol: frozenset[str] = frozenset()
    vendor: str | None = None
    model: str | None = None
    modality_from: str | None = None
    description: str = ""


@dataclass
class RuleSet:
    rules: list[Rule] = field(default_factory=list)
    minimum_confidence: float = 0.3
    categories: tuple[str, ...] = ()
    criticality: dict[str, str] = field(default_factory=dict)
    phi_protocols: dict[str, str] = field(default_factory=dict)
    phi_services: dict[str, str] = field(default_factory=dict)
    # A device whose `routes` votes reach this confidence is a router: only votes of the
    # kinds in routing_own_kinds describe it (the rest it carries for the hosts behind it).
    routing_minimum_confidence: float = 0.8
    routing_own_kinds: frozenset[str] = frozenset()


def shipped_rules_text() -> str:
    return resources.files("central.classify").joinpath("rules", SHIPPED_RULES).read_text()


def load_ruleset(site_files: list[Path] | None = None) -> RuleSet:
    """The shipped rules, then each site file in order (same id: replaced; else added;
    a site file's [criticality] and [phi.*] entries extend or replace the shipped ones).

    Raises RulesError naming file and key for every problem found in any file."""
    problems: list[str] = []
    ruleset = RuleSet()
    _merge(ruleset, "central/classify/rules/default.toml", shipped_rules_text(), problems, True)
    for path in site_files or []:
        try:
            text = path.read_text()
        except OSError as exc:
            problems.append(f"{path}: cannot read the rules file: {exc.strerror or exc}")
            continue
        _merge(ruleset, str(path), text, problems, False)
    if problems:
        raise RulesError(problems)
    return ruleset


def _merge(ruleset: RuleSet, source: str, text: str, problems: list[str], shipped: bool) -> None:
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        problems.append(f"{source}: not valid TOML: {exc}")
        return
    for key in sorted(set(document) - TOP_KEYS):
        problems.append(f"{source}: {key}: unknown key{_did_you_mean(key, TOP_KEYS)}")
    if "categories" in document:
        if not shipped:
            problems.append(f"{source}: categories: only the shipped rules set the categories")
        else:
            ruleset.categories = tuple(document["categories"])
    if "minimum_confidence" in document:
        value = document["minimum_confidence"]
        if not isinstance(value, int | float) or not 0 < value <= 1:
            problems.append(f"{source}: minimum_confidence: must be a number in (0, 1]")
        else:
            ruleset.minimum_confidence = float(value)
    for category, level in document.get("criticality", {}).items():
        if category not in ruleset.categories:
            problems.append(
                f"{source}: criticality.{category}: not a category"
                f"{_did_you_mean(category, ruleset.categories)}"
            )
        ruleset.criticality[category] = level
    phi = document.get("phi", {})
    for key in sorted(set(phi) - {"protocols", "services"}):
        problems.append(f"{source}: phi.{key}: unknown key (phi.protocols or phi.services)")
    ruleset.phi_protocols.update(phi.get("protocols", {}))
    ruleset.phi_services.update(phi.get("services", {}))
    routing = document.get("routing", {})
    for key in sorted(set(routing) - ROUTING_KEYS):
        problems.append(f"{source}: routing.{key}: unknown key{_did_you_mean(key, ROUTING_KEYS)}")
    if "minimum_confidence" in routing:
        value = routing["minimum_confidence"]
        if not isinstance(value, int | float) or not 0 < value <= 1:
            problems.append(f"{source}: routing.minimum_confidence: must be a number in (0, 1]")
        else:
            ruleset.routing_minimum_confidence = float(value)
    if "own_kinds" in routing:
        kinds = routing["own_kinds"]
        if not isinstance(kinds, list) or not all(isinstance(k, str) for k in kinds):
            problems.append(f"{source}: routing.own_kinds: must be a list of kinds")
        else:
            ruleset.routing_own_kinds = frozenset(kinds)
    rules = document.get("rule", [])
    if not isinstance(rules, list):
        problems.append(f"{source}: rule: must be an array of tables ([[rule]])")
        return
    by_id = {rule.id: index for index, rule in enumerate(ruleset.rules)}
    for number, table in enumerate(rules, 1):
        rule = _rule(source, number, table, ruleset.categories, problems)
        if rule is None:
            continue
        if rule.id in by_id:
            ruleset.rules[by_id[rule.id]] = rule
        else:
            by_id[rule.id] = len(ruleset.rules)
            ruleset.rules.append(rule)


def _rule(
    source: str,
    number: int,
    table: dict[str, Any],
    categories: tuple[str, ...],
    problems: list[str],
) -> Rule | None:
    where = f"{source}: rule #{number} ({table.get('id', 'no id')})"
    before = len(problems)
    for key in sorted(set(table) - RULE_KEYS):
        problems.append(f"{where}: {key}: unknown key{_did_you_mean(key, RULE_KEYS)}")
    if not isinstance(table.get("id"), str) or not table.get("id"):
        problems.append(f"{where}: id: required (a short unique name)")
    conditions = [key for key in CONDITIONS if key in table]
    if len(conditions) != 1:
        problems.append(f"{where}: needs exactly one of {', '.join(CONDITIONS)} (has {conditions})")
    if "fingerprint" in table and "pattern" not in table:
        problems.append(f"{where}: pattern: required with fingerprint (a regular expression)")
    category = str(table.get("category"))
    if category not in categories:
        hint = _did_you_mean(category, categories)
        problems.append(f"{where}: category: {category!r} is not a category{hint}")
    confidence = table.get("confidence")
    if not isinstance(confidence, int | float) or not 0.05 <= confidence <= 1:
        problems.append(f"{where}: confidence: must be a number from 0.05 to 1.0")
        confidence = 0.0
    behaviour = table.get("behaviour")
    if behaviour is not None and behaviour not in BEHAVIOURS:
        problems.append(
            f"{where}: behaviour: {behaviour!r} is not measured "
            f"(one of {', '.join(BEHAVIOURS)}){_did_you_mean(str(behaviour), BEHAVIOURS)}"
        )
    at_least = table.get("at_least", 1)
    if not isinstance(at_least, int | float) or at_least < 0:
        problems.append(f"{where}: at_least: must be a number, 0 or more")
        at_least = 1
    if "at_least" in table and behaviour is None:
        problems.append(f"{where}: at_least: only with behaviour")
    if not isinstance(table.get("routes", False), bool):
        problems.append(f"{where}: routes: true or false")
    patterns: dict[str, re.Pattern[str] | None] = {}
    for key in ("pattern", "oui", "mac"):
        try:
            patterns[key] = re.compile(table[key]) if key in table else None
        except (re.error, TypeError) as exc:
            problems.append(f"{where}: {key}: not a valid regular expression: {exc}")
    if len(problems) > before:
        return None
    return Rule(
        id=table["id"],
        source=source,
        category=category,
        confidence=float(confidence),
        fingerprint=table.get("fingerprint"),
        pattern=patterns.get("pattern"),
        oui=patterns.get("oui"),
        service=table.get("service"),
        protocol=table.get("protocol"),
        mac=patterns.get("mac"),
        behaviour=behaviour,
        at_least=float(at_least),
        routes=bool(table.get("routes", False)),
        with_service=frozenset(table.get("with_service", ())),
        without_service=frozenset(table.get("without_service", ())),
        with_protocol=frozenset(table.get("with_protocol", ())),
        without_protocol=frozenset(table.get("without_protocol", ())),
        vendor=table.get("vendor"),
        model=table.get("model"),
        modality_from=table.get("modality_from"),
        description=table.get("description", ""),
    )


def _did_you_mean(word: str, candidates: Any) -> str:
    import difflib

    close = difflib.get_close_matches(word, list(candidates), n=1)
    return f"; did you mean {close[0]}?" if close else ""
