"""Write what sensors observed into the inventory: device observations (one MAC each)
and the hosts that flows show behind a router (one address each).

Every function here runs inside the caller's transaction (ingest commits once per
message) and is idempotent: applying the same observation twice leaves the same rows.
A device row is locked (SELECT ... FOR NO KEY UPDATE on PostgreSQL; SQLite serializes
writers) before its sets are merged, so two ingest instances never lose each other's
additions. NO KEY: the id never changes here, and the risk evaluation's references to
the row (FOR KEY SHARE, foreign keys) neither wait for nor block an ingest.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, and_, bindparam, delete, exists, func, select, update

from central.classify.classifier import Classification, DeviceFacts, classify
from central.classify.ruleset import RuleSet
from central.db.locks import hold_off_evaluation
from central.db.tables import (
    device_addresses,
    device_history,
    device_services,
    devices,
    fingerprints,
)
from central.inventory.dialect import greatest, least, upsert
from central.inventory.identity import address_device_id, mac_device_id
from central.risk.tables import alerts

# A new value of one of these kinds means the device changed (new firmware, a swapped
# unit behind the same MAC); other kinds accumulate (SNIs, message types, services).
IDENTITY_KINDS = frozenset(
    {
        "dhcp_vendor_class", "dhcp_parameter_list", "dhcp_hostname", "dhcp_client_id",
        "dhcpv6_vendor_class", "lldp_system_name", "lldp_system_description",
        "cdp_device_id", "cdp_software_version", "cdp_platform", "ssdp_server",
        "http_user_agent", "http_server", "dicom_ae_title", "dicom_implementation_class_uid",
        "dicom_implementation_version", "hl7_sending_application", "hl7_device_model",
        "poct1_vendor", "poct1_model", "poct1_version", "tls_ja4", "hl7_device_type",
        "sip_user_agent", "sip_server", "rtsp_server", "rtsp_user_agent",
    }
)  # fmt: skip
# A device whose sensor lists this many IPv4 addresses answers for a whole network:
# a router. Its addresses say nothing about who it is, and hosts behind it get their own.
ROUTER_ADDRESSES = 4


@dataclass(frozen=True)
class Observer:
    """Who saw it: the message's site, wing and sensor."""

    site: str
    wing: str
    sensor: str


def from_us(value: int | float | None) -> datetime | None:
    if value is None:
        return None
    return datetime.fromtimestamp(value / 1e6, tz=UTC)


def apply_device(
    connection: Connection,
    observer: Observer,
    record: dict[str, Any],
    ruleset: RuleSet,
    now: datetime,
    fallback_seen: datetime,
) -> str:
    """Merge one device observation (a `device` record of the consumer) into the
    inventory; returns the device id. `fallback_seen`: the message's window end, for a
    record without first/last seen."""
    mac = str(record["mac"]).lower()
    site = observer.site
    did = mac_device_id(site, mac)
    first = from_us(record.get("first_seen_us")) or fallback_seen
    last = from_us(record.get("last_seen_us")) or first
    created = _insert_device(connection, did, site, "mac", mac, observer, first, last, now)
    row = _locked(connection, did)
    addresses = [*record.get("ipv4", []), *record.get("ipv6", [])]
    new_addresses = _merge_addresses(connection, did, site, addresses, first, last)
    new_fingerprints = _merge_fingerprints(
        connection, did, record.get("fingerprints", {}), first, last
    )
    new_services = _merge_services(connection, did, record.get("services", []), first, last)
    protocols = sorted(set(row["protocols"]) | set(record.get("protocols", [])))
    vendor = record.get("vendor") or row["oui_vendor"]
    values: dict[str, Any] = {
        "wings": _union(row["wings"], [observer.wing]),
        "sensors": _union(row["sensors"], [observer.sensor]),
        "vlans": _union(row["vlans"], record.get("vlans", [])),
        "protocols": protocols,
        "oui_vendor": vendor,
        "peers_estimate": max(row["peers_estimate"], int(record.get("peers", 0))),
        "hl7_messages": max(row["hl7_messages"], int(record.get("hl7_messages", 0))),
        "first_seen": min(row["first_seen"], first),
        "last_seen": max(row["last_seen"], last),
        "updated_at": now,
    }
    changed_facts = (
        created
        or bool(new_fingerprints or new_services or new_addresses)
        or protocols != list(row["protocols"])
        or vendor != row["oui_vendor"]
    )
    if changed_facts:
        peers = values["peers_estimate"]
        label = classify(_facts(connection, did, vendor, set(protocols), mac, peers), ruleset)
        values.update(_label_columns(label))
    connection.execute(update(devices).where(devices.c.id == did).values(**values))
    if created:
        _history(
            connection,
            did,
            now,
            last,
            "new_device",
            _new_device_detail(mac, observer, addresses, values),
        )
    else:
        for address in new_addresses:
            _history(connection, did, now, last, "new_address", {"address": address})
        for kind, value, previous in new_fingerprints:
            if kind in IDENTITY_KINDS and previous:
                _history(
                    connection, did, now, last, "fingerprint_changed",
                    {"kind": kind, "value": value, "previous": previous},
                )  # fmt: skip
        if changed_facts:
            _classification_history(connection, did, row, values, now, last)
    if not is_router(connection, did):
        _absorb_address_devices(connection, did, site, new_addresses)
    return did


@dataclass
class HostTraffic:
    """What flows showed of one address that no MAC device holds."""

    first_seen: datetime
    last_seen: datetime
    wings: set[str]
    services: set[str]  # ports it answered on
    protocols: set[str]


def apply_address_hosts(
    connection: Connection,
    observer: Observer,
    hosts: dict[str, HostTraffic],
    ruleset: RuleSet,
    now: datetime,
) -> list[str]:
    """Create or update one device per address for hosts seen only by address (behind a
    router). Returns the ids touched. Addresses that a MAC device already holds are the
    caller's to leave out."""
    hosts = _only_news(connection, observer, hosts, now)
    touched = []
    for address in sorted(hosts):  # one order everywhere: no deadlocks between instances
        traffic = hosts[address]
        did = address_device_id(observer.site, address)
        created = _insert_device(
            connection, did, observer.site, "address", address, observer,
            traffic.first_seen, traffic.last_seen, now,
        )  # fmt: skip
        row = _locked(connection, did)
        _merge_addresses(
            connection, did, observer.site, [address], traffic.first_seen, traffic.last_seen
        )
        new_services = _merge_services(
            connection, did, sorted(traffic.services), traffic.first_seen, traffic.last_seen
        )
        protocols = sorted(set(row["protocols"]) | traffic.protocols)
        values: dict[str, Any] = {
            "wings": _union(row["wings"], sorted(traffic.wings)),
            "sensors": _union(row["sensors"], [observer.sensor]),
            "protocols": protocols,
            "first_seen": min(row["first_seen"], traffic.first_seen),
            "last_seen": max(row["last_seen"], traffic.last_seen),
        }
        changed = created or bool(new_services) or protocols != list(row["protocols"])
        if not changed and values["last_seen"] == row["last_seen"]:
            continue
        values["updated_at"] = now
        if changed:
            label = classify(_facts(connection, did, None, set(protocols)), ruleset)
            values.update(_label_columns(label))
        connection.execute(update(devices).where(devices.c.id == did).values(**values))
        if created:
            detail = {"address": address, "behind_router": True, "category": values["category"]}
            _history(connection, did, now, traffic.last_seen, "new_device", detail)
        elif changed:
            _classification_history(connection, did, row, values, now, traffic.last_seen)
        touched.append(did)
    return touched


def _only_news(
    connection: Connection, observer: Observer, hosts: dict[str, HostTraffic], now: datetime
) -> dict[str, HostTraffic]:
    """The hosts with something new (a new device, service, protocol, wing or sensor);
    for the others only last seen moves, in two statements for all of them. Flows
    messages name the same servers again and again: this is the common case.
    (bench/bench_central.py: 3x fewer CPU seconds per 1,000 flows on SQLite.)"""
    ids = {address: address_device_id(observer.site, address) for address in hosts}
    rows = {
        row["id"]: row
        for row in connection.execute(
            select(
                devices.c.id,
                devices.c.protocols,
                devices.c.wings,
                devices.c.sensors,
                devices.c.last_seen,
            ).where(devices.c.id.in_(sorted(ids.values())))
        ).mappings()
    }
    services: dict[str, set[str]] = {}
    for device_id, service in connection.execute(
        select(device_services.c.device_id, device_services.c.service).where(
            device_services.c.device_id.in_(sorted(rows))
        )
    ):
        services.setdefault(device_id, set()).add(service)
    news: dict[str, HostTraffic] = {}
    touch = []
    for address, traffic in hosts.items():
        row = rows.get(ids[address])
        if (
            row is None
            or not traffic.services <= services.get(row["id"], set())
            or not traffic.protocols <= set(row["protocols"])
            or not traffic.wings <= set(row["wings"])
            or observer.sensor not in row["sensors"]
        ):
            news[address] = traffic
        elif traffic.last_seen > row["last_seen"]:
            touch.append({"b_id": row["id"], "b_address": address, "b_seen": traffic.last_seen})
    if touch:
        touch.sort(key=lambda item: item["b_id"])
        connection.execute(
            update(devices)
            .where(devices.c.id == bindparam("b_id"))
            .values(last_seen=bindparam("b_seen"), updated_at=now),
            touch,
        )
        connection.execute(
            update(device_addresses)
            .where(
                device_addresses.c.device_id == bindparam("b_id"),
                device_addresses.c.address == bindparam("b_address"),
            )
            .values(last_seen=bindparam("b_seen")),
            touch,
        )
    return news


def reclassify_all(connection: Connection, ruleset: RuleSet, now: datetime) -> int:
    """Apply `ruleset` to every device again (new rules installed); history records each
    label that changed. Returns how many changed."""
    changed = 0
    for row in connection.execute(select(devices)).mappings().all():
        label = classify(
            _facts(
                connection,
                row["id"],
                row["oui_vendor"],
                set(row["protocols"]),
                row["mac"],
                row["peers_estimate"],
            ),
            ruleset,
        )
        values = _label_columns(label)
        if any(values[key] != row[key] for key in values):
            connection.execute(update(devices).where(devices.c.id == row["id"]).values(**values))
            if _classification_history(connection, row["id"], row, values, now, None):
                changed += 1
    return changed


# ---------------------------------------------------------------- pieces


def _insert_device(
    connection: Connection,
    did: str,
    site: str,
    kind: str,
    identity: str,
    observer: Observer,
    first: datetime,
    last: datetime,
    now: datetime,
) -> bool:
    """Insert the device if it is new; True when this call created it."""
    statement = (
        upsert(connection, devices)
        .values(
            id=did,
            site=site,
            identity_kind=kind,
            identity=identity,
            mac=identity if kind == "mac" else None,
            wings=[observer.wing],
            sensors=[observer.sensor],
            vlans=[],
            protocols=[],
            peers_estimate=0,
            hl7_messages=0,
            first_seen=first,
            last_seen=last,
            created_at=now,
            updated_at=now,
            category="unknown",
            confidence=0.0,
            evidence=[],
            handles_phi=False,
            criticality="administrative",
        )
        .on_conflict_do_nothing(index_elements=["id"])
        .returning(devices.c.id)
    )
    return connection.execute(statement).first() is not None


def _locked(connection: Connection, did: str) -> Any:
    return (
        connection.execute(
            select(devices).where(devices.c.id == did).with_for_update(key_share=True)
        )
        .mappings()
        .one()
    )


def _merge_addresses(
    connection: Connection,
    did: str,
    site: str,
    addresses: list[str],
    first: datetime,
    last: datetime,
) -> list[str]:
    if not addresses:
        return []
    known = set(
        connection.execute(
            select(device_addresses.c.address).where(device_addresses.c.device_id == did)
        ).scalars()
    )
    statement = upsert(connection, device_addresses)
    statement = statement.on_conflict_do_update(
        index_elements=["device_id", "address"],
        set_={
            "first_seen": least(
                connection, device_addresses.c.first_seen, statement.excluded.first_seen
            ),
            "last_seen": greatest(
                connection, device_addresses.c.last_seen, statement.excluded.last_seen
            ),
        },
    )
    connection.execute(
        statement,
        [
            {
                "device_id": did,
                "address": address,
                "site": site,
                "family": 6 if ":" in address else 4,
                "first_seen": first,
                "last_seen": last,
            }
            for address in sorted(set(addresses))
        ],
    )
    return [address for address in sorted(set(addresses)) if address not in known]


def _merge_fingerprints(
    connection: Connection, did: str, given: dict[str, list[str]], first: datetime, last: datetime
) -> list[tuple[str, str, list[str]]]:
    """Upsert every value; returns (kind, new value, values that kind had before)."""
    if not given:
        return []
    before: dict[str, set[str]] = {}
    for kind, value in connection.execute(
        select(fingerprints.c.kind, fingerprints.c.value).where(fingerprints.c.device_id == did)
    ):
        before.setdefault(kind, set()).add(value)
    rows = [
        {
            "device_id": did,
            "kind": kind,
            "value": str(value)[:256],
            "first_seen": first,
            "last_seen": last,
        }
        for kind in sorted(given)
        for value in sorted(set(given[kind]))
    ]
    if not rows:
        return []
    statement = upsert(connection, fingerprints)
    statement = statement.on_conflict_do_update(
        index_elements=["device_id", "kind", "value"],
        set_={
            "last_seen": greatest(
                connection, fingerprints.c.last_seen, statement.excluded.last_seen
            )
        },
    )
    connection.execute(statement, rows)
    added = []
    for row in rows:
        kind, value = str(row["kind"]), str(row["value"])
        had = before.get(kind, set())
        if value not in had:
            added.append((kind, value, sorted(had)))
    return added


def _merge_services(
    connection: Connection, did: str, services: list[str], first: datetime, last: datetime
) -> list[str]:
    if not services:
        return []
    known = set(
        connection.execute(
            select(device_services.c.service).where(device_services.c.device_id == did)
        ).scalars()
    )
    statement = upsert(connection, device_services)
    statement = statement.on_conflict_do_update(
        index_elements=["device_id", "service"],
        set_={
            "last_seen": greatest(
                connection, device_services.c.last_seen, statement.excluded.last_seen
            )
        },
    )
    wanted = sorted(set(services))
    connection.execute(
        statement,
        [{"device_id": did, "service": s, "first_seen": first, "last_seen": last} for s in wanted],
    )
    return [service for service in wanted if service not in known]


def _facts(
    connection: Connection,
    did: str,
    vendor: str | None,
    protocols: set[str],
    mac: str | None = None,
    peers: int = 0,
) -> DeviceFacts:
    facts = DeviceFacts(oui_vendor=vendor, protocols=protocols, mac=mac)
    addresses = list(
        connection.execute(
            select(device_addresses.c.address).where(device_addresses.c.device_id == did)
        ).scalars()
    )
    facts.behaviours = address_behaviours(addresses)
    facts.behaviours["peers"] = float(peers)
    for kind, value in connection.execute(
        select(fingerprints.c.kind, fingerprints.c.value).where(fingerprints.c.device_id == did)
    ):
        facts.fingerprints.setdefault(kind, set()).add(value)
    facts.services = set(
        connection.execute(
            select(device_services.c.service).where(device_services.c.device_id == did)
        ).scalars()
    )
    return facts


def _label_columns(label: Classification) -> dict[str, Any]:
    return {
        "category": label.category,
        "vendor": label.vendor,
        "model": label.model,
        "modality": label.modality,
        "confidence": label.confidence,
        "evidence": label.evidence,
        "handles_phi": label.handles_phi,
        "phi_reason": label.phi_reason,
        "criticality": label.criticality,
    }


LABEL_FIELDS = ("category", "vendor", "model", "modality")


def _classification_history(
    connection: Connection,
    did: str,
    row: Any,
    values: dict[str, Any],
    now: datetime,
    seen: datetime | None,
) -> bool:
    before = {key: row[key] for key in LABEL_FIELDS}
    after = {key: values.get(key, row[key]) for key in LABEL_FIELDS}
    if before == after:
        return False
    detail = {"from": before, "to": after, "evidence": values.get("evidence", [])}
    _history(connection, did, now, seen, "classification_changed", detail)
    return True


def _new_device_detail(
    mac: str, observer: Observer, addresses: list[str], values: dict[str, Any]
) -> dict[str, Any]:
    return {
        "mac": mac,
        "wing": observer.wing,
        "sensor": observer.sensor,
        "addresses": sorted(addresses),
        "category": values.get("category", "unknown"),
        "vendor": values.get("vendor"),
    }


def _history(
    connection: Connection,
    did: str,
    now: datetime,
    seen: datetime | None,
    change: str,
    detail: dict[str, Any],
    actor: str | None = None,
) -> None:
    connection.execute(
        device_history.insert().values(
            device_id=did, at=now, seen=seen, change=change, detail=detail, actor=actor
        )
    )


def is_router(connection: Connection, did: str) -> bool:
    """A MAC that has carried ROUTER_ADDRESSES or more IPv4 addresses (over all time)."""
    count = connection.execute(
        select(func.count())
        .select_from(device_addresses)
        .where(device_addresses.c.device_id == did, device_addresses.c.family == 4)
    ).scalar_one()
    return bool(count >= ROUTER_ADDRESSES)


def tidy_address_devices(connection: Connection) -> int:
    """Delete address devices that turned out to be a MAC device's address: held by a
    MAC device that is no router, or held by a router in a subnet where other MAC
    devices live (the router's own interface). Such rows are left when one instance
    stores a host's first flows while another stores its MAC's observation, or when
    flows came before the observations. Returns how many went; ingest runs it
    periodically and when it stops."""
    routers = {
        device_id
        for (device_id,) in connection.execute(
            select(device_addresses.c.device_id)
            .where(device_addresses.c.family == 4)
            .group_by(device_addresses.c.device_id)
            .having(func.count() >= ROUTER_ADDRESSES)
        )
    }
    held: set[tuple[str, str]] = set()
    router_held: set[tuple[str, str]] = set()
    local_subnets: set[tuple[str, str]] = set()
    for site, address, device_id in connection.execute(
        select(device_addresses.c.site, device_addresses.c.address, device_addresses.c.device_id)
        .join(devices, devices.c.id == device_addresses.c.device_id)
        .where(devices.c.identity_kind == "mac")
    ):
        if device_id in routers:
            router_held.add((site, address))
        else:
            held.add((site, address))
            local_subnets.add((site, subnet_prefix(address)))
    orphans = [
        device_id
        for device_id, site, address in connection.execute(
            select(devices.c.id, devices.c.site, devices.c.identity).where(
                devices.c.identity_kind == "address"
            )
        )
        if (site, address) in held
        or ((site, address) in router_held and (site, subnet_prefix(address)) in local_subnets)
    ]
    if orphans:
        hold_off_evaluation(connection)
        connection.execute(delete(devices).where(devices.c.id.in_(orphans)))
    return len(orphans)


def address_behaviours(addresses: list[str]) -> dict[str, float]:
    """What the addresses a MAC carried say of it (classification behaviours): how many
    IPv4 addresses, in how many /24 subnets, and how many are public. A host holds an
    address or two of its own segment; a router carries the hosts behind it."""
    ipv4 = [a for a in addresses if ":" not in a]
    public = 0
    for address in addresses:
        try:
            public += ipaddress.ip_address(address).is_global
        except ValueError:
            continue
    return {
        "ipv4_addresses": float(len(ipv4)),
        "ipv4_subnets": float(len({subnet_prefix(a) for a in ipv4})),
        "public_addresses": float(public),
    }


def subnet_prefix(address: str) -> str:
    """The /24 (IPv4) or /64 (IPv6) as a text prefix (for LIKE): hosts in one subnet
    sit on one segment; a router's remote hosts sit in others."""
    if ":" in address:
        network = ipaddress.ip_network(f"{address}/64", strict=False)
        return network.network_address.exploded[:20]
    return address.rsplit(".", 1)[0] + "."


def _absorb_address_devices(
    connection: Connection, did: str, site: str, addresses: list[str]
) -> None:
    """A MAC device (`did`) now holds addresses that were devices of their own (flows came
    before its observation): those address devices were this one all along, and their
    alerts become its alerts."""
    if not addresses:
        return
    ids = [address_device_id(site, address) for address in addresses]
    absorbed = list(
        connection.execute(
            select(devices.c.id).where(devices.c.id.in_(ids), devices.c.identity_kind == "address")
        ).scalars()
    )
    if not absorbed:
        return
    # Not a change of this device (it held the address all along), so no history entry;
    # the absorbed row's own history goes with it.
    hold_off_evaluation(connection)
    _hand_over_alerts(connection, absorbed, did)
    connection.execute(delete(devices).where(devices.c.id.in_(absorbed)))


def _hand_over_alerts(connection: Connection, absorbed: list[str], did: str) -> None:
    """An alert already sent for an absorbed address device stays the same alert (its id,
    deliveries and acknowledgement), now of the device it was: the next evaluation then
    updates it instead of sending a second "new" one for the same problem. Where `did`
    already has an open alert of the same finding and peer, the absorbed one goes."""
    own = alerts.alias("own")
    same_open = exists().where(
        and_(
            own.c.device_id == did,
            own.c.finding == alerts.c.finding,
            own.c.peer == alerts.c.peer,
            own.c.state != "closed",
        )
    )
    connection.execute(
        update(alerts).where(alerts.c.device_id.in_(absorbed), ~same_open).values(device_id=did)
    )


def _union(current: list[Any] | None, more: Any) -> list[Any]:
    return sorted(set(current or []) | set(more))
