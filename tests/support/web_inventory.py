"""A small hospital inventory written straight into the central tables, and a real server.

`seed_inventory(engine, now)` stores two wings of st-mary (pumps, a monitor, a CT, a PACS,
an HL7 engine, a workstation, a label printer, one device the rules left unknown) with
their addresses, services, fingerprints, peers and history, two sensors (one silent) and
rejected messages. Rows are what ingest stores, so the pages and the API read them through
the same query layer as in production.

`served(app)` runs the application in a real uvicorn on a free port (optionally HTTPS).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, insert

from central.db import tables


@dataclass(frozen=True)
class Seeded:
    id: str
    mac: str | None
    address: str
    site: str
    wing: str
    category: str
    vendor: str | None
    model: str | None
    handles_phi: bool
    criticality: str
    evidence: list[dict[str, Any]]
    services: tuple[str, ...] = ()
    modality: str | None = None
    age_days: float = 30.0  # how long before "now" the central service first stored it


def _ev(rule: str, kind: str, value: str, confidence: float) -> dict[str, Any]:
    return {"rule": rule, "kind": kind, "value": value, "confidence": confidence}


DEVICES = (
    Seeded(
        "a1b2c3d4e5f60001",
        "00:09:fb:10:00:01",
        "10.4.2.11",
        "st-mary",
        "4b",
        "infusion_pump",
        "BD",
        "Alaris 8015",
        True,
        "life-sustaining",
        [_ev("dhcp-vendor-class-alaris", "dhcp_vendor_class", "CareFusion Alaris PC", 0.95)],
        ("udp/161",),
    ),
    Seeded(
        "a1b2c3d4e5f60002",
        "00:09:fb:10:00:02",
        "10.4.2.12",
        "st-mary",
        "4b",
        "infusion_pump",
        "BD",
        "Alaris 8015",
        True,
        "life-sustaining",
        [_ev("dhcp-vendor-class-alaris", "dhcp_vendor_class", "CareFusion Alaris PC", 0.95)],
        ("udp/161",),
        age_days=2,
    ),
    Seeded(
        "a1b2c3d4e5f60003",
        "00:09:fb:20:00:01",
        "10.4.2.21",
        "st-mary",
        "4b",
        "patient_monitor",
        "Philips",
        "IntelliVue MX450",
        True,
        "monitoring",
        [_ev("intellivue-data-export", "intellivue", "MDS IntelliVue", 0.9)],
        ("udp/24105",),
    ),
    Seeded(
        "a1b2c3d4e5f60004",
        "00:1b:a9:30:00:01",
        "10.3.1.50",
        "st-mary",
        "3a",
        "imaging",
        "Siemens",
        "SOMATOM go.Up",
        True,
        "diagnostic",
        [
            _ev("dicom-modality-ct", "dicom_calling_ae", "CT_SOMATOM_3A", 0.9),
            _ev("dicom-implementation", "dicom_impl_version", "SIEMENS_SWFVB30A", 0.6),
        ],
        (),
        modality="CT",
    ),
    Seeded(
        "a1b2c3d4e5f60005",
        "00:50:56:40:00:01",
        "10.9.0.10",
        "st-mary",
        "3a",
        "pacs",
        "Sectra",
        None,
        True,
        "clinical IT",
        [_ev("dicom-scp-pacs", "dicom_called_ae", "SECTRA_PACS", 0.85)],
        ("tcp/104",),
    ),
    Seeded(
        "a1b2c3d4e5f60006",
        "00:50:56:40:00:02",
        "10.9.0.20",
        "st-mary",
        "3a",
        "hl7_interface",
        "Rhapsody",
        None,
        True,
        "clinical IT",
        [_ev("hl7-sending-app", "hl7_msh3", "RHAPSODY", 0.85)],
        ("tcp/2575",),
    ),
    Seeded(
        "a1b2c3d4e5f60007",
        "3c:52:82:50:00:01",
        "10.4.2.101",
        "st-mary",
        "4b",
        "workstation",
        "HP",
        "EliteDesk 800",
        False,
        "administrative",
        [_ev("dhcp-vendor-class-msft", "dhcp_vendor_class", "MSFT 5.0", 0.7)],
        (),
        age_days=1,
    ),
    Seeded(
        "a1b2c3d4e5f60008",
        "00:07:4d:60:00:01",
        "10.4.2.150",
        "st-mary",
        "4b",
        "label_printer",
        "Zebra",
        "ZD620",
        False,
        "administrative",
        [_ev("oui-zebra", "oui", "Zebra Technologies", 0.6)],
        ("tcp/9100", "udp/161"),
    ),
    Seeded(
        "a1b2c3d4e5f60009",
        "02:11:22:70:00:01",
        "10.4.2.199",
        "st-mary",
        "4b",
        "unknown",
        None,
        None,
        False,
        "administrative",
        [],
        ("tcp/8443",),
        age_days=0.5,
    ),
)

SENSORS = (
    # sensor, site, wing, version, last message this long before now, drops, backlog, skew
    ("wing4b-01", "st-mary", "4b", "0.9.0", timedelta(seconds=20), 0, 0, 0.4),
    ("wing3a-01", "st-mary", "3a", "0.8.2", timedelta(hours=3), 17, 1048576, -2.5),
)


def seed_inventory(engine: Engine, now: datetime) -> None:
    """Store the DEVICES and SENSORS (see the module docstring) as of central time `now`."""
    packet_time = now - timedelta(days=40)  # the captures are dated in the past
    with engine.begin() as connection:
        for sensor, site, wing, version, silent_for, drops, backlog, skew in SENSORS:
            connection.execute(
                insert(tables.sensors).values(
                    sensor_id=sensor,
                    site=site,
                    wing=wing,
                    agent_version=version,
                    boot="0f" * 8,
                    status="online",
                    first_message_at=now - timedelta(days=30),
                    last_message_at=now - silent_for,
                    last_window_end=packet_time,
                    messages=1200,
                    flows=45000,
                    device_updates=300,
                    drops=drops,
                    spool_backlog_bytes=backlog,
                    clock_skew_s=skew,
                    rejected=0,
                    health={},
                )
            )
        connection.execute(
            insert(tables.rejected_messages).values(
                topic="iomt/st-mary/4b/rogue-01/flows",
                reason="unknown_key",
                claimed_sensor="rogue-01",
                count=3,
                first_at=now - timedelta(hours=5),
                last_at=now - timedelta(hours=1),
                last_detail="kid not bound to rogue-01",
            )
        )
        for device in DEVICES:
            created = now - timedelta(days=device.age_days)
            first_seen = packet_time - timedelta(days=device.age_days)
            sensor = "wing4b-01" if device.wing == "4b" else "wing3a-01"
            connection.execute(
                insert(tables.devices).values(
                    id=device.id,
                    site=device.site,
                    identity_kind="mac",
                    identity=device.mac,
                    mac=device.mac,
                    oui_vendor=device.vendor,
                    wings=[device.wing],
                    sensors=[sensor],
                    vlans=[20 if device.wing == "4b" else 30],
                    protocols=[],
                    peers_estimate=1,
                    hl7_messages=0,
                    first_seen=first_seen,
                    last_seen=packet_time,
                    created_at=created,
                    updated_at=created,
                    category=device.category,
                    vendor=device.vendor,
                    model=device.model,
                    modality=device.modality,
                    confidence=max((e["confidence"] for e in device.evidence), default=0.0),
                    evidence=device.evidence,
                    handles_phi=device.handles_phi,
                    phi_reason=_phi_reason(device),
                    criticality=device.criticality,
                )
            )
            connection.execute(
                insert(tables.device_addresses).values(
                    device_id=device.id,
                    address=device.address,
                    site=device.site,
                    family=4,
                    first_seen=first_seen,
                    last_seen=packet_time,
                )
            )
            for service in device.services:
                connection.execute(
                    insert(tables.device_services).values(
                        device_id=device.id,
                        service=service,
                        first_seen=first_seen,
                        last_seen=packet_time,
                    )
                )
            for evidence in device.evidence:
                connection.execute(
                    insert(tables.fingerprints).values(
                        device_id=device.id,
                        kind=evidence["kind"],
                        value=evidence["value"],
                        first_seen=first_seen,
                        last_seen=packet_time,
                    )
                )
            connection.execute(
                insert(tables.device_history).values(
                    device_id=device.id,
                    at=created,
                    seen=first_seen,
                    change="new_device",
                    detail={"address": device.address, "sensor": sensor},
                    actor=None,
                )
            )
        for seq, (orig, resp, proto, port, service) in enumerate(TRAFFIC):
            connection.execute(
                insert(tables.communications).values(
                    site="st-mary",
                    orig=orig,
                    resp=resp,
                    proto=proto,
                    port=port,
                    service=service,
                    flows=42,
                    orig_bytes=120000,
                    resp_bytes=9000,
                    first_seen=packet_time - timedelta(days=1),
                    last_seen=packet_time,
                )
            )
            wing = "3a" if orig.startswith(("10.3.", "10.9.")) else "4b"
            connection.execute(
                insert(tables.flows).values(
                    sensor_id=f"wing{wing}-01",
                    boot="0f" * 8,
                    seq=seq,
                    idx=0,
                    site="st-mary",
                    wing=wing,
                    uid=f"C{seq:05d}",
                    ts=packet_time,
                    duration_s=1.5,
                    orig_h=orig,
                    orig_p=40000 + seq,
                    resp_h=resp,
                    resp_p=port,
                    proto=proto,
                    service=service or None,
                    vlan=None,
                    orig_bytes=1200,
                    resp_bytes=900,
                    orig_pkts=8,
                    resp_pkts=6,
                    conn_state="SF",
                    community_id=f"1:example{seq}=",
                    received_at=now,
                )
            )


# Conversations (orig, resp, proto, port, service): what the wing does, and three things
# risk must flag: a pump on the internet, HL7 in clear text, telnet to the label printer.
TRAFFIC = (
    ("10.3.1.50", "10.9.0.10", "tcp", 104, "dicom"),
    ("10.9.0.20", "10.4.2.21", "tcp", 2575, "hl7"),
    ("10.4.2.101", "10.4.2.150", "tcp", 9100, ""),
    ("10.4.2.101", "10.4.2.150", "tcp", 23, "telnet"),
    ("10.4.2.11", "10.4.2.101", "tcp", 443, "ssl"),
    ("10.4.2.11", "93.184.216.34", "tcp", 443, "ssl"),
)


def evaluate_risk(engine: Engine, now: datetime, policy: Any = None) -> Any:
    """One risk evaluation (central.risk, the shipped rules) over what is stored: findings,
    scores, alerts and a trend snapshot, as `serve` makes them every interval."""
    from central.policy.rules import Policy
    from central.risk.rules import load_rules
    from central.risk.store import RiskContext, evaluate

    context = RiskContext(rules=load_rules(), policy=policy or Policy(), snapshot_interval_s=60)
    with engine.begin() as connection:
        return evaluate(connection, context, now)


def _phi_reason(device: Seeded) -> str | None:
    if not device.handles_phi:
        return None
    return {
        "infusion_pump": "speaks a medical device protocol",
        "patient_monitor": "speaks IntelliVue",
        "imaging": "speaks DICOM",
        "pacs": "serves DICOM",
        "hl7_interface": "serves HL7",
    }.get(device.category, "patient data protocol")


def by_category(category: str) -> list[Seeded]:
    return [device for device in DEVICES if device.category == category]


# ---------------------------------------------------------------- a real server


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def served(app: Any) -> Iterator[str]:
    """Run `app` in uvicorn on 127.0.0.1 and a free port, as `serve` runs it (HTTPS when
    its settings name a certificate); yields the base URL."""
    import uvicorn

    from central.web.server import uvicorn_config

    settings = app.state.settings
    server = uvicorn.Server(uvicorn_config(app, settings, host="127.0.0.1", port=free_port()))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    scheme = "https" if settings.tls else "http"
    try:
        yield f"{scheme}://127.0.0.1:{server.config.port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


# ---------------------------------------------------------------- an app with users


@dataclass
class WebEnv:
    """An app over a seeded database, with an editor, a viewer and an API token."""

    app: Any
    users_file: Path
    token: str
    editor: tuple[str, str] = ("alice", "alice-editor-pw")
    viewer: tuple[str, str] = ("bob", "bob-viewer-pw")


@dataclass
class WebTestConfig:
    """What create_app reads of a central configuration: [web], the policy, [risk]."""

    web: Any
    containment: Any = None
    risk: Any = None


def make_web_env(
    directory: Path,
    engine: Engine,
    clock: Any,
    seed: bool = True,
    risk: bool = False,
    policy: Any = None,
    **settings: Any,
) -> WebEnv:
    """Users file (alice editor, bob viewer), token file, and the app from create_app.
    `seed`: store the inventory; `risk`: then evaluate it (findings, scores, alerts);
    `policy`: the configured zones and policy; `settings`: further WebSettings fields."""
    from types import SimpleNamespace

    from central.web import create_app
    from central.web.auth.users import set_user
    from central.web.settings import WebSettings

    if seed:
        seed_inventory(engine, clock())
        if risk:
            evaluate_risk(engine, clock(), policy)
    users_file = directory / "users"
    set_user(users_file, "alice", "editor", "alice-editor-pw")
    set_user(users_file, "bob", "viewer", "bob-viewer-pw")
    token = "t0ken-" + "x" * 26
    token_file = directory / "api-token"
    token_file.write_text(token + "\n")
    web = WebSettings(users_file=users_file, token_file=token_file, **settings)
    config = WebTestConfig(web, policy, SimpleNamespace(rules_file=None))
    return WebEnv(create_app(config, engine, clock), users_file, token)
