"""Every key of central.toml: section, name, kind, default, and a one-line meaning.

The single source of truth: config/central.toml documents exactly these keys (a test
holds the two together) and the loader rejects every other key. h-web adds the [web]
keys it needs, h-risk its sections, each here and in config/central.toml.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()


@dataclass(frozen=True, slots=True)
class Option:
    """One key. kind: str, int, number, bool, path, path_list, str_list, listen,
    mqtt_url, database_url, choice. An empty string for a `path` means "not set"."""

    section: str
    name: str
    kind: str
    default: Any = REQUIRED
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()

    @property
    def dotted(self) -> str:
        return f"{self.section}.{self.name}"


OPTIONS: tuple[Option, ...] = (
    Option("database", "url", "database_url", "sqlite:////var/lib/iomt-central/inventory.db"),
    Option("mqtt", "url", "mqtt_url", "mqtt://127.0.0.1:1883"),
    Option("mqtt", "topic_filter", "str", "iomt/#"),
    Option("mqtt", "share_group", "str", "iomt-central"),
    Option("mqtt", "session", "str", "iomt-central"),
    Option("mqtt", "session_expiry_s", "int", 86400, minimum=0, maximum=4294967295),
    Option("mqtt", "ca_file", "path", ""),
    Option("mqtt", "cert_file", "path", ""),
    Option("mqtt", "key_file", "path", ""),
    Option("mqtt", "username", "str", ""),
    Option("mqtt", "password_file", "path", ""),
    Option("trust", "dir", "path", "/etc/iomt-central/trust"),
    Option("trust", "bound_keys_only", "bool", True),
    Option("web", "listen", "listen", "127.0.0.1:8080"),
    Option("web", "token_file", "path", ""),
    # h-web: access to the page and the API (central/web; checked in central.web.settings)
    Option("web", "users_file", "path", ""),
    Option("web", "tls_cert", "path", ""),
    Option("web", "tls_key", "path", ""),
    Option("web", "session_secret_file", "path", ""),
    Option("web", "session_hours", "number", 12, minimum=0.1, maximum=720),
    Option("web", "proxy_user_header", "str", ""),
    Option("web", "trusted_proxies", "str_list", ["127.0.0.1/32", "::1/128"]),
    Option("classification", "rules", "path_list", []),
    Option("retention", "flows_days", "number", 7, minimum=0.01, maximum=3650),
    Option("retention", "dedupe_days", "number", 30, minimum=1, maximum=3650),
    Option("fleet", "silent_after_s", "number", 300, minimum=10, maximum=86400 * 7),
    Option("ingest", "retry_max_s", "number", 30, minimum=0.1, maximum=3600),
    # [risk] and [alerts] (h-risk): central/risk/settings.py checks what spans keys.
    Option("risk", "rules_file", "path", ""),
    Option("risk", "advisories", "path_list", []),
    Option("risk", "evaluate_interval_s", "number", 60, minimum=1, maximum=86400),
    Option("risk", "settle_s", "number", 30, minimum=0, maximum=3600),
    Option("risk", "snapshot_interval_s", "number", 3600, minimum=60, maximum=86400 * 31),
    Option("risk", "baseline_days", "number", 14, minimum=0.01, maximum=3650),
    Option(
        "alerts", "min_severity", "choice", "medium", choices=("low", "medium", "high", "critical")
    ),
    Option("alerts", "update_interval_s", "number", 300, minimum=0, maximum=86400 * 7),
    Option("alerts", "mqtt_topic_prefix", "str", "iomt-central"),
    Option("alerts", "sender_id", "str", "central"),
    Option("alerts", "signing_key", "path", ""),
    Option("alerts", "webhook_url", "str", ""),
    Option("alerts", "webhook_timeout_s", "number", 5, minimum=0.1, maximum=120),
    Option("alerts", "syslog", "str", ""),
)

# Sections whose tables are parsed whole by their owner (central/policy/config.py):
# [zones.NAME] tables and [policy] with its [[policy.rules]].
STRUCTURED_SECTIONS: tuple[str, ...] = ("zones", "policy")

SECTIONS: tuple[str, ...] = tuple(dict.fromkeys(option.section for option in OPTIONS))
BY_SECTION: dict[str, dict[str, Option]] = {
    section: {o.name: o for o in OPTIONS if o.section == section} for section in SECTIONS
}
