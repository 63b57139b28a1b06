"""Checks that need several keys at once: broker URLs, TLS and login settings that belong
together, and protocol features. Pure: nothing here touches the host."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from agent.config.problems import Problems
from agent.config.values import Settings

DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883}

# The example values of the shipped files (config/agent.toml, config/example-wing.toml):
# a box must not go out with a copied name.
PLACEHOLDERS = {
    ("sensor", "id"): frozenset({"wing4b-01", "stmary-4b-01"}),
    ("sensor", "site"): frozenset({"st-mary"}),
}
# RFC 2606 names, reserved for documentation: never a real broker.
_EXAMPLE_DOMAINS = ("example", "example.com", "example.net", "example.org")


def is_example_host(host: str) -> bool:
    """True for a host name under a domain reserved for examples (broker.example)."""
    host = host.lower().rstrip(".")
    return any(host == domain or host.endswith("." + domain) for domain in _EXAMPLE_DOMAINS)


def check_placeholders(settings: Settings, problems: Problems) -> None:
    """The shipped example values, and any example host, are refused: "fill this in"."""
    for (section, name), values in PLACEHOLDERS.items():
        setting = settings.get((section, name))
        if setting is not None and setting.value in values:
            problems.error(
                setting.path,
                f"{section}.{name}",
                f'"{setting.value}" is the shipped example; fill this in with this '
                f"{'box' if name == 'id' else name}'s own name",
            )
    for key in ("url", "failover_urls"):
        setting = settings.get(("mqtt", key))
        if setting is None:
            continue
        for url in setting.value if isinstance(setting.value, list) else [setting.value]:
            if broker_problem(url):
                continue  # reported as it is, once
            if is_example_host(urlsplit(url).hostname or ""):
                problems.error(
                    setting.path,
                    f"mqtt.{key}",
                    f"{url} is an example host; fill this in with the central broker's address",
                )


def check_topic_case(settings: Settings, problems: Problems) -> None:
    """Site and wing are lower case: topics are case-sensitive, so "St-Mary" would be a
    second site beside "st-mary" on the broker and in every consumer."""
    for name in ("site", "wing"):
        setting = settings.get(("sensor", name))
        if setting is None or setting.value == setting.value.lower():
            continue
        problems.error(
            setting.path,
            f"sensor.{name}",
            f'"{setting.value}" has capital letters; topic levels are case-sensitive, so it '
            f'would not match the other sensors of the {name}: write "{setting.value.lower()}"',
        )


def check_optional_interfaces(settings: Settings, problems: Problems) -> None:
    """Every optional interface is one of the capture interfaces."""
    optional = settings.get(("capture", "optional_interfaces"))
    interfaces = settings.get(("capture", "interfaces"))
    if optional is None or interfaces is None:
        return
    for name in optional.value:
        if name not in interfaces.value:
            problems.error(
                optional.path,
                "capture.optional_interfaces",
                f"{name} is not in capture.interfaces; list it there too (optional only "
                "says it may be missing)",
            )


def broker_problem(url: str) -> str | None:
    """What is wrong with one broker URL (and what would be right), or None."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return f"{url} is not a valid URL ({exc}); write e.g. mqtts://broker.example:8883"
    if parts.scheme not in DEFAULT_PORTS:
        return (
            f"{url} has scheme {parts.scheme or 'none'}; use mqtts://HOST:8883 "
            "(TLS) or mqtt://HOST:1883 (plain TCP)"
        )
    if parts.username is not None or parts.password is not None:
        return (
            "the URL holds a user name or password, which would end up in logs; "
            "remove it and set username and password_file instead"
        )
    if not parts.hostname:
        return f"{url} names no host; write e.g. {parts.scheme}://broker.example:{port or 8883}"
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        return (
            f"{url} has a path or query, which MQTT does not use; write {parts.scheme}://HOST:PORT"
        )
    if port == 0:
        return f"{url} has port 0; use the broker's port (1883 for mqtt, 8883 for mqtts)"
    return None


def is_local_host(host: str) -> bool:
    """True for names and addresses that stay on this machine."""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_broker(settings: Settings, problems: Problems) -> None:
    """URL shape, duplicates, plain TCP off the host (a warning), TLS and login coherence."""
    url_setting = settings.get(("mqtt", "url"))
    failover = settings.get(("mqtt", "failover_urls"))
    entries = []
    if url_setting is not None:
        entries.append((url_setting.value, url_setting.path, "mqtt.url"))
    if failover is not None:
        entries += [(url, failover.path, "mqtt.failover_urls") for url in failover.value]
    seen: set[str] = set()
    schemes = set()
    for url, path, key in entries:
        problem = broker_problem(url)
        if problem:
            problems.error(path, key, problem)
            continue
        if url in seen:
            problems.error(path, key, f"{url} is listed twice; name each broker once")
        seen.add(url)
        parts = urlsplit(url)
        schemes.add(parts.scheme)
        if parts.scheme == "mqtt" and not is_local_host(parts.hostname or ""):
            problems.warning(
                path,
                key,
                f"{url} is plain TCP to another host: summaries and the password cross the "
                "network unencrypted; use mqtts:// (port 8883)",
            )
    _check_tls(settings, problems, uses_tls="mqtts" in schemes or not schemes)
    _check_login(settings, problems)


def _check_tls(settings: Settings, problems: Problems, uses_tls: bool) -> None:
    cert = settings.get(("mqtt", "cert_file"))
    key = settings.get(("mqtt", "key_file"))
    if cert and cert.value and not (key and key.value):
        problems.error(
            cert.path, "mqtt.cert_file", "is set without mqtt.key_file; set both or neither"
        )
    if key and key.value and not (cert and cert.value):
        problems.error(
            key.path, "mqtt.key_file", "is set without mqtt.cert_file; set both or neither"
        )
    if uses_tls:
        return
    for name in ("ca_file", "cert_file", "key_file"):
        setting = settings.get(("mqtt", name))
        if setting and setting.value:
            problems.error(
                setting.path,
                f"mqtt.{name}",
                "is set but every broker URL is mqtt:// (no TLS), so it would do nothing; "
                "use mqtts:// URLs or remove it",
            )


def _check_login(settings: Settings, problems: Problems) -> None:
    password = settings.get(("mqtt", "password_file"))
    username = settings.get(("mqtt", "username"))
    if password and password.value and not (username and username.value):
        problems.error(
            password.path,
            "mqtt.password_file",
            "is set without mqtt.username; set the user name the password belongs to",
        )
    expiry = settings.get(("mqtt", "message_expiry_s"))
    protocol = settings.get(("mqtt", "protocol"))
    if expiry and expiry.value and protocol and protocol.value == "3.1.1":
        problems.error(
            expiry.path,
            "mqtt.message_expiry_s",
            'needs MQTT 5, but mqtt.protocol is "3.1.1"; set protocol = "5" or '
            "message_expiry_s = 0",
        )
