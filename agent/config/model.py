"""The validated configuration as frozen dataclasses, one per TOML section.

Field names are the TOML key names (a test holds them equal to the schema), so
`config.flows.udp_idle_timeout_s` is `[flows] udp_idle_timeout_s`. A file path that is not
set is None; sizes are bytes; durations are seconds (float where the key ends in _s).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar


@dataclass(frozen=True, slots=True)
class SensorConfig:
    id: str
    site: str
    wing: str


@dataclass(frozen=True, slots=True)
class CaptureConfig:
    interfaces: tuple[str, ...]
    optional_interfaces: tuple[str, ...]  # of `interfaces`: may be missing (a USB NIC)
    allow_management_interfaces: bool  # lo or an addressed interface as a SPAN port
    snaplen: int
    promiscuous: bool
    buffer_bytes: int
    bpf_filter: str  # "" captures everything


@dataclass(frozen=True, slots=True)
class FlowsConfig:
    max_flows: int
    tcp_idle_timeout_s: float
    tcp_syn_idle_timeout_s: float
    udp_idle_timeout_s: float
    icmp_idle_timeout_s: float
    other_idle_timeout_s: float
    tcp_linger_s: float
    active_timeout_s: float


@dataclass(frozen=True, slots=True)
class BatchConfig:
    window_s: float
    max_records: int


@dataclass(frozen=True, slots=True)
class MqttConfig:
    url: str
    failover_urls: tuple[str, ...]
    topic_prefix: str
    ca_file: Path | None  # None: the system's CA store
    cert_file: Path | None  # None (with key_file): no client certificate
    key_file: Path | None
    username: str  # "": no user name sent
    password_file: Path | None
    protocol: str  # "5" or "3.1.1"
    keepalive_s: int
    message_expiry_s: int  # 0: messages never expire at the broker

    qos: ClassVar[int] = 1  # not configurable: the spool relies on acknowledgements

    @property
    def urls(self) -> tuple[str, ...]:
        """The primary broker first, then the failover brokers in order."""
        return (self.url, *self.failover_urls)


@dataclass(frozen=True, slots=True)
class SigningConfig:
    key: Path


@dataclass(frozen=True, slots=True)
class SpoolConfig:
    dir: Path
    max_bytes: int
    fsync_interval_s: float  # 0: fsync after every message
    on_full: str  # "drop_oldest" or "drop_newest"


@dataclass(frozen=True, slots=True)
class HealthConfig:
    interval_s: float


@dataclass(frozen=True, slots=True)
class LoggingConfig:
    level: str  # "debug", "info", "warning" or "error"


@dataclass(frozen=True, slots=True)
class PrivacyConfig:
    hostname_hash_secret_file: Path | None  # None: the sensor makes and keeps its own
    hostnames: str  # "hash", "clear" or "drop": DHCP/LLDP/CDP names, DHCP client id
    tls_sni: str  # "clear", "hash" or "drop"
    http_user_agent: str  # "clear", "hash" or "drop"


@dataclass(frozen=True, slots=True)
class DevicesConfig:
    max_devices: int  # 0: no device table, no fingerprints, no `devices` messages
    snapshot_interval_s: float


@dataclass(frozen=True, slots=True)
class AgentConfig:
    """The whole validated configuration, plus where it came from and what to warn about."""

    sensor: SensorConfig
    capture: CaptureConfig
    flows: FlowsConfig
    batch: BatchConfig
    mqtt: MqttConfig
    signing: SigningConfig
    spool: SpoolConfig
    health: HealthConfig
    logging: LoggingConfig
    privacy: PrivacyConfig
    devices: DevicesConfig
    files: tuple[Path, ...]  # read in this order
    warnings: tuple[str, ...]  # one line each, "FILE: section.key: ..."


# The TOML section each dataclass holds, in the order of AgentConfig's fields.
SECTION_CLASSES: dict[str, type] = {
    "sensor": SensorConfig,
    "capture": CaptureConfig,
    "flows": FlowsConfig,
    "batch": BatchConfig,
    "mqtt": MqttConfig,
    "signing": SigningConfig,
    "spool": SpoolConfig,
    "health": HealthConfig,
    "logging": LoggingConfig,
    "privacy": PrivacyConfig,
    "devices": DevicesConfig,
}


def build(
    values: dict[tuple[str, str], Any], files: tuple[Path, ...], warnings: tuple[str, ...]
) -> AgentConfig:
    """AgentConfig from complete, checked values keyed by (section, key)."""
    sections: dict[str, Any] = {}
    for section, cls in SECTION_CLASSES.items():
        kwargs = {}
        for field in dataclasses.fields(cls):
            value = values[(section, field.name)]
            kwargs[field.name] = tuple(value) if isinstance(value, list) else value
        sections[section] = cls(**kwargs)
    return AgentConfig(**sections, files=files, warnings=warnings)
