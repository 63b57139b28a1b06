"""One verified message's records into the database, in one transaction.

    outcome = store_message(engine, records, context)   # "stored", "duplicate", "rejected"

`records` is what agent.consumer.Consumer.handle returned for the message. A data
message is stored at most once: its (sensor, boot, seq) goes into ingested_messages in
the same transaction as its data, so a redelivery (to this instance or another) finds
the key and changes nothing. Rejected messages become counts per topic and reason.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, func, select

from agent.wire import parse_topic
from agent.wire.rejection import REPLAYED
from central.classify.ruleset import RuleSet
from central.db.tables import (
    communications,
    device_addresses,
    devices,
    flows,
    ingested_messages,
    rejected_messages,
    sensors,
)
from central.ingest.boots import SeenBoot, judge_boot
from central.inventory.dialect import greatest, least, upsert
from central.inventory.identity import is_local_host_address, mac_device_id
from central.inventory.store import (
    ROUTER_ADDRESSES,
    HostTraffic,
    Observer,
    apply_address_hosts,
    apply_device,
    subnet_prefix,
)

Clock = Callable[[], datetime]
# Engine counters (deltas per message) that count something the sensor lost; with the
# losses map (spool evictions) they make the fleet's `drops`.
DROP_COUNTERS = ("kernel_drops", "interface_drops", "records_lost", "device_events_dropped")


@dataclass
class IngestContext:
    ruleset: RuleSet
    clock: Clock
    counts: dict[str, int] = field(default_factory=dict)

    def count(self, name: str, n: int = 1) -> None:
        self.counts[name] = self.counts.get(name, 0) + n


def store_message(
    engine: Engine,
    records: list[dict[str, Any]],
    context: IngestContext,
    seen: SeenBoot | None = None,
) -> str:
    """Store one message's records; returns "stored", "duplicate", "rejected" or "empty".
    `seen`: who sent it (central.ingest.boots.RecordingTracker.last), judged against the
    boots every instance accepted: a replayed boot is rejected ("replayed"). Database
    errors propagate (the caller retries the whole message)."""
    if not records:
        return "empty"  # the consumer's own duplicate check dropped it
    now = context.clock()
    with engine.begin() as connection:
        if records[0]["type"] == "rejected":
            _store_rejected(connection, records[0], now)
            return "rejected"
        if seen is not None:
            replayed = judge_boot(connection, seen, now)
            if replayed is not None:
                topic = next((r["topic"] for r in records if "topic" in r), "")
                rejection = {"reason": REPLAYED, "detail": replayed, "topic": topic}
                _store_rejected(connection, {"type": "rejected", **rejection}, now)
                return "rejected"
        batch = next((r for r in records if r["type"] in ("batch", "health")), None)
        if batch is not None and not _first_time(connection, batch, now):
            return "duplicate"
        _store_records(connection, records, context, now)
    return "stored"


def _first_time(connection: Connection, batch: dict[str, Any], now: datetime) -> bool:
    kind = batch.get("kind", batch["type"])
    statement = (
        upsert(connection, ingested_messages)
        .values(
            sensor_id=batch["sensor"],
            boot=batch["boot"],
            seq=batch["seq"],
            kind=kind,
            received_at=now,
        )
        .on_conflict_do_nothing(index_elements=["sensor_id", "boot", "seq"])
        .returning(ingested_messages.c.seq)
    )
    # RETURNING, not rowcount: psycopg reports -1 for INSERT ... ON CONFLICT DO NOTHING.
    return connection.execute(statement).first() is not None


def _store_records(
    connection: Connection, records: list[dict[str, Any]], context: IngestContext, now: datetime
) -> None:
    # boot and gap records may come first; the message's own record carries its seq.
    head = next(r for r in records if r["type"] in ("batch", "health", "status"))
    observer = Observer(head["site"], head["wing"], head["sensor"])
    sensor: dict[str, Any] = {"messages": 1, "flows": 0, "device_updates": 0, "drops": 0}
    flow_records = []
    window_end: datetime | None = None
    # Devices in MAC order: two instances locking rows in one order cannot deadlock.
    for record in sorted(records, key=lambda r: (r["type"] == "device", r.get("mac", ""))):
        kind = record["type"]
        if kind in ("batch", "health"):
            window_end = datetime.fromtimestamp(record["window_end"], tz=UTC)
            counters = record.get("counters") or {}
            sensor["drops"] += sum(int(v) for v in (record.get("losses") or {}).values())
            sensor["drops"] += sum(int(counters.get(name, 0)) for name in DROP_COUNTERS)
            sensor["last_window_end"] = window_end
            sensor["boot"] = record["boot"]
        if kind == "health":
            figures = record.get("figures") or {}
            sensor["health"] = figures
            if figures.get("spool_depth_bytes") is not None:
                sensor["spool_backlog_bytes"] = int(figures["spool_depth_bytes"])
        elif kind == "status":
            sensor["status"] = record["state"]
            sensor["agent_version"] = record.get("agent_version")
            sensor["boot"] = record["boot"]
            if record["state"] == "online":
                sensor["clock_skew_s"] = record["time"] - now.timestamp()
        elif kind == "flow":
            flow_records.append(record)
        elif kind == "device":
            apply_device(connection, observer, record, context.ruleset, now, window_end or now)
            sensor["device_updates"] += 1
    if flow_records:
        _store_flows(connection, observer, head, flow_records, context, now)
        sensor["flows"] = len(flow_records)
    context.count("device_updates", sensor["device_updates"])
    context.count("flows", sensor["flows"])
    _update_sensor(connection, observer, sensor, now)


def _update_sensor(
    connection: Connection, observer: Observer, figures: dict[str, Any], now: datetime
) -> None:
    counters = {key: figures.pop(key) for key in ("messages", "flows", "device_updates", "drops")}
    values = {
        "sensor_id": observer.sensor,
        "site": observer.site,
        "wing": observer.wing,
        "first_message_at": now,
        "last_message_at": now,
        "rejected": 0,
        **counters,
        **figures,
    }
    statement = upsert(connection, sensors).values(**values)
    table = sensors.c
    update_set: dict[str, Any] = {
        "site": observer.site,
        "wing": observer.wing,
        "last_message_at": greatest(
            connection, table.last_message_at, statement.excluded.last_message_at
        ),
        **{key: table[key] + statement.excluded[key] for key in counters},
        **{key: statement.excluded[key] for key in figures},
    }
    if "last_window_end" in figures:
        update_set["last_window_end"] = greatest(
            connection, table.last_window_end, statement.excluded.last_window_end
        )
    connection.execute(
        statement.on_conflict_do_update(index_elements=["sensor_id"], set_=update_set)
    )


def _store_rejected(connection: Connection, record: dict[str, Any], now: datetime) -> None:
    topic = str(record.get("topic", ""))[:256]
    parts = parse_topic(topic)
    claimed = parts.sensor_id[:64] if parts is not None else None
    statement = upsert(connection, rejected_messages).values(
        topic=topic,
        reason=record["reason"],
        claimed_sensor=claimed,
        count=1,
        first_at=now,
        last_at=now,
        last_detail=str(record.get("detail", ""))[:500],
    )
    connection.execute(
        statement.on_conflict_do_update(
            index_elements=["topic", "reason"],
            set_={
                "count": rejected_messages.c.count + 1,
                "last_at": statement.excluded.last_at,
                "last_detail": statement.excluded.last_detail,
            },
        )
    )
    if claimed is not None:
        # Counted against the sensor the topic names; a sensor row is not created for it
        # (an unverified message must not make a sensor appear in the fleet).
        connection.execute(
            sensors.update()
            .where(sensors.c.sensor_id == claimed)
            .values(rejected=sensors.c.rejected + 1)
        )


def _store_flows(
    connection: Connection,
    observer: Observer,
    head: dict[str, Any],
    records: list[dict[str, Any]],
    context: IngestContext,
    now: datetime,
) -> None:
    rows = []
    pairs: dict[tuple[str, str, str, int, str], list[Any]] = {}
    hosts: dict[str, HostTraffic] = {}
    l2: dict[str, str] = {}
    local: dict[str, bool] = {}
    for index, record in enumerate(records):
        ts = datetime.fromtimestamp(record["ts"], tz=UTC)
        end = datetime.fromtimestamp(record["ts"] + record["duration"], tz=UTC)
        orig, resp = record["id.orig_h"], record["id.resp_h"]
        proto = str(record["proto"])
        service = record.get("service") or ""
        rows.append(
            {
                "sensor_id": observer.sensor,
                "boot": head["boot"],
                "seq": head["seq"],
                "idx": index,
                "site": observer.site,
                "wing": observer.wing,
                "uid": record["uid"],
                "ts": ts,
                "duration_s": record["duration"],
                "orig_h": orig,
                "orig_p": record["id.orig_p"],
                "resp_h": resp,
                "resp_p": record["id.resp_p"],
                "proto": proto,
                "service": service or None,
                "vlan": record.get("vlan"),
                "orig_bytes": record["orig_ip_bytes"],
                "resp_bytes": record["resp_ip_bytes"],
                "orig_pkts": record["orig_pkts"],
                "resp_pkts": record["resp_pkts"],
                "conn_state": record.get("conn_state"),
                "community_id": record.get("community_id"),
                "received_at": now,
                "server_name": record.get("server_name"),
            }
        )
        key = (orig, resp, proto, int(record["id.resp_p"]), service)
        server_name = record.get("server_name")
        pair = pairs.get(key)
        if pair is None:
            pairs[key] = [1, record["orig_ip_bytes"], record["resp_ip_bytes"], ts, end, server_name]
        else:
            pair[0] += 1
            pair[1] += record["orig_ip_bytes"]
            pair[2] += record["resp_ip_bytes"]
            pair[3] = min(pair[3], ts)
            pair[4] = max(pair[4], end)
            pair[5] = server_name or pair[5]
        for address, answered, mac in (
            (orig, False, record.get("orig_l2_addr")),
            (resp, record["resp_pkts"] > 0, record.get("resp_l2_addr")),
        ):
            is_local = local.get(address)
            if is_local is None:
                is_local = local[address] = is_local_host_address(address)
            if not is_local:
                continue
            host = hosts.get(address)
            if host is None:
                host = hosts[address] = HostTraffic(ts, end, {observer.wing}, set(), set())
            host.first_seen = min(host.first_seen, ts)
            host.last_seen = max(host.last_seen, end)
            if answered and proto in ("tcp", "udp"):
                host.services.add(f"{proto}/{record['id.resp_p']}")
            if service:
                host.protocols.add(service)
            if mac:
                l2[address] = str(mac).lower()
    connection.execute(flows.insert(), rows)
    _aggregate(connection, observer.site, pairs)
    unheld = _addresses_without_device(connection, observer.site, hosts, l2)
    if unheld:
        apply_address_hosts(
            connection, observer, {a: hosts[a] for a in unheld}, context.ruleset, now
        )


def _aggregate(
    connection: Connection, site: str, pairs: dict[tuple[str, str, str, int, str], list[Any]]
) -> None:
    statement = upsert(connection, communications)
    table = communications.c
    statement = statement.on_conflict_do_update(
        index_elements=["site", "orig", "resp", "proto", "port", "service"],
        set_={
            "flows": table.flows + statement.excluded.flows,
            "orig_bytes": table.orig_bytes + statement.excluded.orig_bytes,
            "resp_bytes": table.resp_bytes + statement.excluded.resp_bytes,
            "first_seen": least(connection, table.first_seen, statement.excluded.first_seen),
            "last_seen": greatest(connection, table.last_seen, statement.excluded.last_seen),
            # The newest name wins; a batch without one keeps the stored name.
            "server_name": func.coalesce(statement.excluded.server_name, table.server_name),
        },
    )
    connection.execute(
        statement,
        [
            {
                "site": site,
                "orig": key[0],
                "resp": key[1],
                "proto": key[2],
                "port": key[3],
                "service": key[4],
                "flows": pair[0],
                "orig_bytes": pair[1],
                "resp_bytes": pair[2],
                "first_seen": pair[3],
                "last_seen": pair[4],
                "server_name": pair[5],
            }
            for key, pair in sorted(pairs.items())  # one order: no deadlocks between instances
        ],
    )


def _addresses_without_device(
    connection: Connection, site: str, hosts: dict[str, HostTraffic], l2: dict[str, str]
) -> list[str]:
    """Local addresses of these flows that no MAC device holds, or only a router does:
    hosts behind a router (or hosts whose observation has not arrived yet; it absorbs
    them when it does). An address already held by its own address device is returned
    too (updated)."""
    if not hosts:
        return []
    holders: dict[str, set[str]] = {}
    for address, device_id in connection.execute(
        select(device_addresses.c.address, devices.c.id)
        .join(devices, devices.c.id == device_addresses.c.device_id)
        .where(
            device_addresses.c.site == site,
            device_addresses.c.address.in_(sorted(hosts)),
            devices.c.identity_kind == "mac",
        )
    ):
        holders.setdefault(address, set()).add(device_id)
    routers = _routers(connection, {d for ids in holders.values() for d in ids})
    out = [a for a in sorted(hosts) if not (holders.get(a, set()) - routers)]
    # An address only a router holds is the router's own when its subnet is a local one
    # (a non-router device holds an address in it); else it is a host behind the router.
    router_held = [a for a in out if holders.get(a)]
    local = _local_subnets(connection, site, {subnet_prefix(a) for a in router_held}, routers)
    out = [a for a in out if not (holders.get(a) and subnet_prefix(a) in local)]
    if l2:
        # Flows that carry MACs (newer sensors): an address whose frames came from a known,
        # non-router MAC belongs to that device; its observation will list the address.
        known = _known_macs(connection, site, {l2[a] for a in out if a in l2})
        owners = known - _routers(connection, known)
        out = [a for a in out if a not in l2 or mac_device_id(site, l2[a]) not in owners]
    return out


def _local_subnets(
    connection: Connection, site: str, prefixes: set[str], routers: set[str]
) -> set[str]:
    """The prefixes among `prefixes` where a MAC device other than a router holds an
    address (IPv4 by LIKE on the text prefix; IPv6 compared here, text forms vary)."""
    local = set()
    mac_holders = (
        select(device_addresses.c.device_id, device_addresses.c.address)
        .join(devices, devices.c.id == device_addresses.c.device_id)
        .where(device_addresses.c.site == site, devices.c.identity_kind == "mac")
    )
    for prefix in sorted(p for p in prefixes if ":" not in p):
        rows = connection.execute(mac_holders.where(device_addresses.c.address.like(f"{prefix}%")))
        if {device_id for device_id, _ in rows} - routers:
            local.add(prefix)
    if any(":" in p for p in prefixes):
        for device_id, address in connection.execute(
            mac_holders.where(device_addresses.c.family == 6)
        ):
            if device_id not in routers and subnet_prefix(address) in prefixes:
                local.add(subnet_prefix(address))
    return local


def _routers(connection: Connection, device_ids: set[str]) -> set[str]:
    if not device_ids:
        return set()
    return {
        device_id
        for (device_id,) in connection.execute(
            select(device_addresses.c.device_id)
            .where(
                device_addresses.c.device_id.in_(sorted(device_ids)), device_addresses.c.family == 4
            )
            .group_by(device_addresses.c.device_id)
            .having(func.count() >= ROUTER_ADDRESSES)
        )
    }


def _known_macs(connection: Connection, site: str, macs: set[str]) -> set[str]:
    if not macs:
        return set()
    ids = sorted(mac_device_id(site, mac) for mac in macs)
    return set(connection.execute(select(devices.c.id).where(devices.c.id.in_(ids))).scalars())
