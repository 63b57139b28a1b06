"""Read the inventory as the API contract shapes it (plain dicts, JSON-ready).

    with engine.connect() as connection:
        devices = list_devices(connection, DeviceFilter(site="st-mary", category="infusion_pump"))
        one = get_device(connection, devices[0]["id"])     # + history, addresses, peers ...

The web pages, the JSON API and the exports all read through here, so a filter means the
same everywhere. A person's label (label_overrides) wins over the rules' on every field it
sets. `risk` and `findings` come from central.risk when it is installed (h-risk's
`device_risk(connection, ids) -> {id: {"risk": int, "findings": [...]}}`), else 0 and [].
"""

from __future__ import annotations

import ipaddress
import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    Text,
    case,
    cast,
    exists,
    func,
    or_,
    select,
)

from central.db.tables import (
    communications,
    device_addresses,
    device_history,
    device_services,
    devices,
    fingerprints,
    label_overrides,
    rejected_messages,
    sensors,
)
from central.risk.tables import device_risk

CATEGORIES = (
    "infusion_pump",
    "patient_monitor",
    "imaging",
    "pacs",
    "hl7_interface",
    "ehr_server",
    "lab_analyzer",
    "nurse_call",
    "label_printer",
    "workstation",
    "ip_camera",
    "network_infrastructure",
    "server",
    "unknown",
)
CRITICALITIES = ("life-sustaining", "monitoring", "diagnostic", "clinical IT", "administrative")
# Risk bands as [low, high) score ranges (the page's and the API's `risk` filter).
RISK_BANDS = {"low": (0, 25), "medium": (25, 50), "high": (50, 75), "critical": (75, None)}
# Orders a device list can take; "site" (site, id) is the API's default, "risk" the page's.
DEVICE_SORTS = ("site", "risk", "category", "name", "first_seen", "last_seen")
# Fields a person's label may set, and the device column each overrides.
OVERRIDABLE = ("category", "vendor", "model", "modality", "criticality", "handles_phi")


@dataclass(frozen=True)
class DeviceFilter:
    """The filters every device list takes (API query parameters, page filters, export).

    `since`: devices the central service first stored at or after this time (the "new
    since yesterday" question; packet times of old captures would not answer it).
    `search`: case-insensitive text in id, MAC, addresses, vendor, model, category.
    `risk`: a risk band (RISK_BANDS) of the stored score.
    All of them run in the database, so a page of a large inventory reads one page.
    """

    site: str | None = None
    wing: str | None = None
    category: str | None = None
    handles_phi: bool | None = None
    since: datetime | None = None
    criticality: str | None = None
    search: str | None = None
    risk: str | None = None


def iso(value: datetime | None) -> str | None:
    """ISO 8601 UTC with a Z, as the API prints times."""
    if value is None:
        return None
    return value.isoformat().replace("+00:00", "Z")


def _effective(column: str) -> Any:
    return func.coalesce(label_overrides.c[column], devices.c[column])


def _device_select() -> Select[Any]:
    return select(
        devices,
        *(label_overrides.c[name].label(f"override_{name}") for name in OVERRIDABLE),
        label_overrides.c.actor.label("override_actor"),
        label_overrides.c.note.label("override_note"),
        label_overrides.c.at.label("override_at"),
    ).select_from(
        devices.outerjoin(label_overrides, label_overrides.c.device_id == devices.c.id).outerjoin(
            device_risk, device_risk.c.device_id == devices.c.id
        )
    )


def _risk_score() -> Any:
    return func.coalesce(device_risk.c.risk, 0)


def _conditions(where: DeviceFilter) -> list[ColumnElement[bool]]:
    """The filter as SQL conditions (the same on SQLite and PostgreSQL)."""
    out: list[ColumnElement[bool]] = []
    if where.site is not None:
        out.append(devices.c.site == where.site)
    if where.wing is not None:
        # wings is a JSON list written by json.dumps: the quoted name is in its text.
        wings_text = cast(devices.c.wings, Text)
        out.append(wings_text.contains(json.dumps(where.wing), autoescape=True))
    if where.category is not None:
        out.append(_effective("category") == where.category)
    if where.criticality is not None:
        out.append(_effective("criticality") == where.criticality)
    if where.handles_phi is not None:
        out.append(_effective("handles_phi") == where.handles_phi)
    if where.since is not None:
        out.append(devices.c.created_at >= where.since)
    if where.risk is not None:
        low, high = RISK_BANDS[where.risk]
        out.append(_risk_score() >= low)
        if high is not None:
            out.append(_risk_score() < high)
    if where.search:
        needle = where.search.lower()

        def has(column: Any) -> ColumnElement[bool]:
            return func.lower(column).contains(needle, autoescape=True)

        address = exists().where(
            device_addresses.c.device_id == devices.c.id, has(device_addresses.c.address)
        )
        out.append(
            or_(
                has(devices.c.id),
                has(devices.c.mac),
                has(_effective("vendor")),
                has(_effective("model")),
                has(_effective("category")),
                address,
            )
        )
    return out


def _order(sort: str) -> list[Any]:
    """ORDER BY for one of DEVICE_SORTS; clinical categories first among equals, as the
    product lists them, and the id last so pages never overlap."""
    vendor_model = func.trim(
        func.coalesce(_effective("vendor"), "") + " " + func.coalesce(_effective("model"), "")
    )
    name = func.coalesce(func.nullif(func.lower(vendor_model), ""), "~")
    rank = case(
        {category: index for index, category in enumerate(CATEGORIES)},
        value=_effective("category"),
        else_=len(CATEGORIES),
    )
    orders: dict[str, list[Any]] = {
        "site": [devices.c.site],
        "risk": [_risk_score().desc(), rank, name],
        "category": [rank, name],
        "name": [name],
        "first_seen": [devices.c.first_seen],
        "last_seen": [devices.c.last_seen.desc()],
    }
    return [*orders[sort], devices.c.id]


def list_devices(
    connection: Connection,
    where: DeviceFilter | None = None,
    sort: str = "site",
    limit: int | None = None,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """The devices that pass the filter, in `sort` order (DEVICE_SORTS; default site then
    id), `limit` of them from `offset` (API `GET /api/devices`). Filtering, ordering and
    paging run in the database: only the rows returned are assembled."""
    query = _device_select().where(*_conditions(where or DeviceFilter())).order_by(*_order(sort))
    if limit is not None:
        query = query.limit(limit)
    if offset:
        query = query.offset(offset)
    return _assemble(connection, connection.execute(query).mappings().all())


def device_totals(
    connection: Connection, where: DeviceFilter | None, new_since: datetime
) -> dict[str, Any]:
    """Counts over every device that passes the filter, in one query: `devices`, `phi`,
    `life_sustaining`, `unknown`, `new_this_week` (stored at or after `new_since`),
    `at_risk` (risk 50 or more), and `newest_seen` (the latest last_seen, ISO)."""

    def count_of(condition: Any) -> Any:
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    query = select(
        func.count().label("devices"),
        count_of(_effective("handles_phi") == True).label("phi"),  # noqa: E712 (SQL)
        count_of(_effective("criticality") == "life-sustaining").label("life_sustaining"),
        count_of(_effective("category") == "unknown").label("unknown"),
        count_of(devices.c.created_at >= new_since).label("new_this_week"),
        count_of(_risk_score() >= 50).label("at_risk"),
        func.max(devices.c.last_seen).label("newest_seen"),
    ).select_from(
        devices.outerjoin(label_overrides, label_overrides.c.device_id == devices.c.id).outerjoin(
            device_risk, device_risk.c.device_id == devices.c.id
        )
    )
    row = connection.execute(query.where(*_conditions(where or DeviceFilter()))).mappings().one()
    totals: dict[str, Any] = {name: int(row[name]) for name in row if name != "newest_seen"}
    totals["newest_seen"] = iso(row["newest_seen"])
    return totals


def get_device(connection: Connection, device_id: str) -> dict[str, Any] | None:
    """One device with everything known of it (API `GET /api/devices/{id}`), or None.

    Beyond the list fields: `addresses` (each with first/last seen), `services`,
    `fingerprints`, `peers` (aggregated communications), `history` (oldest first),
    `label` (the person's override, or None), and `suggestions` for an `unknown`
    device (the most similar known devices by behaviour, marked as suggestions).
    """
    row = connection.execute(_device_select().where(devices.c.id == device_id)).mappings().first()
    if row is None:
        return None
    device = _assemble(connection, [row])[0]
    device["addresses"] = [
        {
            "address": address["address"],
            "first_seen": iso(address["first_seen"]),
            "last_seen": iso(address["last_seen"]),
        }
        for address in connection.execute(
            select(device_addresses)
            .where(device_addresses.c.device_id == device_id)
            .order_by(device_addresses.c.address)
        ).mappings()
    ]
    device["services"] = [
        {
            "service": s["service"],
            "first_seen": iso(s["first_seen"]),
            "last_seen": iso(s["last_seen"]),
        }
        for s in connection.execute(
            select(device_services)
            .where(device_services.c.device_id == device_id)
            .order_by(device_services.c.service)
        ).mappings()
    ]
    device["fingerprints"] = [
        {
            "kind": fp["kind"],
            "value": fp["value"],
            "first_seen": iso(fp["first_seen"]),
            "last_seen": iso(fp["last_seen"]),
        }
        for fp in connection.execute(
            select(fingerprints)
            .where(fingerprints.c.device_id == device_id)
            .order_by(fingerprints.c.kind, fingerprints.c.value)
        ).mappings()
    ]
    device["peers"] = device_peers(connection, row["site"], device["ipv4"] + device["ipv6"])
    device["history"] = [
        {
            "at": iso(entry["at"]),
            "seen": iso(entry["seen"]),
            "change": entry["change"],
            "detail": entry["detail"],
            "actor": entry["actor"],
        }
        for entry in connection.execute(
            select(device_history)
            .where(device_history.c.device_id == device_id)
            .order_by(device_history.c.at, device_history.c.id)
        ).mappings()
    ]
    device["label"] = (
        {
            **{name: row[f"override_{name}"] for name in OVERRIDABLE},
            "note": row["override_note"],
            "actor": row["override_actor"],
            "at": iso(row["override_at"]),
        }
        if row["override_actor"] is not None
        else None
    )
    device["suggestions"] = (
        _suggestions(connection, device) if device["category"] == "unknown" else []
    )
    return device


def device_peers(connection: Connection, site: str, addresses: list[str]) -> list[dict[str, Any]]:
    """Aggregated communications of these addresses: one entry per (peer, proto, port,
    service, direction), with flows, bytes each way and first/last seen, most flows first.
    `peer_device` is the peer's device id when the inventory knows the peer."""
    if not addresses:
        return []
    rows = connection.execute(
        select(communications).where(
            communications.c.site == site,
            or_(communications.c.orig.in_(addresses), communications.c.resp.in_(addresses)),
        )
    ).mappings()
    mine = set(addresses)
    out = []
    for row in rows:
        originated = row["orig"] in mine
        out.append(
            {
                "peer": row["resp"] if originated else row["orig"],
                "direction": "outbound" if originated else "inbound",
                "proto": row["proto"],
                "port": row["port"],
                "service": row["service"] or None,
                "flows": row["flows"],
                "bytes_sent": row["orig_bytes"] if originated else row["resp_bytes"],
                "bytes_received": row["resp_bytes"] if originated else row["orig_bytes"],
                "first_seen": iso(row["first_seen"]),
                "last_seen": iso(row["last_seen"]),
            }
        )
    owners = address_owners(connection, site, [peer["peer"] for peer in out])
    for peer in out:
        peer["peer_device"] = owners.get(peer["peer"])
    out.sort(key=lambda peer: (-peer["flows"], peer["peer"], peer["port"]))
    return out


def address_owners(connection: Connection, site: str, addresses: Iterable[str]) -> dict[str, str]:
    """{address: device id} for the addresses a device of `site` holds."""
    wanted = sorted(set(addresses))
    if not wanted:
        return {}
    rows = connection.execute(
        select(device_addresses.c.address, device_addresses.c.device_id).where(
            device_addresses.c.site == site, device_addresses.c.address.in_(wanted)
        )
    )
    return {address: device_id for address, device_id in rows}


def summary(connection: Connection, where: DeviceFilter | None = None) -> dict[str, Any]:
    """Counts per site and wing by category, criticality, PHI, and risk band
    (API `GET /api/summary`): {"sites": {site: {"devices", "by_category", ...,
    "wings": {wing: {...}}}}, "devices": total}. A device seen in two wings counts in both
    wings and once in its site."""
    rows = list_devices(connection, where)
    sites: dict[str, Any] = {}
    for device in rows:
        site = sites.setdefault(device["site"], {**_counts(), "wings": {}})
        _count(site, device)
        for wing in device["wings"] or ["(none)"]:
            _count(site["wings"].setdefault(wing, _counts()), device)
    return {"devices": len(rows), "sites": sites}


def _counts() -> dict[str, Any]:
    return {"devices": 0, "handles_phi": 0, "by_category": {}, "by_criticality": {}, "by_risk": {}}


def _count(bucket: dict[str, Any], device: dict[str, Any]) -> None:
    bucket["devices"] += 1
    bucket["handles_phi"] += int(device["handles_phi"])
    for key, value in (
        ("by_category", device["category"]),
        ("by_criticality", device["criticality"]),
        ("by_risk", risk_band(device["risk"])),
    ):
        bucket[key][value] = bucket[key].get(value, 0) + 1


def risk_band(risk: int | None) -> str:
    """low (< 25), medium (< 50), high (< 75), critical."""
    value = risk or 0
    if value < 25:
        return "low"
    if value < 50:
        return "medium"
    if value < 75:
        return "high"
    return "critical"


def list_sensors(
    connection: Connection, now: datetime, silent_after_s: float
) -> list[dict[str, Any]]:
    """The fleet (API `GET /api/sensors`): one dict per sensor with site, wing, version,
    last message, drops, spool backlog, clock skew, rejected messages, and `silent`
    (True when its last message is older than `silent_after_s` on the central clock, or
    its last status said it went offline: the broker's last will)."""
    out = []
    for row in connection.execute(
        select(sensors).order_by(sensors.c.site, sensors.c.sensor_id)
    ).mappings():
        last = row["last_message_at"]
        silent_s = (now - last).total_seconds() if last is not None else None
        out.append(
            {
                "id": row["sensor_id"],
                "site": row["site"],
                "wing": row["wing"],
                "version": row["agent_version"],
                "status": row["status"],
                "boot": row["boot"],
                "first_message": iso(row["first_message_at"]),
                "last_message": iso(last),
                "last_window_end": iso(row["last_window_end"]),
                "messages": row["messages"],
                "flows": row["flows"],
                "device_updates": row["device_updates"],
                "drops": row["drops"],
                "spool_backlog_bytes": row["spool_backlog_bytes"],
                "clock_skew_s": row["clock_skew_s"],
                "rejected": row["rejected"],
                "silent": silent_s is None
                or silent_s > silent_after_s
                or row["status"] == "offline",
                "silent_for_s": silent_s,
            }
        )
    return out


def rejected_summary(connection: Connection) -> list[dict[str, Any]]:
    """Rejected messages as counts per (topic, reason): never their content."""
    return [
        {
            "topic": row["topic"],
            "reason": row["reason"],
            "claimed_sensor": row["claimed_sensor"],
            "count": row["count"],
            "first_at": iso(row["first_at"]),
            "last_at": iso(row["last_at"]),
            "detail": row["last_detail"],
        }
        for row in connection.execute(
            select(rejected_messages).order_by(rejected_messages.c.last_at.desc())
        ).mappings()
    ]


# ---------------------------------------------------------------- assembly


def _assemble(connection: Connection, rows: Sequence[Any]) -> list[dict[str, Any]]:
    ids = [row["id"] for row in rows]
    addresses: dict[str, list[str]] = defaultdict(list)
    for chunk in _chunks(ids):
        for device_id, address in connection.execute(
            select(device_addresses.c.device_id, device_addresses.c.address)
            .where(device_addresses.c.device_id.in_(chunk))
            .order_by(device_addresses.c.address)
        ):
            addresses[device_id].append(address)
    risk = _risk_lookup()(connection, ids) if ids else {}
    out = []
    for row in rows:
        ipv4, ipv6 = _split_families(addresses.get(row["id"], []))
        effective = {
            name: row[f"override_{name}"] if row[f"override_{name}"] is not None else row[name]
            for name in OVERRIDABLE
        }
        labelled = row["override_actor"] is not None
        device_risk = risk.get(row["id"], {})
        out.append(
            {
                "id": row["id"],
                "mac": row["mac"],
                "site": row["site"],
                "wings": list(row["wings"] or []),
                "sensors": list(row["sensors"] or []),
                "ipv4": ipv4,
                "ipv6": ipv6,
                "vlans": list(row["vlans"] or []),
                "vendor": effective["vendor"],
                "model": effective["model"],
                "category": effective["category"],
                "modality": effective["modality"] if effective["category"] == "imaging" else None,
                "confidence": 1.0 if labelled else round(row["confidence"], 3),
                "evidence": list(row["evidence"] or []),
                "handles_phi": bool(effective["handles_phi"]),
                "phi_reason": row["phi_reason"],
                "criticality": effective["criticality"],
                "protocols": list(row["protocols"] or []),
                "labelled_by": row["override_actor"],
                "first_seen": iso(row["first_seen"]),
                "last_seen": iso(row["last_seen"]),
                "discovered_at": iso(row["created_at"]),
                "risk": device_risk.get("risk", 0),
                "findings": device_risk.get("findings", []),
            }
        )
    return out


def _split_families(addresses: list[str]) -> tuple[list[str], list[str]]:
    ipv4 = [a for a in addresses if ":" not in a]
    ipv6 = [a for a in addresses if ":" in a]
    ipv4.sort(key=lambda a: ipaddress.ip_address(a))
    return ipv4, ipv6


def _chunks(ids: list[str], size: int = 500) -> Iterable[list[str]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


RiskLookup = Callable[[Connection, list[str]], dict[str, dict[str, Any]]]


def _no_risk(_connection: Connection, _ids: list[str]) -> dict[str, dict[str, Any]]:
    return {}


def _risk_lookup() -> RiskLookup:
    try:
        from central.risk import device_risk  # type: ignore[attr-defined]
    except ImportError:
        return _no_risk
    return device_risk  # type: ignore[no-any-return]


def _suggestions(
    connection: Connection, device: dict[str, Any], limit: int = 3
) -> list[dict[str, Any]]:
    from central.classify.similar import similar_devices

    return similar_devices(connection, device, limit)
