"""One value against its Option: type, range, shape. Returns (value, problem)."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from central.config.schema import Option

SQLITE_PREFIXES = ("sqlite:///",)
POSTGRES_PREFIXES = ("postgresql://", "postgresql+psycopg://", "postgres://")


def check_value(option: Option, raw: Any, base: Path) -> tuple[Any, str | None]:
    kind = option.kind
    if kind == "bool":
        if not isinstance(raw, bool):
            return None, f"must be true or false, not {raw!r}"
        return raw, None
    if kind in ("int", "number"):
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            return None, f"must be a number, not {raw!r}"
        if kind == "int" and not isinstance(raw, int):
            return None, f"must be a whole number, not {raw!r}"
        if option.minimum is not None and raw < option.minimum:
            return None, f"must be at least {option.minimum:g}, not {raw!r}"
        if option.maximum is not None and raw > option.maximum:
            return None, f"must be at most {option.maximum:g}, not {raw!r}"
        return raw, None
    if kind in ("path_list", "str_list"):
        if not isinstance(raw, list) or not all(isinstance(v, str) and v for v in raw):
            return None, 'must be a list of strings, e.g. ["/etc/iomt-central/rules.d/site.toml"]'
        if kind == "path_list":
            return [_path(v, base) for v in raw], None
        return list(raw), None
    if not isinstance(raw, str):
        return None, f"must be a string (in quotes), not {raw!r}"
    if kind == "path":
        return (_path(raw, base) if raw else None), None
    if kind == "choice" and raw not in option.choices:
        return None, f"must be one of {', '.join(option.choices)}, not {raw!r}"
    if kind == "listen":
        return _listen(raw)
    if kind == "mqtt_url":
        return _mqtt_url(raw)
    if kind == "database_url":
        if raw.startswith(SQLITE_PREFIXES) or raw.startswith(POSTGRES_PREFIXES):
            return raw, None
        return None, (
            f"{raw!r} is not a supported database URL; use sqlite:////var/lib/iomt-central/"
            "inventory.db or postgresql://user@host:5432/dbname"
        )
    if option.name == "share_group" and any(ch in raw for ch in "/+#"):
        return None, f"{raw!r} cannot hold '/', '+' or '#' (it is one topic level)"
    return raw, None


def _path(value: str, base: Path) -> Path:
    path = Path(value)
    return path if path.is_absolute() else base / path


def _listen(raw: str) -> tuple[Any, str | None]:
    host, sep, port = raw.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        return None, f'{raw!r} is not host:port, e.g. "127.0.0.1:8080" or "[::1]:8080"'
    return (host.strip("[]"), int(port)), None


def _mqtt_url(raw: str) -> tuple[Any, str | None]:
    try:
        parts = urlsplit(raw)
        parts.port  # noqa: B018 - raises for a bad port
    except ValueError as exc:
        return None, f"{raw!r} is not a valid URL: {exc}"
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
        return None, f"{raw!r} must be mqtt://host[:port] or mqtts://host[:port]"
    if parts.password:
        return None, "put no password in the URL; use mqtt.password_file"
    return raw, None
