"""The one set of list filters every list endpoint and page takes, parsed in one place.

`site`, `wing`, `category`, `handles_phi`, `criticality`, `since`, `q` (search), as query
parameters. `since` is an ISO 8601 time or a window counted back from the central clock
("24h", "7d", "30m"). A bad value is a 400 naming the parameter, never silently ignored.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import HTTPException, Query, Request

_WINDOW_RE = re.compile(r"(\d+)\s*([mhdw])")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


@dataclass(frozen=True, slots=True)
class ListFilters:
    site: str | None = None
    wing: str | None = None
    category: str | None = None
    handles_phi: bool | None = None
    criticality: str | None = None
    since: datetime | None = None
    since_text: str | None = None  # as the user wrote it, to show it back in the form
    q: str | None = None

    def query_args(self) -> dict[str, Any]:
        """Keyword arguments for the query layer (no `since_text`, no empty values)."""
        args = asdict(self)
        args.pop("since_text")
        args["search"] = args.pop("q")
        return {name: value for name, value in args.items() if value is not None}

    def query_string(self) -> str:
        """These filters as a URL query string, so a page links to its JSON twin."""
        pairs = {
            "site": self.site,
            "wing": self.wing,
            "category": self.category,
            "handles_phi": None if self.handles_phi is None else str(self.handles_phi).lower(),
            "criticality": self.criticality,
            "since": self.since_text,
            "q": self.q,
        }
        return urlencode({k: v for k, v in pairs.items() if v})

    @property
    def active(self) -> bool:
        return bool(self.query_string())


def parse_since(text: str, now: datetime) -> datetime:
    """An ISO 8601 time (UTC when it names no zone) or a window back from `now`."""
    window = _WINDOW_RE.fullmatch(text.strip().lower())
    if window:
        return now - timedelta(**{_UNITS[window.group(2)]: int(window.group(1))})
    moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def list_filters(
    request: Request,
    site: str | None = Query(None, description="site name"),
    wing: str | None = Query(None, description="wing name"),
    category: str | None = Query(None, description="device category, e.g. infusion_pump"),
    handles_phi: str | None = Query(None, description="true or false"),
    criticality: str | None = Query(None, description="e.g. life_sustaining"),
    since: str | None = Query(
        None, description="first seen at or after: ISO 8601 time, or a window such as 24h, 7d"
    ),
    q: str | None = Query(None, description="search in name, MAC, address, vendor, model"),
) -> ListFilters:
    """FastAPI dependency: the list filters of this request (400 on a bad value)."""
    phi: bool | None = None
    if handles_phi:
        lowered = handles_phi.strip().lower()
        if lowered in _TRUE:
            phi = True
        elif lowered not in _FALSE:
            raise HTTPException(400, detail="handles_phi: expected true or false")
        else:
            phi = False
    since_at: datetime | None = None
    if since:
        try:
            since_at = parse_since(since, request.app.state.clock())
        except ValueError:
            raise HTTPException(
                400, detail="since: expected an ISO 8601 time or a window such as 24h, 7d"
            ) from None
    return ListFilters(
        site=site or None,
        wing=wing or None,
        category=category or None,
        handles_phi=phi,
        criticality=criticality or None,
        since=since_at,
        since_text=since or None,
        q=(q or "").strip() or None,
    )
