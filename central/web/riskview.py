"""Risk, alerts and containment as the web side shows them, over central.risk,
central.alerts and central.policy.

Everything here reads; the two writes (acknowledge, close) go through central.alerts,
which records them in the audit log itself.
"""

from __future__ import annotations

import tomllib
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, select

from agent.config.problems import Problems
from central.alerts import book
from central.policy import baseline
from central.policy.config import parse_containment
from central.policy.rules import FlowFacts, Policy
from central.policy.simulate import simulate
from central.risk import store
from central.risk.rules import RiskRules, load_rules
from central.risk.tables import device_risk
from central.web.filters import ListFilters

ALERT_STATES = ("open", "acknowledged", "closed")


# ---------------------------------------------------------------- risk


def risk_rules(config: Any) -> RiskRules:
    """The risk rules (shipped, with the site's file from `[risk] rules` merged over)."""
    site_file = getattr(getattr(config, "risk", None), "rules_file", None)
    return load_rules(Path(site_file) if site_file else None)


def explanation(connection: Connection, device_id: str) -> dict[str, Any] | None:
    """How the device's score was made: {"risk", "band", "explanation", "terms"}."""
    table = device_risk
    row = connection.execute(select(table).where(table.c.device_id == device_id)).first()
    if row is None:
        return None
    stored = dict(row.explanation or {})
    return {
        "risk": row.risk,
        "band": row.band,
        "explanation": stored.get("explanation", ""),
        "terms": stored.get("terms", []),
        "criticality_weight": stored.get("criticality_weight"),
        "phi_weight": stored.get("phi_weight"),
        "updated_at": row.updated_at,
    }


def fix_first(
    connection: Connection, rules: RiskRules, device_ids: set[str] | None, limit: int = 50
) -> list[dict[str, Any]]:
    """The ranked "fix these first" list, kept to `device_ids` (the list filters) when
    given, and ranked again from 1 after filtering."""
    items = store.fix_first_list(connection, rules, limit=100_000)
    if device_ids is not None:
        items = [item for item in items if item["device_id"] in device_ids]
    items = items[:limit]
    for rank, item in enumerate(items, start=1):
        item["rank"] = rank
    return items


def rollups(
    connection: Connection, rules: RiskRules, filters: ListFilters, trend_points: int = 30
) -> list[dict[str, Any]]:
    """Roll-ups per site and wing (current), each with its trend (mean risk per stored
    snapshot, oldest first), kept to the filters' site and wing."""
    out = []
    for rollup in store.current_rollups(connection, rules):
        if filters.site and rollup["site"] != filters.site:
            continue
        if filters.wing and rollup["wing"] not in (None, filters.wing):
            continue
        points = store.trend(connection, rollup["site"], rollup["wing"], filters.since)
        rollup["trend"] = points[-trend_points:]
        out.append(rollup)
    return out


# ---------------------------------------------------------------- alerts


def alerts(
    connection: Connection,
    filters: ListFilters,
    device_ids: set[str] | None,
    state: str | None = None,
) -> list[dict[str, Any]]:
    """Alerts newest first, filtered like every list: site and wing on the alert, the
    device filters through `device_ids`, `since` on the alert's last update, `q` on its
    finding, detail, device and peer; `state` one of open, acknowledged, closed."""
    found = book.list_alerts(connection, state=state, site=filters.site, limit=5000)
    out = []
    for alert in found:
        if filters.wing and alert["wing"] != filters.wing:
            continue
        if device_ids is not None and alert["device_id"] not in device_ids:
            continue
        if filters.since and alert["updated_at"] and _when(alert["updated_at"]) < filters.since:
            continue
        if filters.q:
            text = " ".join(
                str(alert.get(k) or "") for k in ("finding", "detail", "device_id", "peer")
            )
            if filters.q.lower() not in text.lower():
                continue
        out.append(alert)
    return out


def change_alert(
    connection: Connection, alert_id: int, action: str, actor: str, now: Any, note: str | None
) -> dict[str, Any]:
    """Acknowledge or close one alert (central.alerts audits it). Raises LookupError for
    an unknown alert, ValueError for a change its state does not allow."""
    change = book.acknowledge if action == "acknowledge" else book.close
    return change(connection, alert_id, actor, now, note)


# ---------------------------------------------------------------- containment


def configured_policy(config: Any) -> Policy:
    """The policy of the central configuration ([zones], [policy]), or an empty one."""
    for name in ("policy", "containment"):
        candidate = getattr(config, name, None)
        if isinstance(candidate, Policy):
            return candidate
    return Policy()


def parse_policy(text: str) -> tuple[Policy | None, list[str]]:
    """A proposed policy written as central.toml's [zones] and [policy] tables: the
    Policy, or None and every problem found (one line each)."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        return None, [f"proposed policy: {error}"]
    problems = Problems()
    policy = parse_containment(raw, Path("proposed policy"), problems)
    if problems.errors:
        return None, [str(problem) for problem in problems.errors]
    return policy, []


def _hosts_and_communications(connection: Connection, site: str | None) -> tuple[Any, Any]:
    return store.hosts_of(store.load_devices(connection)), store.load_communications(
        connection, site
    )


def matrix(connection: Connection, policy: Policy, axis: str, site: str | None) -> dict[str, Any]:
    """The segmentation matrix (zone or category on both axes, services in each cell)
    from the learned baseline, or from the communications seen so far when nothing has
    been learned yet (`source` says which). Each cell carries the policy's decision."""
    entries = store.stored_baseline(connection, site)
    source = "learned baseline"
    if not entries:
        hosts, communications = _hosts_and_communications(connection, site)
        entries = baseline.learn_baseline(communications, hosts, policy.zone_map)
        source = "communications seen so far (no baseline learned yet)"
    result: dict[str, Any] = baseline.segmentation_matrix(entries, axis)
    decisions: dict[tuple[str, str, str, int], str] = {}
    for entry in entries:
        facts = FlowFacts(
            entry.proto, entry.port, entry.service, entry.server_name, entry.resp.address
        )
        decision = policy.decide(entry.orig.zone, entry.resp.zone, facts)
        src = entry.orig.zone if axis == "zone" else entry.orig.category
        dst = entry.resp.zone if axis == "zone" else entry.resp.category
        key = (src, dst, entry.proto, entry.port)
        # One denied row makes the cell "deny": the cell would not pass whole.
        if decisions.get(key) != "deny":
            decisions[key] = decision.action
    for cell in result["cells"]:
        cell["decision"] = decisions.get((cell["from"], cell["to"], cell["proto"], cell["port"]))
    result["source"] = source
    return result


def simulation(connection: Connection, policy: Policy, site: str | None) -> dict[str, Any]:
    """What `policy` would block of the stored communications: "would block N flows of M
    devices, of which K clinical", with the list."""
    hosts, communications = _hosts_and_communications(connection, site)
    return simulate(policy, communications, hosts).as_json()


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
