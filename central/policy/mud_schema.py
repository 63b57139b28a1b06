"""A check of MUD files against the structure RFC 8520 and RFC 8519 define.

Written from the RFCs' YANG modules (ietf-mud, ietf-acldns, ietf-access-control-list,
ietf-packet-fields) in their JSON encoding (RFC 7951), for the subset of nodes a MUD
file uses: every member must be a node the modules define at that place, mandatory
leaves present, values of the leaf's type and range, list keys unique, and every
`access-list` name a leafref to an ACL in the same file. The modules themselves are not
shipped (see docs/RISK.md), so this is the check the tests and `export` run.

    problems = mud_problems(document)     # [] when valid, else "path: what is wrong"
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import Any

Check = Callable[[Any], str | None]

_DATE_AND_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})")
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:[^\s]+")
_HOST = re.compile(
    r"(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.?"
)


def _uint(bits: int, low: int = 0, high: int | None = None) -> Check:
    top = (1 << bits) - 1 if high is None else high

    def check(value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= top:
            return f"must be an integer {low}..{top}"
        return None

    return check


def _string(value: Any) -> str | None:
    return None if isinstance(value, str) else "must be a string"


def _boolean(value: Any) -> str | None:
    return None if isinstance(value, bool) else "must be true or false"


def _empty(value: Any) -> str | None:
    return None if value == [None] else "type empty is encoded as [null]"


def _uri(value: Any) -> str | None:
    return None if isinstance(value, str) and _URI.fullmatch(value) else "must be a URI"


def _host(value: Any) -> str | None:
    return None if isinstance(value, str) and _HOST.fullmatch(value) else "must be a host name"


def _date_and_time(value: Any) -> str | None:
    ok = isinstance(value, str) and _DATE_AND_TIME.fullmatch(value)
    return None if ok else "must be a yang:date-and-time such as 2026-01-10T12:00:00Z"


def _enum(*names: str) -> Check:
    def check(value: Any) -> str | None:
        return None if value in names else f"must be one of {', '.join(names)}"

    return check


def _prefix(version: int) -> Check:
    def check(value: Any) -> str | None:
        try:
            network = ipaddress.ip_network(value, strict=False)
        except (ValueError, TypeError):
            return f"must be an IPv{version} prefix such as 10.0.0.0/8"
        return None if network.version == version and "/" in value else f"must be IPv{version}"

    return check


_PORT_OPERATOR = {
    "operator": _enum("lte", "gte", "eq", "neq"),
    "port": _uint(16),
    "lower-port": _uint(16),
    "upper-port": _uint(16),
}


def _ip_matches(version: int) -> dict[str, Any]:
    ip = f"ipv{version}"
    nodes: dict[str, Any] = {
        "dscp": _uint(6),
        "ecn": _uint(2),
        "length": _uint(16),
        "ttl": _uint(8),
        "protocol": _uint(8),
        f"destination-{ip}-network": _prefix(version),
        f"source-{ip}-network": _prefix(version),
        "ietf-acldns:src-dnsname": _host,
        "ietf-acldns:dst-dnsname": _host,
    }
    if version == 4:
        nodes.update(
            {"ihl": _uint(4), "flags": _string, "offset": _uint(13), "identification": _uint(16)}
        )
    else:
        nodes["flow-label"] = _uint(20)
    return nodes


_MATCHES = {
    "ipv4": _ip_matches(4),
    "ipv6": _ip_matches(6),
    "tcp": {
        "source-port": _PORT_OPERATOR,
        "destination-port": _PORT_OPERATOR,
        "flags": _string,
        "ietf-mud:direction-initiated": _enum("to-device", "from-device"),
    },
    "udp": {"source-port": _PORT_OPERATOR, "destination-port": _PORT_OPERATOR, "length": _uint(16)},
    "icmp": {"type": _uint(8), "code": _uint(8), "rest-of-header": _string},
    "ietf-mud:mud": {
        "manufacturer": _host,
        "same-manufacturer": _empty,
        "model": _uri,
        "local-networks": _empty,
        "controller": _uri,
        "my-controller": _empty,
    },
}

_ACCESS_LISTS = {"access-lists": {"access-list": ("list", "name", {"name": _string})}}

_MUD = {
    "mud-version": _uint(8),
    "mud-url": _uri,
    "last-update": _date_and_time,
    "mud-signature": _uri,
    "cache-validity": _uint(8, 1, 168),
    "is-supported": _boolean,
    "systeminfo": _string,
    "mfg-name": _string,
    "model-name": _string,
    "firmware-rev": _string,
    "software-rev": _string,
    "documentation": _uri,
    "extensions": ("leaf-list", _string),
    "from-device-policy": _ACCESS_LISTS,
    "to-device-policy": _ACCESS_LISTS,
}
_MUD_MANDATORY = ("mud-version", "mud-url", "last-update", "is-supported")

_ACE = {
    "name": _string,
    "matches": _MATCHES,
    "actions": {"forwarding": _enum("accept", "drop", "reject"), "logging": _string},
}
_ACL = {
    "name": _string,
    "type": _enum(
        "ipv4-acl-type",
        "ipv6-acl-type",
        "eth-acl-type",
        "mixed-eth-ipv4-acl-type",
        "mixed-eth-ipv6-acl-type",
        "mixed-eth-ipv4-ipv6-acl-type",
    ),
    "aces": {"ace": ("list", "name", _ACE)},
}
_DOCUMENT = {
    "ietf-mud:mud": _MUD,
    "ietf-access-control-list:acls": {"acl": ("list", "name", _ACL)},
}


def mud_problems(document: Any) -> list[str]:
    """What is wrong with `document` as a MUD file, one "path: problem" per line."""
    problems: list[str] = []
    _walk(document, _DOCUMENT, "", problems)
    if not problems:
        _semantics(document, problems)
    return problems


def _walk(value: Any, spec: Any, path: str, problems: list[str]) -> None:
    if callable(spec):
        message = spec(value)
        if message:
            problems.append(f"{path}: {message}")
        return
    if isinstance(spec, tuple) and spec[0] == "leaf-list":
        if not isinstance(value, list):
            problems.append(f"{path}: a leaf-list is a JSON array")
            return
        for index, item in enumerate(value):
            _walk(item, spec[1], f"{path}[{index}]", problems)
        return
    if isinstance(spec, tuple) and spec[0] == "list":
        _, key, entry_spec = spec
        if not isinstance(value, list):
            problems.append(f"{path}: a list is a JSON array")
            return
        keys = set()
        for index, item in enumerate(value):
            where = f"{path}[{index}]"
            if not isinstance(item, dict) or key not in item:
                problems.append(f"{where}: list entry needs its key {key!r}")
                continue
            if item[key] in keys:
                problems.append(f"{where}: duplicate key {item[key]!r}")
            keys.add(item[key])
            _walk(item, entry_spec, where, problems)
        return
    if not isinstance(value, dict):
        problems.append(f"{path}: a container is a JSON object")
        return
    for name, item in value.items():
        if name not in spec:
            problems.append(f"{path}/{name}: not a node of the MUD/ACL modules here")
            continue
        _walk(item, spec[name], f"{path}/{name}", problems)


def _semantics(document: dict, problems: list[str]) -> None:
    mud = document.get("ietf-mud:mud")
    if mud is None:
        problems.append("/ietf-mud:mud: missing")
        return
    for leaf in _MUD_MANDATORY:
        if leaf not in mud:
            problems.append(f"/ietf-mud:mud/{leaf}: mandatory leaf missing")
    acls = document.get("ietf-access-control-list:acls", {}).get("acl", [])
    names = {acl["name"] for acl in acls}
    for policy in ("from-device-policy", "to-device-policy"):
        entries = mud.get(policy, {}).get("access-lists", {}).get("access-list", [])
        for entry in entries:
            if entry["name"] not in names:
                problems.append(
                    f"/ietf-mud:mud/{policy}: access-list {entry['name']!r} names no ACL (leafref)"
                )
    for acl in acls:
        family = {"ipv4-acl-type": "ipv6", "ipv6-acl-type": "ipv4"}.get(acl.get("type", ""))
        for ace in acl.get("aces", {}).get("ace", []):
            matches = ace.get("matches", {})
            if family and family in matches:
                problems.append(
                    f"acl {acl['name']!r} ace {ace['name']!r}: {family} match in a {acl['type']}"
                )
            if "ipv4" in matches and "ipv6" in matches:
                problems.append(
                    f"acl {acl['name']!r} ace {ace['name']!r}: ipv4 and ipv6 are one choice"
                )
            if sum(l4 in matches for l4 in ("tcp", "udp", "icmp")) > 1:
                problems.append(
                    f"acl {acl['name']!r} ace {ace['name']!r}: tcp/udp/icmp are one choice"
                )
