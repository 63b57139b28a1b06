"""The agent's configuration: TOML files in, one validated AgentConfig out.

    from agent.config import load_config, ConfigError
    config = load_config("/etc/iomt-agent")   # raises ConfigError listing every problem
    config.mqtt.urls, config.spool.dir, config.flows.max_flows ...

Modules: `schema` (every key, its type, default and range), `sources` (which files, TOML
parsing), `values` (per-file key and value checks, merging), `rules` (checks across keys),
`host` (files, interfaces, spool directory on this machine), `model` (the dataclasses),
`loader` (all of it in order).
"""

from agent.config.loader import load_config
from agent.config.model import (
    AgentConfig,
    BatchConfig,
    CaptureConfig,
    FlowsConfig,
    HealthConfig,
    LoggingConfig,
    MqttConfig,
    PrivacyConfig,
    SensorConfig,
    SigningConfig,
    SpoolConfig,
)
from agent.config.problems import ConfigError
from agent.config.sources import DEFAULT_CONFIG_DIR

__all__ = [
    "DEFAULT_CONFIG_DIR",
    "AgentConfig",
    "BatchConfig",
    "CaptureConfig",
    "ConfigError",
    "FlowsConfig",
    "HealthConfig",
    "LoggingConfig",
    "MqttConfig",
    "PrivacyConfig",
    "SensorConfig",
    "SigningConfig",
    "SpoolConfig",
    "load_config",
]
