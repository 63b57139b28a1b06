"""Read and check `[zones]` and `[policy]` of central.toml: every problem at once.

    [zones.pumps-4b]                 # one table per zone; the name is used in rules
    medical = true                   # deny the internet unless a rule allows it
    wings = ["4b"]                   # selectors: sites, wings, vlans, cidrs, categories
    categories = ["infusion_pump"]

    [policy]
    default_action = "allow"         # flows touching a zone that no rule matches
    allow_learned = false            # also allow what the learned baseline saw between zones
    mud_url_base = "https://mud.hospital.example/iomt"   # where the MUD files are served

    [[policy.rules]]
    name = "pumps to the HL7 engine"
    from = "pumps-4b"                # a zone, or "any"
    to = "clinical-servers"          # a zone, "internet" or "any"
    to_cidrs = ["10.10.0.0/24"]      # and/or destination networks
    to_server = "*.vendor.example"   # and/or a server-name pattern (TLS SNI, HTTP Host, DNS)
    services = ["hl7", "tcp/2575"]   # labels or proto/port[-high]; none = any service
    action = "allow"                 # or "deny"

Problems name the file and the key (`zones.pumps-4b.cidrs`, `policy.rules[2].to`).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from agent.config.problems import Problems
from central.inventory.queries import CATEGORIES  # the inventory owns the category names
from central.policy.mud import DEFAULT_MUD_URL_BASE
from central.policy.rules import ALLOW, DENY, Policy, Rule
from central.policy.services import ServiceSpec, parse_service
from central.policy.zones import (
    ANY,
    INTERNET,
    RESERVED_ZONE_NAMES,
    Network,
    Zone,
    ZoneMap,
    overlapping,
)

ZONE_KEYS = ("medical", "description", "sites", "wings", "vlans", "cidrs", "categories")
POLICY_KEYS = ("default_action", "allow_learned", "mud_url_base", "rules")
RULE_KEYS = ("name", "from", "to", "to_cidrs", "to_server", "services", "action")
_ZONE_NAME_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,30}")
# A DNS name pattern: labels of letters, digits and '-', '*' as a whole leftmost label
# or inside a label ("pump-*.vendor.example").
_SERVER_RE = re.compile(
    r"(\*|[a-z0-9*]([a-z0-9*-]{0,61}[a-z0-9*])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+"
)


def parse_containment(raw: Mapping[str, Any], path: Path, problems: Problems) -> Policy:
    """The policy (with its zones) from a config's top-level table.

    Missing sections give an empty policy (nothing zoned, everything allowed). Problems
    are added to `problems`; what is wrong is left out of the result.
    """
    zones = _parse_zones(raw.get("zones", {}), path, problems)
    zone_map = ZoneMap(zones)
    section = raw.get("policy", {})
    if not isinstance(section, Mapping):
        problems.error(path, "[policy]", "must be a table")
        return Policy(zone_map)
    for key in section:
        if key not in POLICY_KEYS:
            problems.error(path, f"policy.{key}", f"unknown key; known: {', '.join(POLICY_KEYS)}")
    default_action = section.get("default_action", ALLOW)
    if default_action not in (ALLOW, DENY):
        problems.error(path, "policy.default_action", f'{default_action!r}: use "allow" or "deny"')
        default_action = ALLOW
    allow_learned = section.get("allow_learned", False)
    if not isinstance(allow_learned, bool):
        problems.error(path, "policy.allow_learned", "must be true or false")
        allow_learned = False
    mud_url_base = section.get("mud_url_base", DEFAULT_MUD_URL_BASE)
    if not isinstance(mud_url_base, str) or not re.fullmatch(
        r"https://[^\s/]+(/[^\s]*)?", mud_url_base
    ):
        problems.error(
            path,
            "policy.mud_url_base",
            f"{mud_url_base!r}: an https:// URL (RFC 8520 MUD URLs use https)",
        )
        mud_url_base = DEFAULT_MUD_URL_BASE
    rules_raw = section.get("rules", [])
    if not isinstance(rules_raw, list):
        problems.error(path, "policy.rules", "must be an array of tables ([[policy.rules]])")
        rules_raw = []
    known = {zone.name for zone in zones} | {INTERNET, ANY}
    rules = []
    for index, item in enumerate(rules_raw):
        rule = _parse_rule(item, f"policy.rules[{index}]", known, path, problems)
        if rule is not None:
            rules.append(rule)
    return Policy(zone_map, tuple(rules), default_action, allow_learned, mud_url_base)


def _parse_zones(section: Any, path: Path, problems: Problems) -> list[Zone]:
    if not isinstance(section, Mapping):
        problems.error(path, "[zones]", "must be a table of zones ([zones.NAME])")
        return []
    zones = []
    for name, table in section.items():
        key = f"zones.{name}"
        if name in RESERVED_ZONE_NAMES:
            problems.error(path, key, f"{name!r} is reserved; choose another zone name")
            continue
        if not _ZONE_NAME_RE.fullmatch(name):
            problems.error(
                path,
                key,
                "a zone name is 1-31 lowercase letters, digits, '_' or '-' "
                "(it becomes an nftables set name)",
            )
            continue
        if not isinstance(table, Mapping):
            problems.error(path, key, "must be a table")
            continue
        zone = _parse_zone(name, table, key, path, problems)
        if zone is not None:
            zones.append(zone)
    for zone_a, net_a, zone_b, net_b in overlapping(zones):
        problems.error(
            path,
            f"zones.{zone_b.name}.cidrs",
            f"{net_b} overlaps {net_a} of zones.{zone_a.name}; a network belongs to one zone",
        )
    return zones


def _parse_zone(
    name: str, table: Mapping[str, Any], key: str, path: Path, problems: Problems
) -> Zone | None:
    before = len(problems.errors)
    for extra in table:
        if extra not in ZONE_KEYS:
            problems.error(path, f"{key}.{extra}", f"unknown key; known: {', '.join(ZONE_KEYS)}")
    medical = table.get("medical", False)
    if not isinstance(medical, bool):
        problems.error(path, f"{key}.medical", "must be true or false")
    description = table.get("description", "")
    if not isinstance(description, str):
        problems.error(path, f"{key}.description", "must be a string")
    sites = _strings(table, "sites", key, path, problems)
    wings = _strings(table, "wings", key, path, problems)
    categories = _strings(table, "categories", key, path, problems)
    for category in categories:
        if category not in CATEGORIES:
            problems.error(
                path,
                f"{key}.categories",
                f"unknown category {category!r}; known: {', '.join(CATEGORIES)}",
            )
    vlans = table.get("vlans", [])
    if not isinstance(vlans, list) or not all(
        isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 4095 for v in vlans
    ):
        problems.error(path, f"{key}.vlans", "must be a list of VLAN ids 0-4095, e.g. [20, 21]")
        vlans = []
    cidrs = _networks(table.get("cidrs", []), f"{key}.cidrs", path, problems)
    if not (wings or vlans or cidrs or categories):
        problems.error(
            path, key, "selects nothing; give at least one of wings, vlans, cidrs, categories"
        )
    if len(problems.errors) > before:
        return None
    return Zone(
        name=name,
        medical=medical,
        sites=tuple(sites),
        wings=tuple(wings),
        vlans=tuple(vlans),
        cidrs=tuple(cidrs),
        categories=tuple(categories),
        description=description,
    )


def _parse_rule(
    item: Any, key: str, known_zones: set[str], path: Path, problems: Problems
) -> Rule | None:
    if not isinstance(item, Mapping):
        problems.error(path, key, "must be a table")
        return None
    before = len(problems.errors)
    for extra in item:
        if extra not in RULE_KEYS:
            problems.error(path, f"{key}.{extra}", f"unknown key; known: {', '.join(RULE_KEYS)}")
    name = item.get("name", key)
    if not isinstance(name, str) or not name:
        problems.error(path, f"{key}.name", "must be a non-empty string")
    ends = {}
    for end in ("from", "to"):
        value = item.get(end, ANY)
        if not isinstance(value, str) or value not in known_zones:
            problems.error(
                path,
                f"{key}.{end}",
                f"unknown zone {value!r}; zones are: {', '.join(sorted(known_zones))}",
            )
        ends[end] = value
    action = item.get("action")
    if action not in (ALLOW, DENY):
        problems.error(path, f"{key}.action", f'{action!r}: use "allow" or "deny"')
    to_cidrs = _networks(item.get("to_cidrs", []), f"{key}.to_cidrs", path, problems)
    to_server = item.get("to_server")
    if to_server is not None and (
        not isinstance(to_server, str) or not _SERVER_RE.fullmatch(to_server.lower())
    ):
        problems.error(
            path,
            f"{key}.to_server",
            f"{to_server!r} is not a server-name pattern; use DNS labels with '*' "
            'as a wildcard, e.g. "*.vendor.example"',
        )
    services: list[ServiceSpec] = []
    raw_services = item.get("services", [])
    if not isinstance(raw_services, list):
        problems.error(path, f"{key}.services", 'must be a list, e.g. ["hl7", "tcp/2575"]')
        raw_services = []
    for text in raw_services:
        try:
            services.append(parse_service(text))
        except ValueError as exc:
            problems.error(path, f"{key}.services", str(exc))
    if len(problems.errors) > before:
        return None
    return Rule(
        name=name,
        action=str(action),
        source=ends["from"],
        destination=ends["to"],
        to_cidrs=tuple(to_cidrs),
        to_server=to_server.lower() if to_server else None,
        services=tuple(services),
    )


def _strings(
    table: Mapping[str, Any], name: str, key: str, path: Path, problems: Problems
) -> list[str]:
    value = table.get(name, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        problems.error(path, f"{key}.{name}", 'must be a list of strings, e.g. ["4b"]')
        return []
    return value


def _networks(value: Any, key: str, path: Path, problems: Problems) -> list[Network]:
    if not isinstance(value, list):
        problems.error(path, key, 'must be a list of networks, e.g. ["10.20.0.0/24"]')
        return []
    networks = []
    for text in value:
        try:
            networks.append(ipaddress.ip_network(text, strict=True))
        except (ValueError, TypeError) as exc:
            problems.error(path, key, f"{text!r} is not a network: {exc}")
    return networks
