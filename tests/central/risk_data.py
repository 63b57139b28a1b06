"""Devices and flows of wing 4b for the risk tests (the same addresses as containment_data)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from central.risk.model import DeviceFacts, FingerprintValue, ObservedFlow
from tests.central.containment_data import SITE

NOW = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
LONG_AGO = NOW - timedelta(days=30)


def device(device_id: str, address: str, category: str, criticality: str, **extra) -> DeviceFacts:
    base = dict(
        id=device_id,
        site=SITE,
        addresses=(address,),
        wings=("4b",),
        category=category,
        criticality=criticality,
        first_seen=LONG_AGO,
        created_at=LONG_AGO,
    )
    base.update(extra)
    return DeviceFacts(**base)


PUMP = device(
    "pump-1",
    "10.20.0.11",
    "infusion_pump",
    "life-sustaining",
    handles_phi=True,
    vlans=(20,),
    vendor="BD",
    oui_vendor="Becton Dickinson",
    evidence_kinds=("dhcp_vendor_class",),
)
PUMP_TLS = device("pump-2", "10.20.0.12", "infusion_pump", "life-sustaining", handles_phi=True)
MONITOR = device("monitor-1", "10.20.0.21", "patient_monitor", "monitoring", handles_phi=True)
CT = device("ct-1", "10.30.0.5", "imaging", "diagnostic", handles_phi=True)
PACS = device("pacs-1", "10.10.0.5", "pacs", "clinical IT", handles_phi=True, wings=("dc",))
HL7 = device("hl7-1", "10.10.0.6", "hl7_interface", "clinical IT", handles_phi=True, wings=("dc",))
PRINTER = device("printer-1", "10.40.0.9", "label_printer", "administrative")
WORKSTATION = device("ws-1", "10.40.0.20", "workstation", "administrative")
DEVICES = [PUMP, PUMP_TLS, MONITOR, CT, PACS, HL7, PRINTER, WORKSTATION]

_ports = itertools.count(40000)


def flow(
    orig: str,
    resp: str,
    port: int,
    service: str | None = None,
    proto: str = "tcp",
    minutes: float = 0.0,
    state: str = "SF",
    server_name: str | None = None,
) -> ObservedFlow:
    answered = state != "S0" and state != "REJ"
    return ObservedFlow(
        site=SITE,
        ts=T0 + timedelta(minutes=minutes),
        orig_h=orig,
        orig_p=next(_ports),
        resp_h=resp,
        resp_p=port,
        proto=proto,
        service=service,
        conn_state=state if proto == "tcp" else None,
        resp_bytes=100 if answered else 0,
        resp_pkts=2 if answered else 0,
        community_id=f"1:{orig}-{resp}-{port}-{minutes}",
        wing="4b",
        server_name=server_name,
    )


def fingerprint(value: str, days_ago: float) -> FingerprintValue:
    seen = NOW - timedelta(days=days_ago)
    return FingerprintValue(value, seen, seen + timedelta(hours=1))
