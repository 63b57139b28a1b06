"""A wing's zones, policy and communication history, for the containment tests.

st-mary wing 4b: two pumps and a monitor (zone `bedside`, medical, by category), a CT
(zone `imaging`, medical, by CIDR), a PACS and an HL7 engine (`clinical-servers`), a
label printer and a workstation (`office`). The history holds what the policy allows
and three things it does not: a pump reaching an internet address, a monitor printing
labels across zones, and a pump answering nothing on telnet.
"""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path

from agent.config.problems import Problems
from central.policy.baseline import Communication, HostInfo
from central.policy.config import parse_containment
from central.policy.rules import Policy

SITE = "st-mary"
T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)

POLICY_TOML = """
[zones.bedside]
medical = true
description = "pumps and monitors of wing 4b"
wings = ["4b"]
categories = ["infusion_pump", "patient_monitor"]

[zones.imaging]
medical = true
cidrs = ["10.30.0.0/24"]

[zones.clinical-servers]
cidrs = ["10.10.0.0/24"]

[zones.office]
cidrs = ["10.40.0.0/24"]

[policy]
default_action = "deny"

[[policy.rules]]
name = "bedside to the HL7 engine"
from = "bedside"
to = "clinical-servers"
services = ["hl7"]
action = "allow"

[[policy.rules]]
name = "imaging to PACS"
from = "imaging"
to = "clinical-servers"
services = ["dicom"]
action = "allow"

[[policy.rules]]
name = "office to servers over HTTPS"
from = "office"
to = "clinical-servers"
services = ["tcp/443"]
action = "allow"

[[policy.rules]]
name = "office within itself"
from = "office"
to = "office"
action = "allow"

[[policy.rules]]
name = "pump vendor cloud"
from = "bedside"
to = "internet"
to_server = "*.pumpvendor.example"
services = ["tcp/443"]
action = "allow"
"""

HOSTS: dict[tuple[str, str], HostInfo] = {
    (SITE, "10.20.0.11"): HostInfo(
        "pump-1", SITE, "infusion_pump", ("4b",), (20,), "life-sustaining"
    ),
    (SITE, "10.20.0.12"): HostInfo(
        "pump-2", SITE, "infusion_pump", ("4b",), (20,), "life-sustaining"
    ),
    (SITE, "10.20.0.21"): HostInfo(
        "monitor-1", SITE, "patient_monitor", ("4b",), (20,), "monitoring"
    ),
    (SITE, "10.30.0.5"): HostInfo("ct-1", SITE, "imaging", ("4b",), (30,), "diagnostic"),
    (SITE, "10.10.0.5"): HostInfo("pacs-1", SITE, "pacs", ("dc",), (10,), "clinical IT"),
    (SITE, "10.10.0.6"): HostInfo("hl7-1", SITE, "hl7_interface", ("dc",), (10,), "clinical IT"),
    (SITE, "10.40.0.9"): HostInfo(
        "printer-1", SITE, "label_printer", ("4b",), (40,), "administrative"
    ),
    (SITE, "10.40.0.20"): HostInfo("ws-1", SITE, "workstation", ("4b",), (40,), "administrative"),
}


def row(
    orig: str,
    resp: str,
    proto: str,
    port: int,
    service: str | None,
    flows: int,
    hours: float = 0.0,
    server_name: str | None = None,
) -> Communication:
    first = T0 + timedelta(hours=hours)
    return Communication(
        SITE,
        orig,
        resp,
        proto,
        port,
        service,
        flows,
        first,
        first + timedelta(minutes=30),
        server_name,
    )


HISTORY = [
    row("10.20.0.11", "10.10.0.6", "tcp", 2575, "hl7", 100),
    row("10.20.0.12", "10.10.0.6", "tcp", 2575, "hl7", 50),
    row("10.30.0.5", "10.10.0.5", "tcp", 104, "dicom", 20),
    row("10.40.0.20", "10.10.0.5", "tcp", 443, "ssl", 10),
    row("10.40.0.20", "10.40.0.9", "tcp", 9100, None, 7),
    row("10.20.0.12", "34.120.5.5", "tcp", 443, "ssl", 4, server_name="api.pumpvendor.example"),
    # what the policy forbids:
    row("10.20.0.11", "52.1.2.3", "tcp", 443, "ssl", 5, hours=2),
    row("10.20.0.21", "10.40.0.9", "tcp", 9100, None, 3, hours=3),
]
BLOCKED_FLOWS = 8
BLOCKED_DEVICES = {"pump-1", "monitor-1", "printer-1"}
BLOCKED_CLINICAL = 2  # pump-1 (life-sustaining), monitor-1 (monitoring)


def wing_policy(text: str = POLICY_TOML, path: Path = Path("central.toml")) -> Policy:
    problems = Problems()
    policy = parse_containment(tomllib.loads(text), path, problems)
    assert not problems.errors, [str(p) for p in problems.errors]
    return policy
