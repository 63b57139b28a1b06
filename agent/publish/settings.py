"""What the publisher needs to know, as a plain dataclass that agent/config.py fills in.

Defaults are the product's defaults; tests shorten the timings.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

MqttProtocol = Literal["5", "3.1.1"]


@dataclass(frozen=True)
class MqttSettings:
    """Broker connection and delivery settings (the `[mqtt]` table).

    urls: broker URLs, tried in order (fail over to the next, then back to the first);
      `mqtt://host[:1883]` plain TCP, `mqtts://host[:8883]` TLS with the CA verified
      and the host name checked.
    client_id: MQTT client id; the pipeline uses the sensor id.
    protocol: "5" (default) or "3.1.1".
    ca_file: PEM CA bundle that signs the broker's certificate (mqtts://); None = the
      system trust store.
    client_cert_file / client_key_file: PEM client certificate and key for mutual TLS.
    username: MQTT user name, or None.
    password_file: file whose first line is the password (never on the command line).
    keepalive_s: MQTT keepalive; a silent uplink cut is noticed after ~1.5 x this.
    connect_timeout_s: give up on one connection attempt after this long.
    backoff_initial_s / backoff_max_s: reconnect delay starts at initial, doubles per
      failed attempt up to max, and each wait is jittered (half fixed, half random).
    max_inflight: cap on unacknowledged PUBLISHes; the broker's Receive Maximum (MQTT 5
      CONNACK) lowers it further.
    live_share: fraction of the in-flight window reserved for data spooled after the
      current connection came up, so a backlog drain does not starve live data.
    live_expiry_s: MQTT 5 Message Expiry Interval set on data messages (None = never).
    """

    urls: tuple[str, ...]
    client_id: str
    protocol: MqttProtocol = "5"
    ca_file: Path | None = None
    client_cert_file: Path | None = None
    client_key_file: Path | None = None
    username: str | None = None
    password_file: Path | None = None
    keepalive_s: int = 30
    connect_timeout_s: float = 10.0
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 60.0
    max_inflight: int = 64
    live_share: float = 0.25
    live_expiry_s: int | None = None
