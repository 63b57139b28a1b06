"""`iomt-agent check-config -c CONFIG`: validate, then print OK and a summary, or every error.

For field technicians checking a box before (or without) a broker: nothing is changed on
the host, nothing is sent.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from typing import TYPE_CHECKING

from agent.commands.options import add_config_argument

if TYPE_CHECKING:
    from agent.config import AgentConfig

EXIT_OK, EXIT_CONFIG = 0, 2


def register(parser: argparse.ArgumentParser) -> None:
    add_config_argument(parser)


def format_bytes(count: float) -> str:
    """1536 -> '1.5 KiB' (binary units, as the size keys use)."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if count < 1024:
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} TiB"


def _link_states(names: tuple[str, ...]) -> str:
    from agent.interfaces import link_state

    parts = []
    for name in names:
        try:
            state = link_state(name)
        except Exception as exc:
            parts.append(f"{name} (state unknown: {exc})")
            continue
        parts.append(f"{name} {state.summary if state else 'gone'}")
    return ", ".join(parts)


def with_port(url: str) -> str:
    """The URL with the port it will use written out: a URL without one gets the
    scheme's default, named as such ("mqtts://broker (port 8883, the default)")."""
    from urllib.parse import urlsplit

    from agent.config.rules import DEFAULT_PORTS

    parts = urlsplit(url)
    if parts.port is not None:
        return url
    return f"{url} (port {DEFAULT_PORTS[parts.scheme]}, the {parts.scheme} default)"


def _broker(config: AgentConfig) -> str:
    mqtt = config.mqtt
    details = [f"MQTT {mqtt.protocol}"]
    if mqtt.username:
        details.append(f"user {mqtt.username}")  # the password is never shown
    if mqtt.cert_file:
        details.append(f"client certificate {mqtt.cert_file}")
    if mqtt.ca_file:
        details.append(f"CA {mqtt.ca_file}")
    return f"{', then '.join(map(with_port, mqtt.urls))} ({'; '.join(details)})"


def _key(config: AgentConfig) -> str:
    from agent.config.adapters import key_id

    # Validation already loaded this key; the id is computed from it, never made up.
    return f"id {key_id(config)} ({config.signing.key})"


def _spool(config: AgentConfig) -> str:
    spool = config.spool
    from agent.config.host import nearest_existing

    free = shutil.disk_usage(nearest_existing(spool.dir)).free
    return (
        f"{spool.dir} (at most {format_bytes(spool.max_bytes)}, {spool.on_full} when full; "
        f"{format_bytes(free)} free)"
    )


def summary_lines(config: AgentConfig) -> list[str]:
    """The short summary printed under OK: what this box is and what it will use."""
    sensor = config.sensor
    topic = f"{config.mqtt.topic_prefix}/{sensor.site}/{sensor.wing}/{sensor.id}/<kind>"
    capture = config.capture
    interfaces = _link_states(capture.interfaces)
    if capture.optional_interfaces:
        interfaces += f" (optional: {', '.join(capture.optional_interfaces)})"
    rows = [
        ("files", ", ".join(str(path) for path in config.files)),
        ("sensor", f"{sensor.id} (site {sensor.site}, wing {sensor.wing})"),
        ("interfaces", interfaces),
        ("broker", _broker(config)),
        ("topics", topic),
        ("key", _key(config)),
        ("spool", _spool(config)),
    ]
    return [f"{name + ':':<12}{value}" for name, value in rows]


def run(args: argparse.Namespace) -> int:
    """Exit 0 with OK and the summary on stdout; exit 2 with every error on stderr."""
    from agent.config import ConfigError, load_config

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        for line in exc.errors:
            print(line, file=sys.stderr)
        for line in exc.warnings:
            print(f"warning: {line}", file=sys.stderr)
        count = len(exc.errors)
        print(
            f"check-config: {count} error{'s' if count != 1 else ''}; "
            "the agent will not start with this configuration",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    print("OK")
    for line in summary_lines(config):
        print(line)
    for line in config.warnings:
        print(f"warning: {line}")
    return EXIT_OK
