"""How central writes a time for people and the API: ISO 8601 in UTC with a Z."""

from __future__ import annotations

from datetime import datetime
from typing import overload


@overload
def iso_z(value: datetime) -> str: ...
@overload
def iso_z(value: None) -> None: ...
def iso_z(value: datetime | None) -> str | None:
    """`2026-01-05T08:00:00Z` for an aware UTC time (None stays None)."""
    return None if value is None else value.isoformat().replace("+00:00", "Z")
