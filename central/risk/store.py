"""Risk against the database: read the inventory, evaluate, keep findings, scores,
alerts, snapshots and the baseline (migration 0002's tables).

    result = evaluate(connection, RiskContext(rules, policy, advisories), now)
    device_risk(connection, ids)      # what the inventory's query layer shows per device

Evaluation reads the flows received since the last run (risk_state "flows"), so each
flow is counted once however often it runs; device-level findings (new device, identity,
JA4, advisories) are recomputed every run and removed when they no longer hold.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, delete, select

from central.alerts.book import AlertEvent, AlertSettings, observe_all
from central.db.tables import communications, devices, fingerprints, flows
from central.inventory.queries import DeviceFilter, list_devices
from central.policy.baseline import (
    BaselineEntry,
    Communication,
    HostInfo,
    Hosts,
    Side,
    learn_baseline,
)
from central.policy.rules import Policy
from central.risk.advisories import Advisory
from central.risk.detect import RiskEvaluator
from central.risk.model import DeviceFacts, Finding, FingerprintValue, ObservedFlow
from central.risk.rules import RiskRules
from central.risk.scoring import DeviceScore, fix_first, rollups, score_device
from central.risk.tables import (
    baseline,
    findings,
    risk_snapshots,
    risk_state,
)
from central.risk.tables import (
    device_risk as device_risk_table,
)
from central.timestamps import iso_z

DEVICE_LEVEL_BASES = ("inventory", "fingerprints", "oui", "ja4", "advisory")
FLOWS_MARK = "flows"
SNAPSHOT_MARK = "snapshot"


@dataclass(frozen=True)
class RiskContext:
    rules: RiskRules
    policy: Policy = field(default_factory=Policy)
    advisories: Sequence[Advisory] = ()
    alert_settings: AlertSettings = field(default_factory=AlertSettings)
    snapshot_interval_s: float = 3600.0
    # Read only flows stored at least this long ago (0: everything; serve uses 30 s).
    settle_s: float = 0.0


@dataclass
class EvaluationResult:
    flows_read: int = 0
    findings_changed: int = 0
    events: list[AlertEvent] = field(default_factory=list)
    scores: dict[str, DeviceScore] = field(default_factory=dict)
    snapshot_taken: bool = False
    evaluated: bool = True  # False: another process had the turn (central.risk.service)


# ---------------------------------------------------------------- reading the inventory


def load_devices(connection: Connection) -> list[DeviceFacts]:
    """Every device with its effective labels (a person's override wins), addresses and
    fingerprints."""
    listed = list_devices(connection, DeviceFilter())
    extra = {
        row.id: row
        for row in connection.execute(
            select(devices.c.id, devices.c.oui_vendor, devices.c.created_at)
        )
    }
    prints: dict[str, dict[str, list[FingerprintValue]]] = defaultdict(lambda: defaultdict(list))
    for fp in connection.execute(select(fingerprints)):
        prints[fp.device_id][fp.kind].append(
            FingerprintValue(fp.value, fp.first_seen, fp.last_seen)
        )
    out = []
    for device in listed:
        row = extra.get(device["id"])
        out.append(
            DeviceFacts(
                id=device["id"],
                site=device["site"],
                addresses=tuple(device["ipv4"] + device["ipv6"]),
                wings=tuple(device["wings"]),
                vlans=tuple(device["vlans"]),
                mac=device["mac"],
                category=device["category"],
                criticality=device["criticality"],
                handles_phi=device["handles_phi"],
                vendor=device["vendor"],
                model=device["model"],
                oui_vendor=row.oui_vendor if row else None,
                evidence_kinds=tuple(str(e.get("kind", "")) for e in device["evidence"]),
                first_seen=_parse(device["first_seen"]),
                created_at=row.created_at if row else None,
                fingerprints={k: tuple(v) for k, v in prints.get(device["id"], {}).items()},
            )
        )
    return out


def hosts_of(devices_: Sequence[DeviceFacts]) -> Hosts:
    return {
        (d.site, address): HostInfo(d.id, d.site, d.category, d.wings, d.vlans, d.criticality)
        for d in devices_
        for address in d.addresses
    }


def iter_flows(
    connection: Connection, after: datetime | None, until: datetime | None = None
) -> Iterator[tuple[datetime, ObservedFlow]]:
    """Flows received in (after, until] (central clock), oldest first, streamed."""
    query = select(flows).order_by(flows.c.received_at)
    if after is not None:
        query = query.where(flows.c.received_at > after)
    if until is not None:
        query = query.where(flows.c.received_at <= until)
    # yield_per on the statement, not the connection: later statements must not stream.
    for row in connection.execute(query.execution_options(yield_per=5000)):
        yield (
            row.received_at,
            ObservedFlow(
                site=row.site,
                ts=row.ts,
                orig_h=row.orig_h,
                orig_p=row.orig_p,
                resp_h=row.resp_h,
                resp_p=row.resp_p,
                proto=row.proto,
                service=row.service,
                conn_state=row.conn_state,
                resp_bytes=row.resp_bytes,
                resp_pkts=row.resp_pkts,
                community_id=row.community_id,
                wing=row.wing,
                server_name=row.server_name,
            ),
        )


def load_communications(connection: Connection, site: str | None = None) -> list[Communication]:
    query = select(communications)
    if site is not None:
        query = query.where(communications.c.site == site)
    return [
        Communication(
            r.site,
            r.orig,
            r.resp,
            r.proto,
            r.port,
            r.service or None,
            r.flows,
            r.first_seen,
            r.last_seen,
            r.server_name,
        )
        for r in connection.execute(query)
    ]


# ---------------------------------------------------------------- evaluation


def evaluate(connection: Connection, context: RiskContext, now: datetime) -> EvaluationResult:
    """One evaluation run; call inside a transaction (engine.begin()). The returned
    events are for the alert channels, to deliver after the commit."""
    result = EvaluationResult()
    facts = load_devices(connection)
    evaluator = RiskEvaluator(context.rules, facts, now, context.policy, context.advisories)
    mark = read_mark(connection, FLOWS_MARK)
    newest = mark
    # Ingest transactions stamp received_at before they commit: reading only what is at
    # least settle_s old keeps a slow commit from landing behind the mark, unread.
    until = now - timedelta(seconds=context.settle_s) if context.settle_s > 0 else None
    for received_at, flow in iter_flows(connection, mark, until):
        evaluator.add_flow(flow)
        newest = received_at if newest is None or received_at > newest else newest
    result.flows_read = evaluator.flows_seen
    fresh = evaluator.finish()
    touched = _merge(connection, fresh, now)
    result.findings_changed = len(touched)
    if newest is not None:
        set_mark(connection, FLOWS_MARK, newest)
    by_id = {d.id: d for d in facts}
    items = []
    for row in touched:
        device = by_id.get(row["device_id"])
        if device is not None:
            items.append((row, device.site, device.wings[0] if device.wings else "-"))
    result.events = observe_all(connection, items, now, context.alert_settings)
    result.scores = _rescore(connection, context.rules, facts, now)
    last = read_mark(connection, SNAPSHOT_MARK)
    if last is None or (now - last).total_seconds() >= context.snapshot_interval_s:
        snapshot(connection, facts, result.scores, now)
        set_mark(connection, SNAPSHOT_MARK, now)
        result.snapshot_taken = True
    return result


def _merge(connection: Connection, fresh: list[Finding], now: datetime) -> list[dict[str, Any]]:
    existing = {
        (row["finding"], row["device_id"], row["peer"]): dict(row)
        for row in connection.execute(select(findings)).mappings()
    }
    touched = []
    new_rows: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    fresh_device_level = set()
    for finding in fresh:
        key = finding.key
        device_level = finding.evidence.get("basis") in DEVICE_LEVEL_BASES
        if device_level:
            fresh_device_level.add(key)
        old = existing.get(key)
        values = {
            "severity": finding.severity,
            "first_seen": finding.first_seen,
            "last_seen": finding.last_seen,
            "count": finding.count,
            "detail": finding.detail,
            "community_id": finding.community_id,
            "zones": list(finding.zones),
            "evidence": finding.evidence,
            "updated_at": now,
        }
        if old is None:
            row = {"finding": key[0], "device_id": key[1], "peer": key[2], **values}
            new_rows.append(row)
            touched.append(row)
            continue
        if device_level:
            if old["detail"] == finding.detail and old["severity"] == finding.severity:
                continue
            values["count"] = old["count"]
        else:
            values["count"] = old["count"] + finding.count
            values["first_seen"] = min(old["first_seen"], finding.first_seen)
            values["last_seen"] = max(old["last_seen"], finding.last_seen)
            values["community_id"] = old["community_id"] or finding.community_id
            if _rank(old["severity"]) > _rank(finding.severity):
                values["severity"], values["detail"] = old["severity"], old["detail"]
        updates.append({"finding_id": old["id"], **values})
        touched.append({**old, **values})
    # One statement per batch: per-row statements cost ~1 ms each (bench_risk).
    if new_rows:
        connection.execute(findings.insert(), new_rows)
    if updates:
        columns = [name for name in updates[0] if name != "finding_id"]
        connection.execute(
            findings.update()
            .where(findings.c.id == bindparam("finding_id"))
            .values({name: bindparam(name) for name in columns}),
            updates,
        )
    gone = [
        old["id"]
        for key, old in existing.items()
        if old["evidence"].get("basis") in DEVICE_LEVEL_BASES and key not in fresh_device_level
    ]
    if gone:
        connection.execute(delete(findings).where(findings.c.id.in_(gone)))
    return touched


def _rescore(
    connection: Connection, rules: RiskRules, facts: Sequence[DeviceFacts], now: datetime
) -> dict[str, DeviceScore]:
    by_device: dict[str, list[Finding]] = defaultdict(list)
    for row in connection.execute(select(findings)).mappings():
        by_device[row["device_id"]].append(_finding(row))
    scores = {d.id: score_device(rules, d, by_device.get(d.id, ())) for d in facts}
    connection.execute(delete(device_risk_table))
    if scores:
        connection.execute(
            device_risk_table.insert(),
            [
                {
                    "device_id": s.device_id,
                    "risk": s.score,
                    "band": s.band,
                    "explanation": s.as_json(),
                    "updated_at": now,
                }
                for s in scores.values()
            ],
        )
    return scores


def stored_findings(connection: Connection) -> list[Finding]:
    return [_finding(row) for row in connection.execute(select(findings)).mappings()]


def _finding(row: Any) -> Finding:
    return Finding(
        finding=row["finding"],
        device_id=row["device_id"],
        severity=row["severity"],
        first_seen=row["first_seen"],
        last_seen=row["last_seen"],
        detail=row["detail"],
        peer=row["peer"] or None,
        count=row["count"],
        community_id=row["community_id"],
        zones=tuple(row["zones"] or ()),
        evidence=row["evidence"] or {},
    )


def device_risk(connection: Connection, ids: list[str]) -> dict[str, dict[str, Any]]:
    """{id: {"risk", "band", "explanation", "findings"}} for the query layer."""
    out: dict[str, dict[str, Any]] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        for row in connection.execute(
            select(device_risk_table).where(device_risk_table.c.device_id.in_(chunk))
        ):
            out[row.device_id] = {
                "risk": row.risk,
                "band": row.band,
                "explanation": row.explanation["explanation"],
                "findings": [],
            }
        query = select(findings).where(findings.c.device_id.in_(chunk)).order_by(findings.c.id)
        for mapping in connection.execute(query).mappings():
            entry = out.setdefault(
                mapping["device_id"], {"risk": 0, "band": "low", "explanation": "", "findings": []}
            )
            entry["findings"].append(_finding(mapping).as_json())
    for entry in out.values():
        entry["findings"].sort(key=lambda f: (-_rank(f["severity"]), f["id"], f["peer"] or ""))
    return out


# ---------------------------------------------------------------- roll-ups and trend


def snapshot(
    connection: Connection,
    facts: Sequence[DeviceFacts],
    scores: dict[str, DeviceScore],
    now: datetime,
) -> list[dict[str, Any]]:
    """Store the roll-ups per site and wing at `now` (the trend's points)."""
    current = rollups(facts, scores, stored_findings(connection))
    rows = [
        {
            "at": now,
            "site": r["site"],
            "wing": r["wing"] or "",
            "devices": r["devices"],
            "mean_risk": r["mean_risk"],
            "max_risk": r["max_risk"],
            "by_band": r["by_band"],
            "findings_by_severity": r["findings_by_severity"],
        }
        for r in current
    ]
    if rows:
        connection.execute(risk_snapshots.insert(), rows)
    return current


def trend(
    connection: Connection, site: str, wing: str | None = None, since: datetime | None = None
) -> list[dict[str, Any]]:
    """The snapshots of one site (wing None) or wing, oldest first."""
    query = (
        select(risk_snapshots)
        .where(risk_snapshots.c.site == site, risk_snapshots.c.wing == (wing or ""))
        .order_by(risk_snapshots.c.at)
    )
    if since is not None:
        query = query.where(risk_snapshots.c.at >= since)
    return [
        {
            "at": iso_z(r.at),
            "devices": r.devices,
            "mean_risk": r.mean_risk,
            "max_risk": r.max_risk,
            "by_band": r.by_band,
            "findings_by_severity": r.findings_by_severity,
        }
        for r in connection.execute(query)
    ]


def current_rollups(connection: Connection, rules: RiskRules) -> list[dict[str, Any]]:
    facts = load_devices(connection)
    found = stored_findings(connection)
    by_device: dict[str, list[Finding]] = defaultdict(list)
    for f in found:
        by_device[f.device_id].append(f)
    scores = {d.id: score_device(rules, d, by_device.get(d.id, ())) for d in facts}
    return rollups(facts, scores, found)


def fix_first_list(
    connection: Connection, rules: RiskRules, limit: int = 50, site: str | None = None
) -> list[dict[str, Any]]:
    """The ranked "fix these first" list from the stored findings."""
    facts = [d for d in load_devices(connection) if site is None or d.site == site]
    by_device: dict[str, list[Finding]] = defaultdict(list)
    for f in stored_findings(connection):
        by_device[f.device_id].append(f)
    scores = {d.id: score_device(rules, d, by_device.get(d.id, ())) for d in facts}
    return fix_first(rules, facts, scores, limit)


# ---------------------------------------------------------------- baseline


def learn(
    connection: Connection,
    policy: Policy,
    now: datetime,
    start: datetime | None = None,
    end: datetime | None = None,
) -> list[BaselineEntry]:
    """Learn the baseline from the communications of [start, end] and store it (replacing
    the previous one)."""
    hosts = hosts_of(load_devices(connection))
    entries = learn_baseline(load_communications(connection), hosts, policy.zone_map, start, end)
    connection.execute(delete(baseline))
    rows = [
        {
            "learned_at": now,
            "window_start": start,
            "window_end": end,
            "site": e.site,
            "orig": e.orig.address,
            "orig_device": e.orig.device_id,
            "orig_category": e.orig.category,
            "orig_zone": e.orig.zone,
            "resp": e.resp.address,
            "resp_device": e.resp.device_id,
            "resp_category": e.resp.category,
            "resp_zone": e.resp.zone,
            "proto": e.proto,
            "port": e.port,
            "service": e.service or "",
            "server_name": e.server_name,
            "flows": e.flows,
            "first_seen": e.first_seen,
            "last_seen": e.last_seen,
        }
        for e in entries
    ]
    if rows:
        connection.execute(baseline.insert(), rows)
    return entries


def stored_baseline(connection: Connection, site: str | None = None) -> list[BaselineEntry]:
    query = select(baseline)
    if site is not None:
        query = query.where(baseline.c.site == site)
    return [
        BaselineEntry(
            r.site,
            Side(r.orig, r.orig_device, r.orig_category, r.orig_zone),
            Side(r.resp, r.resp_device, r.resp_category, r.resp_zone),
            r.proto,
            r.port,
            r.service or None,
            r.flows,
            r.first_seen,
            r.last_seen,
            r.server_name,
        )
        for r in connection.execute(query)
    ]


# ---------------------------------------------------------------- helpers


def read_mark(connection: Connection, name: str) -> datetime | None:
    return connection.execute(select(risk_state.c.at).where(risk_state.c.name == name)).scalar()


def set_mark(connection: Connection, name: str, at: datetime) -> None:
    if connection.execute(select(risk_state.c.name).where(risk_state.c.name == name)).first():
        connection.execute(risk_state.update().where(risk_state.c.name == name).values(at=at))
    else:
        connection.execute(risk_state.insert().values(name=name, at=at))


def _rank(severity: str) -> int:
    return ("low", "medium", "high", "critical").index(severity)


def _parse(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None
