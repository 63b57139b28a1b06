"""Broker URLs, TLS, credentials and paho clients; and error texts a technician can act on.

Nothing here logs: the publisher decides what to log and when. No text built here ever
contains the password.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt

from agent.errors import UsageError
from agent.publish.settings import MqttSettings

_DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883}


@dataclass(frozen=True)
class BrokerAddress:
    """One parsed broker URL."""

    url: str
    host: str
    port: int
    tls: bool


def parse_broker_url(url: str) -> BrokerAddress:
    """Parse `mqtt://host[:port]` or `mqtts://host[:port]`.

    Raises UsageError naming the URL and what is wrong with it.
    """
    parts = urlsplit(url)
    if parts.scheme not in _DEFAULT_PORTS:
        raise UsageError(f"mqtt.url {url!r}: scheme must be mqtt:// or mqtts://")
    if parts.username or parts.password:
        raise UsageError(
            f"mqtt.url for host {parts.hostname!r}: credentials do not belong in the URL;"
            " use mqtt.username and mqtt.password_file"
        )
    if not parts.hostname:
        raise UsageError(f"mqtt.url {url!r}: no host name")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise UsageError(f"mqtt.url {url!r}: only scheme://host[:port] is allowed")
    try:
        port = parts.port or _DEFAULT_PORTS[parts.scheme]
    except ValueError as exc:
        raise UsageError(f"mqtt.url {url!r}: bad port") from exc
    return BrokerAddress(url=url, host=parts.hostname, port=port, tls=parts.scheme == "mqtts")


def read_password(path: Path, option: str = "mqtt.password_file") -> str:
    """The first line of the password file named by `option` (the config key or the
    command-line option, for the error). Raises UsageError if it cannot be read."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise UsageError(f"{option} {path}: {exc.strerror}") from exc
    lines = text.splitlines()
    if not lines or not lines[0]:
        raise UsageError(f"{option} {path}: empty")
    return lines[0]


def tls_context(settings: MqttSettings) -> ssl.SSLContext:
    """A client TLS context: CA verified, host name checked, TLS >= 1.2, optional client cert.

    Raises UsageError when the CA or the client certificate/key cannot be loaded.
    """
    try:
        context = ssl.create_default_context(
            cafile=str(settings.ca_file) if settings.ca_file else None
        )
    except (OSError, ssl.SSLError) as exc:
        raise UsageError(f"mqtt.ca_file {settings.ca_file}: not a readable PEM CA ({exc})") from exc
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    if settings.client_cert_file or settings.client_key_file:
        if not (settings.client_cert_file and settings.client_key_file):
            raise UsageError("mqtt.client_cert_file and mqtt.client_key_file go together")
        try:
            context.load_cert_chain(str(settings.client_cert_file), str(settings.client_key_file))
        except (OSError, ssl.SSLError) as exc:
            raise UsageError(
                f"mqtt.client_cert_file {settings.client_cert_file} /"
                f" client_key_file {settings.client_key_file}: cannot load ({exc})"
            ) from exc
    return context


def new_client(settings: MqttSettings, address: BrokerAddress, window: int) -> mqtt.Client:
    """A paho client (VERSION2 callbacks) configured for one broker address; not connected."""
    protocol = mqtt.MQTTv5 if settings.protocol == "5" else mqtt.MQTTv311
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2,
        client_id=settings.client_id,
        protocol=protocol,
        clean_session=None if protocol == mqtt.MQTTv5 else True,
        reconnect_on_failure=False,
    )
    # We hold the spool's records ourselves; paho must never queue behind our back.
    client.max_inflight_messages_set(window + 1)
    client.max_queued_messages_set(0)
    client.connect_timeout = settings.connect_timeout_s
    if address.tls:
        client.tls_set_context(tls_context(settings))
    if settings.username is not None:
        password = read_password(settings.password_file) if settings.password_file else None
        client.username_pw_set(settings.username, password)
    return client


def describe_connect_error(address: BrokerAddress, settings: MqttSettings, exc: Exception) -> str:
    """One line saying why a connection attempt failed and what to check."""
    where = f"{address.host}:{address.port}"
    if isinstance(exc, ssl.SSLCertVerificationError):
        ca = settings.ca_file or "the system trust store"
        return (
            f"TLS to {where}: broker certificate rejected ({exc.verify_message});"
            f" check mqtt.ca_file ({ca}) and that the URL names the host in the certificate"
        )
    if isinstance(exc, ssl.SSLError):
        return (
            f"TLS to {where} failed ({exc.reason or exc}); check mqtt.client_cert_file and"
            " that the broker trusts its CA"
        )
    if isinstance(exc, ConnectionRefusedError):
        return f"{where}: connection refused (broker down or wrong port)"
    if isinstance(exc, TimeoutError):
        return f"{where}: no answer within {settings.connect_timeout_s:g} s"
    if isinstance(exc, UsageError):
        return str(exc)
    if isinstance(exc, OSError):
        return f"{where}: {exc.strerror or exc}"
    return f"{where}: {exc}"


def describe_connack_refusal(
    address: BrokerAddress, settings: MqttSettings, reason: mqtt.ReasonCode
) -> str:
    """One line for a CONNACK that refused us (bad login, not authorized, ...)."""
    where = f"{address.host}:{address.port}"
    name = str(reason)
    # mosquitto answers a wrong password with 0x87 "not authorized" rather than 0x86.
    if reason.value in (0x86, 4, 0x87, 5) and settings.username is not None:
        return (
            f"{where} refused the login of user {settings.username!r}: {name};"
            " check mqtt.username and mqtt.password_file"
        )
    if reason.value in (0x86, 4, 0x87, 5):
        return (
            f"{where} refused client {settings.client_id!r} without credentials: {name};"
            " set mqtt.username and mqtt.password_file, or a client certificate"
        )
    return f"{where} refused the connection: {name} (0x{reason.value:02x})"


def describe_early_close(address: BrokerAddress, settings: MqttSettings) -> str:
    """One line for a broker that closed the connection before its CONNACK."""
    where = f"{address.host}:{address.port}"
    if address.tls and settings.client_cert_file is None:
        return (
            f"{where} closed the TLS connection before accepting it; it probably requires a"
            " client certificate: set mqtt.client_cert_file and mqtt.client_key_file"
        )
    if address.tls:
        return (
            f"{where} closed the TLS connection before accepting it; check that the broker"
            f" trusts the CA of mqtt.client_cert_file ({settings.client_cert_file})"
        )
    return f"{where} closed the connection before accepting it (is it an MQTT port?)"


def describe_publish_refusal(address: BrokerAddress, topic: str, reason: mqtt.ReasonCode) -> str:
    """One line for a PUBACK with a failure reason (for example 0x87, an ACL refusal)."""
    return (
        f"{address.host}:{address.port} refused a publish on {topic}: {reason}"
        f" (0x{reason.value:02x}); check the broker's ACL for this sensor's topics"
    )
