"""Put the risk tests' devices and flows into a real inventory database."""

from __future__ import annotations

import ipaddress
import itertools
from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import Connection

from central.db.tables import communications, device_addresses, devices, fingerprints, flows
from central.risk.model import DeviceFacts, ObservedFlow

_seq = itertools.count()


def seed_devices(connection: Connection, facts: Sequence[DeviceFacts], at: datetime) -> None:
    for device in facts:
        seen = device.first_seen or at
        connection.execute(
            devices.insert().values(
                id=device.id,
                site=device.site,
                identity_kind="address",
                identity=device.addresses[0],
                mac=device.mac,
                oui_vendor=device.oui_vendor,
                wings=list(device.wings),
                sensors=["wing4b-01"],
                vlans=list(device.vlans),
                protocols=[],
                first_seen=seen,
                last_seen=seen,
                created_at=device.created_at or at,
                updated_at=at,
                category=device.category,
                vendor=device.vendor,
                model=device.model,
                confidence=0.9,
                evidence=[
                    {"rule": "test", "kind": k, "value": "", "confidence": 0.9}
                    for k in device.evidence_kinds
                ],
                handles_phi=device.handles_phi,
                criticality=device.criticality,
            )
        )
        for address in device.addresses:
            connection.execute(
                device_addresses.insert().values(
                    device_id=device.id,
                    address=address,
                    site=device.site,
                    family=ipaddress.ip_address(address).version,
                    first_seen=seen,
                    last_seen=seen,
                )
            )
        for kind, values in device.fingerprints.items():
            for value in values:
                connection.execute(
                    fingerprints.insert().values(
                        device_id=device.id,
                        kind=kind,
                        value=value.value,
                        first_seen=value.first_seen,
                        last_seen=value.last_seen,
                    )
                )


def insert_flows(
    connection: Connection, observed: Iterable[ObservedFlow], received_at: datetime
) -> int:
    rows = []
    seq = next(_seq)
    for index, flow in enumerate(observed):
        rows.append(
            dict(
                sensor_id="wing4b-01",
                boot="b" * 32,
                seq=seq,
                idx=index,
                site=flow.site,
                wing=flow.wing or "4b",
                uid=f"C{seq}x{index}",
                ts=flow.ts,
                duration_s=0.1,
                orig_h=flow.orig_h,
                orig_p=flow.orig_p,
                resp_h=flow.resp_h,
                resp_p=flow.resp_p,
                proto=flow.proto,
                service=flow.service,
                vlan=None,
                orig_bytes=100,
                resp_bytes=flow.resp_bytes,
                orig_pkts=2,
                resp_pkts=flow.resp_pkts,
                conn_state=flow.conn_state,
                community_id=flow.community_id,
                received_at=received_at,
            )
        )
    if rows:
        connection.execute(flows.insert(), rows)
    return len(rows)


def insert_communications(connection: Connection, rows: Iterable) -> None:
    for row in rows:
        connection.execute(
            communications.insert().values(
                site=row.site,
                orig=row.orig,
                resp=row.resp,
                proto=row.proto,
                port=row.port,
                service=row.service or "",
                flows=row.flows,
                orig_bytes=1000,
                resp_bytes=1000,
                first_seen=row.first_seen,
                last_seen=row.last_seen,
            )
        )
