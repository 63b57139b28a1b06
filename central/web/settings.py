"""The web side's settings, taken from the `[web]` section of the central configuration.

The configuration schema (central/config) validates these keys; this module only gives
them the shape the web code wants (paths, networks, a timedelta) and loads the secrets.
"""

from __future__ import annotations

import ipaddress
import re
import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

DEFAULT_TRUSTED_PROXIES = ("127.0.0.1/32", "::1/128")
_HEADER_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,63}")


@dataclass(frozen=True)
class WebSettings:
    listen: str = "127.0.0.1:8080"
    token_file: Path | None = None
    users_file: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    session_secret_file: Path | None = None
    session_hours: float = 12.0
    proxy_user_header: str = ""  # empty: the proxy's header is not trusted at all
    trusted_proxies: tuple[Network, ...] = field(
        default_factory=lambda: tuple(ipaddress.ip_network(n) for n in DEFAULT_TRUSTED_PROXIES)
    )

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None and self.tls_key is not None

    @property
    def session_lifetime(self) -> timedelta:
        return timedelta(hours=self.session_hours)

    @property
    def host_port(self) -> tuple[str, int]:
        host, _, port = self.listen.rpartition(":")
        return host.strip("[]") or "127.0.0.1", int(port)

    def api_token(self) -> str | None:
        """The API token (the token file's first line), or None when no file is set.
        Read on each write so a rotated token applies without a restart."""
        if self.token_file is None:
            return None
        try:
            token = self.token_file.read_text(encoding="utf-8").strip().splitlines()
        except FileNotFoundError:
            return None
        return token[0].strip() if token and len(token[0].strip()) >= 16 else None

    def session_secret(self) -> bytes:
        """The configured secret, or a random one (sessions then last one process)."""
        if self.session_secret_file is not None:
            return self.session_secret_file.read_bytes().strip()
        return secrets.token_bytes(32)


def web_settings(config: Any) -> WebSettings:
    """WebSettings from a central configuration object (its `web` section), or from a
    WebSettings passed as is. Keys the section lacks keep their defaults."""
    if isinstance(config, WebSettings):
        return config
    section = getattr(config, "web", None)
    if section is None:
        return WebSettings()
    if isinstance(section, WebSettings):
        return section

    def value(name: str, default: Any = None) -> Any:
        found = section.get(name, default) if isinstance(section, dict) else None
        return getattr(section, name, default) if found is None else found

    def path(name: str) -> Path | None:
        raw = value(name)
        return Path(raw) if raw else None

    proxies = value("trusted_proxies") or DEFAULT_TRUSTED_PROXIES
    listen = value("listen", "127.0.0.1:8080")
    if isinstance(listen, tuple | list):  # the loader gives (host, port)
        host, port = listen
        listen = f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    return WebSettings(
        listen=str(listen),
        token_file=path("token_file"),
        users_file=path("users_file"),
        tls_cert=path("tls_cert"),
        tls_key=path("tls_key"),
        session_secret_file=path("session_secret_file"),
        session_hours=float(value("session_hours", 12.0)),
        proxy_user_header=str(value("proxy_user_header", "") or ""),
        trusted_proxies=tuple(ipaddress.ip_network(str(n), strict=False) for n in proxies),
    )


def check_web_section(path: Path, web: dict[str, Any], problems: Any) -> None:
    """The [web] checks that need the host or several keys (central/config's loader calls
    this with every problem collector it has): TLS files in pairs and present, proxy
    addresses that parse, a header name that is a header name."""
    cert, key = web.get("tls_cert"), web.get("tls_key")
    if (cert is None) != (key is None):
        problems.error(path, "web.tls_cert", "set tls_cert and tls_key together (HTTPS)")
    for name in ("tls_cert", "tls_key", "session_secret_file"):
        value = web.get(name)
        if value is not None and not Path(value).is_file():
            problems.error(path, f"web.{name}", f"{value} does not exist or is not a file")
    secret = web.get("session_secret_file")
    if (
        secret is not None
        and Path(secret).is_file()
        and len(Path(secret).read_bytes().strip()) < 16
    ):
        problems.error(path, "web.session_secret_file", "holds fewer than 16 bytes of secret")
    users = web.get("users_file")
    if users is not None and not Path(users).is_file():
        problems.warning(
            path,
            "web.users_file",
            f"{users} does not exist yet: nobody can sign in (iomt-central user add NAME ...)",
        )
    for entry in web.get("trusted_proxies") or []:
        try:
            ipaddress.ip_network(str(entry), strict=False)
        except ValueError:
            problems.error(path, "web.trusted_proxies", f"{entry!r} is not an address or network")
    header = web.get("proxy_user_header") or ""
    if header and not _HEADER_RE.fullmatch(header):
        problems.error(path, "web.proxy_user_header", f"{header!r} is not an HTTP header name")
