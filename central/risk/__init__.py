"""Risk: findings per device, a 0-100 score with its explanation, roll-ups and trend.

    rules.toml / rules.py   the documented data file (severities, weights, bands, findings)
    detect.py               findings from flows and device facts (plain data in, out)
    scoring.py              scores, "fix these first", roll-ups
    advisories.py           advisory files a hospital imports (CSV/JSON)
    tables.py, store.py     migration 0002's tables; evaluation against the database

The inventory's query layer calls `device_risk(connection, ids)` for each device's
`risk` and `findings`.
"""

from __future__ import annotations

from typing import Any


def device_risk(connection: Any, ids: list[str]) -> dict[str, dict[str, Any]]:
    """{device id: {"risk": int, "band", "explanation", "findings": [...]}} for `ids`."""
    from central.risk.store import device_risk as stored_risk

    return stored_risk(connection, ids)
