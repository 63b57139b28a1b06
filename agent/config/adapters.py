"""The validated configuration handed to each part in the settings type that part defines.

The parts (publisher, spool, engine) own their settings dataclasses; this is the one place
that maps TOML keys onto them, so a renamed field breaks here and in its test, not at 3 am.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agent.config.model import AgentConfig

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from agent.engine import EngineSettings
    from agent.publish.settings import MqttSettings
    from agent.spool.spool import SpoolSettings


def mqtt_settings(config: AgentConfig) -> MqttSettings:
    """The publisher's settings; the MQTT client id is the sensor id."""
    from agent.publish.settings import MqttSettings

    mqtt = config.mqtt
    return MqttSettings(
        urls=mqtt.urls,
        client_id=config.sensor.id,
        protocol="3.1.1" if mqtt.protocol == "3.1.1" else "5",
        ca_file=mqtt.ca_file,
        client_cert_file=mqtt.cert_file,
        client_key_file=mqtt.key_file,
        username=mqtt.username or None,
        password_file=mqtt.password_file,
        keepalive_s=mqtt.keepalive_s,
        live_expiry_s=mqtt.message_expiry_s or None,
    )


def spool_settings(config: AgentConfig) -> SpoolSettings:
    """The spool's settings."""
    from agent.spool.spool import SpoolSettings

    spool = config.spool
    return SpoolSettings(
        dir=spool.dir,
        max_bytes=spool.max_bytes,
        fsync_interval_s=spool.fsync_interval_s,
        full_policy="drop_newest" if spool.on_full == "drop_newest" else "drop_oldest",
    )


def engine_settings(config: AgentConfig) -> EngineSettings:
    """The flow engine's table size and timeouts (its ring size keeps the engine default)."""
    from agent.engine import EngineSettings

    flows = config.flows
    return EngineSettings(
        max_flows=flows.max_flows,
        tcp_idle_timeout_s=flows.tcp_idle_timeout_s,
        tcp_syn_idle_timeout_s=flows.tcp_syn_idle_timeout_s,
        udp_idle_timeout_s=flows.udp_idle_timeout_s,
        icmp_idle_timeout_s=flows.icmp_idle_timeout_s,
        other_idle_timeout_s=flows.other_idle_timeout_s,
        tcp_linger_s=flows.tcp_linger_s,
        active_timeout_s=flows.active_timeout_s,
        max_devices=config.devices.max_devices,
    )


def signing_key(config: AgentConfig) -> Ed25519PrivateKey:
    """The sensor's private key (raises UsageError naming the file when unusable)."""
    from agent.keys import load_private_key

    return load_private_key(config.signing.key)


def key_id(config: AgentConfig) -> str:
    """The signing key's id as 16 hex digits, as consumers see it in `kid`."""
    from agent.keys import kid_for

    return kid_for(signing_key(config).public_key()).hex()
