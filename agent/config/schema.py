"""Every configuration key the agent knows: its type, default, range, and how to check one value.

This table is the single source of truth. `config/agent.toml` documents exactly these keys
(a test holds the two together), the loader rejects everything else, and the dataclasses in
`agent.config.model` carry exactly these fields.

Checks here look at one value alone (type, range, shape). Checks that need several keys or
the host (files, interfaces, the spool directory) live in `agent.config.rules` and
`agent.config.host`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()

# One value's extra check: returns what is wrong and what would be right, or None.
ValueCheck = Callable[[Any], str | None]


@dataclass(frozen=True, slots=True)
class Option:
    """One key: `kind` is str, int, number, bool, size, path, choice, str_list."""

    section: str
    name: str
    kind: str
    default: Any = REQUIRED
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    example: str = ""  # the right-hand side of a correct line, for hints
    check: ValueCheck | None = None

    @property
    def dotted(self) -> str:
        return f"{self.section}.{self.name}"

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def _topic_level(value: str) -> str | None:
    # These become MQTT topic levels: '/', '+', '#' would change which topic is meant.
    if _NAME_RE.fullmatch(value):
        return None
    return (
        f"\"{value}\" cannot be used in a topic; use 1 to 64 letters, digits, '.', '_' or '-', "
        "starting with a letter or digit"
    )


def _topic_prefix(value: str) -> str | None:
    levels = value.split("/")
    if all(_NAME_RE.fullmatch(level) for level in levels):
        return None
    return (
        f"\"{value}\" is not a valid topic prefix; use levels of letters, digits, '.', '_' "
        "or '-' separated by '/', with no leading or trailing '/' and no '+' or '#'"
    )


_IFNAME_RE = re.compile(r"[^\s/:]{1,15}")


def _interface_names(value: list[str]) -> str | None:
    if not value:
        return 'the list is empty; name at least one capture interface, e.g. ["eth1"]'
    for name in value:
        if not _IFNAME_RE.fullmatch(name):
            return (
                f'"{name}" is not an interface name; Linux names are 1 to 15 characters '
                "without spaces, '/' or ':'"
            )
    duplicates = sorted({name for name in value if value.count(name) > 1})
    if duplicates:
        return f"{', '.join(duplicates)} listed twice; name each interface once"
    if len(value) > 8:
        return f"{len(value)} interfaces listed; at most 8 are supported"
    return None


def _optional_interface_names(value: list[str]) -> str | None:
    return _interface_names(value) if value else None


def _no_newline(value: str) -> str | None:
    if "\n" in value or "\r" in value:
        return "contains a line break; write the filter on one line"
    return None


def _username(value: str) -> str | None:
    if len(value.encode()) > 256:
        return "is longer than 256 bytes; use a shorter user name"
    return None


OPTIONS: tuple[Option, ...] = (
    # [sensor]: who this box is; these three name every topic it publishes on.
    Option("sensor", "id", "str", example='"wing4b-01"', check=_topic_level),
    Option("sensor", "site", "str", example='"st-mary"', check=_topic_level),
    Option("sensor", "wing", "str", example='"4b"', check=_topic_level),
    # [capture]: where packets come from.
    Option("capture", "interfaces", "str_list", example='["eth1"]', check=_interface_names),
    Option(
        "capture",
        "optional_interfaces",
        "str_list",
        [],
        example='["eth2"]',
        check=_optional_interface_names,
    ),
    Option("capture", "allow_management_interfaces", "bool", False),
    Option("capture", "snaplen", "int", 1900, 128, 262144),
    Option("capture", "promiscuous", "bool", True),
    Option("capture", "buffer_bytes", "size", 8 * MIB, 1 * MIB, 256 * MIB),
    Option("capture", "bpf_filter", "str", "", example='"not port 22"', check=_no_newline),
    # [flows]: the flow table and when a flow's record is emitted.
    Option("flows", "max_flows", "int", 65536, 1024, 4194304),
    Option("flows", "tcp_idle_timeout_s", "number", 300, 1, 86400),
    Option("flows", "tcp_syn_idle_timeout_s", "number", 30, 1, 86400),
    Option("flows", "udp_idle_timeout_s", "number", 60, 1, 86400),
    Option("flows", "icmp_idle_timeout_s", "number", 60, 1, 86400),
    Option("flows", "other_idle_timeout_s", "number", 60, 1, 86400),
    Option("flows", "tcp_linger_s", "number", 5, 0, 300),
    Option("flows", "active_timeout_s", "number", 300, 10, 3600),
    # [batch]: how finished records are grouped into messages.
    Option("batch", "window_s", "number", 10, 1, 3600),
    Option("batch", "max_records", "int", 1000, 1, 100000),
    # [mqtt]: the broker connection.
    Option("mqtt", "url", "str", example='"mqtts://broker.example:8883"'),
    Option("mqtt", "failover_urls", "str_list", [], example='["mqtts://broker2.example:8883"]'),
    Option("mqtt", "topic_prefix", "str", "iomt", example='"iomt"', check=_topic_prefix),
    Option("mqtt", "ca_file", "path", "", example='"/etc/iomt-agent/ca.pem"'),
    Option("mqtt", "cert_file", "path", "", example='"/etc/iomt-agent/client.pem"'),
    Option("mqtt", "key_file", "path", "", example='"/etc/iomt-agent/client.key"'),
    Option("mqtt", "username", "str", "", example='"sensor-4b"', check=_username),
    Option("mqtt", "password_file", "path", "", example='"/etc/iomt-agent/mqtt.password"'),
    Option("mqtt", "protocol", "choice", "5", choices=("5", "3.1.1")),
    Option("mqtt", "keepalive_s", "int", 60, 5, 65535),
    Option("mqtt", "message_expiry_s", "int", 0, 0, 4294967295),
    # [signing]: the Ed25519 key every message is signed with.
    Option("signing", "key", "path", example='"/etc/iomt-agent/sensor.key"'),
    # [spool]: the bounded on-disk queue between signing and publishing.
    Option("spool", "dir", "path", "/var/lib/iomt-agent/spool"),
    Option("spool", "max_bytes", "size", 256 * MIB, 1 * MIB, 1024 * GIB),
    Option("spool", "fsync_interval_s", "number", 1, 0, 60),
    Option("spool", "on_full", "choice", "drop_oldest", choices=("drop_oldest", "drop_newest")),
    # [health]
    Option("health", "interval_s", "number", 60, 5, 3600),
    # [logging]
    Option("logging", "level", "choice", "info", choices=("debug", "info", "warning", "error")),
    # [privacy]
    Option(
        "privacy",
        "hostname_hash_secret_file",
        "path",
        "",
        example='"/etc/iomt-agent/site.secret"',
    ),
    Option("privacy", "hostnames", "choice", "hash", choices=("hash", "clear", "drop")),
    Option("privacy", "tls_sni", "choice", "clear", choices=("clear", "hash", "drop")),
    Option("privacy", "http_user_agent", "choice", "clear", choices=("clear", "hash", "drop")),
    # [devices]
    Option("devices", "max_devices", "int", 4096, 0, 1048576),
    Option("devices", "snapshot_interval_s", "number", 3600, 60, 86400),
)

SECTIONS: tuple[str, ...] = tuple(dict.fromkeys(option.section for option in OPTIONS))
BY_SECTION: dict[str, dict[str, Option]] = {
    section: {o.name: o for o in OPTIONS if o.section == section} for section in SECTIONS
}

# Keys people will try that the agent deliberately does not offer, with the reason.
NOT_CONFIGURABLE: dict[tuple[str, str], str] = {
    ("mqtt", "qos"): "QoS is fixed at 1 (at least once, with the spool behind it); remove this key",
    ("mqtt", "password"): (
        "passwords are not written into the configuration; put it in a file readable only "
        "by the agent and set password_file"
    ),
}

_KIND_WORDS = {
    "str": "a string in quotes",
    "path": "a file path in quotes",
    "choice": "a string in quotes",
    "int": "a whole number",
    "number": "a number",
    "bool": "true or false",
    "size": 'a size in bytes (a whole number, or a string such as "256 MiB")',
    "str_list": "a list of strings",
}

_SIZE_RE = re.compile(r"\s*(\d+)\s*([KMGT]i?B?|B)?\s*", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "B": 1, "K": KIB, "M": MIB, "G": GIB, "T": 1024 * GIB}


def parse_size(text: str) -> int | None:
    """'256 MiB', '1G', '512KiB', '1000' -> bytes (binary units); None when not a size."""
    match = _SIZE_RE.fullmatch(text)
    if not match:
        return None
    unit = (match.group(2) or "").upper()[:1]
    return int(match.group(1)) * _SIZE_UNITS[unit]


def describe(value: Any) -> str:
    """How a TOML value reads in an error message: 'the string "x"', 'true', 'a list'."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'the string "{value}"'
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a table"
    return f"a {type(value).__name__}"


def format_value(option: Option, value: Any) -> str:
    """`value` written the way it belongs in the TOML file (used in hints and the docs test)."""
    if option.example and (option.required or value in ("", [])):
        return option.example
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | Path):
        return f'"{value}"'
    if isinstance(value, list):
        return "[" + ", ".join(f'"{item}"' for item in value) + "]"
    return str(value)


def _range_text(option: Option) -> str:
    low, high = option.minimum, option.maximum
    return f"use a value from {_number(low)} to {_number(high)}"


def _number(value: float | None) -> str:
    if value is None:
        return "?"
    return str(int(value)) if float(value).is_integer() else str(value)


def check_value(option: Option, raw: Any, base_dir: Path) -> tuple[Any, str | None]:
    """Check one raw TOML value against its option.

    Returns (value, None) with the value converted (sizes to int, paths resolved against
    `base_dir`, the directory of the file that set it), or (None, problem) where problem
    says what is wrong and what would be right, without the file and key prefix.
    """
    hint = f"write {option.name} = {format_value(option, option.default)}"
    wrong_type = f"expected {_KIND_WORDS[option.kind]}, got {describe(raw)}; {hint}"
    kind = option.kind
    value: Any
    if kind in ("str", "path", "choice"):
        if not isinstance(raw, str):
            return None, wrong_type
        value = raw
    elif kind == "bool":
        if not isinstance(raw, bool):
            return None, wrong_type
        value = raw
    elif kind == "int":
        if isinstance(raw, bool) or not isinstance(raw, int):
            return None, wrong_type
        value = raw
    elif kind == "number":
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            return None, wrong_type
        value = float(raw)
    elif kind == "size":
        if isinstance(raw, str) and parse_size(raw) is not None:
            value = parse_size(raw)
        elif isinstance(raw, int) and not isinstance(raw, bool):
            value = raw
        else:
            return None, wrong_type
    elif kind == "str_list":
        if not isinstance(raw, list) or not all(isinstance(item, str) for item in raw):
            return None, wrong_type
        value = list(raw)
    else:  # pragma: no cover - a schema mistake, caught by the schema test
        raise ValueError(f"unknown kind {kind!r} for {option.dotted}")

    low, high = option.minimum, option.maximum
    if low is not None and high is not None and not low <= value <= high:
        return None, f"{_number(value)} is out of range; {_range_text(option)}"
    if option.choices and value not in option.choices:
        allowed = ", ".join(f'"{choice}"' for choice in option.choices)
        return None, f'"{value}" is not allowed; use one of {allowed}'
    if option.check is not None:
        problem = option.check(value)
        if problem:
            return None, problem
    if kind == "path":
        if value == "":
            # An empty path means "not set" (so an agent.d file can switch a file off).
            return None, (f"is empty; {hint}" if option.required else None)
        if "\n" in value:
            return None, f"contains a line break; {hint}"
        # Relative paths are relative to the file that names them, not to the cwd.
        return Path(os.path.normpath(base_dir / value)), None
    return value, None
