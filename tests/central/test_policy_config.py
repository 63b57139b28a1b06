"""[zones] and [policy] through the real central.toml loader: a good wing policy loads,
and each mistake is an error naming the file and the key (all of them at once)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.config.problems import ConfigError
from central.config import load_config
from central.policy.rules import FlowFacts
from tests.central.containment_data import POLICY_TOML


def write_config(tmp_path: Path, body: str) -> Path:
    trust = tmp_path / "trust"
    trust.mkdir(exist_ok=True)
    path = tmp_path / "central.toml"
    path.write_text(f'[trust]\ndir = "{trust}"\n{body}')
    return path


def errors_of(tmp_path: Path, body: str) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        load_config(write_config(tmp_path, body))
    return raised.value.errors


def test_the_wing_policy_loads_and_decides(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, POLICY_TOML))
    policy = config.containment
    assert [z.name for z in policy.zone_map.zones] == [
        "bedside",
        "imaging",
        "clinical-servers",
        "office",
    ]
    assert policy.default_action == "deny" and len(policy.rules) == 5
    allowed = policy.decide("bedside", "clinical-servers", FlowFacts("tcp", 2575, "hl7"))
    denied = policy.decide("bedside", "internet", FlowFacts("tcp", 443, "ssl", None, "52.1.2.3"))
    vendor = policy.decide(
        "bedside", "internet", FlowFacts("tcp", 443, "ssl", "api.pumpvendor.example")
    )
    assert allowed.allowed and allowed.rule == "bedside to the HL7 engine"
    assert not denied.allowed and denied.rule == "medical-internet"
    assert vendor.allowed and vendor.rule == "pump vendor cloud"


def test_every_zone_and_policy_mistake_is_named_by_file_and_key(tmp_path: Path) -> None:
    errors = errors_of(
        tmp_path,
        """
[zones.pumps]
medical = "yes"
cidrs = ["10.20.0.0/24"]
[zones.servers]
cidrs = ["10.20.0.128/25", "10.10.0.0/33"]
[zones.empty]
description = "selects nothing"
[zones.internet]
cidrs = ["192.0.2.0/24"]
[zones.printers]
categories = ["printer"]
colour = "red"
[policy]
default_action = "block"
[[policy.rules]]
from = "pumps"
to = "servrs"
services = ["hl7", "tcp/99999", "gopher/70"]
to_server = "*.vendor..example"
action = "allow"
[[policy.rules]]
from = "pumps"
to = "internet"
""",
    )
    path = tmp_path / "central.toml"
    expected = [
        "zones.pumps.medical: must be true or false",
        "zones.servers.cidrs: '10.10.0.0/33' is not a network",
        "zones.empty: selects nothing",
        "zones.internet: 'internet' is reserved",
        "zones.printers.colour: unknown key",
        "zones.printers.categories: unknown category 'printer'",
        "policy.default_action: 'block'",
        "policy.rules[0].to: unknown zone 'servrs'",
        'policy.rules[0].services: "tcp/99999": ports must be 0-65535',
        'policy.rules[0].services: "gopher/70" is not "proto/port"',
        "policy.rules[0].to_server: '*.vendor..example' is not a server-name pattern",
        "policy.rules[1].action: None",
    ]
    for fragment in expected:
        assert any(e.startswith(f"{path}: ") and fragment in e for e in errors), (fragment, errors)


def test_overlapping_zone_networks_are_refused(tmp_path: Path) -> None:
    errors = errors_of(
        tmp_path,
        '[zones.a]\ncidrs = ["10.20.0.0/24"]\n[zones.b]\ncidrs = ["10.20.0.128/25"]\n',
    )
    assert errors == [
        f"{tmp_path / 'central.toml'}: zones.b.cidrs: 10.20.0.128/25 overlaps 10.20.0.0/24 of "
        "zones.a; a network belongs to one zone"
    ]


def test_alerts_inside_the_ingest_topic_filter_and_a_missing_key_are_refused(
    tmp_path: Path,
) -> None:
    errors = errors_of(
        tmp_path,
        '[mqtt]\ntopic_filter = "#"\n[alerts]\nsigning_key = "missing.key"\nsyslog = "http://x"\n'
        'min_severity = "severe"\n',
    )
    text = "\n".join(errors)
    assert "alerts.mqtt_topic_prefix: 'iomt-central' lies inside mqtt.topic_filter '#'" in text
    assert "alerts.signing_key:" in text and "does not exist" in text
    assert "alerts.syslog: syslog target 'http://x'" in text
    assert "alerts.min_severity: must be one of low, medium, high, critical" in text
