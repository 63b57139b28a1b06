"""Each finding: traffic or facts that must raise it, and close cases that must not."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from central.risk.advisories import AdvisoryError, load_advisories
from central.risk.detect import RiskEvaluator
from central.risk.model import Finding
from central.risk.rules import RulesError, load_rules
from tests.central.containment_data import wing_policy
from tests.central.risk_data import (
    CT,
    DEVICES,
    HL7,
    MONITOR,
    NOW,
    PACS,
    PRINTER,
    PUMP,
    PUMP_TLS,
    WORKSTATION,
    fingerprint,
    flow,
)

RULES = load_rules()


def evaluate(flows=(), devices=DEVICES, policy=None, advisories=()) -> list[Finding]:
    evaluator = RiskEvaluator(RULES, devices, NOW, policy=policy, advisories=advisories)
    evaluator.add_flows(flows)
    return evaluator.finish()


def keyed(findings: list[Finding]) -> dict[tuple[str, str, str], Finding]:
    return {f.key: f for f in findings}


def test_cleartext_hl7_across_zones_is_critical_and_tls_wrapped_hl7_is_not_a_finding() -> None:
    found = keyed(
        evaluate(
            [
                flow(PUMP.addresses[0], HL7.addresses[0], 2575, "hl7"),
                flow(PUMP.addresses[0], HL7.addresses[0], 2575, "hl7", minutes=5),
                flow(PUMP_TLS.addresses[0], HL7.addresses[0], 2575, "ssl"),
            ],
            policy=wing_policy(),
        )
    )
    pump = found[("cleartext_phi", "pump-1", "10.10.0.6")]
    assert (pump.severity, pump.count) == ("critical", 2)
    assert pump.zones == ("bedside", "clinical-servers")
    assert pump.community_id is not None and len(pump.evidence["examples"]) == 2
    assert ("cleartext_phi", "hl7-1", "10.20.0.11") in found  # the receiving end too
    assert not [k for k in found if k[1] == "pump-2" and k[0] == "cleartext_phi"]


def test_cleartext_dicom_within_one_zone_is_high() -> None:
    same_zone = replace(PACS, addresses=("10.30.0.6",), wings=("4b",))
    found = keyed(
        evaluate([flow(CT.addresses[0], "10.30.0.6", 104, "dicom")], [CT, same_zone], wing_policy())
    )
    assert found[("cleartext_phi", "ct-1", "10.30.0.6")].severity == "high"


def test_medical_device_to_the_internet_unless_a_rule_allows_that_server() -> None:
    policy = wing_policy()
    found = keyed(
        evaluate(
            [
                flow(PUMP.addresses[0], "52.1.2.3", 443, "ssl"),
                flow(
                    PUMP_TLS.addresses[0],
                    "34.120.5.5",
                    443,
                    "ssl",
                    server_name="api.pumpvendor.example",
                ),
                flow(WORKSTATION.addresses[0], "52.1.2.3", 443, "ssl"),
            ],
            policy=policy,
        )
    )
    internet = found[("internet_communication", "pump-1", "52.1.2.3")]
    assert internet.severity == "critical"  # it handles patient data
    assert ("policy_violation", "pump-1", "52.1.2.3") in found
    assert not [k for k in found if k[0] == "internet_communication" and k[1] != "pump-1"]


def test_telnet_by_port_needs_an_answered_connection_and_says_port_based() -> None:
    found = keyed(
        evaluate(
            [
                flow(WORKSTATION.addresses[0], PRINTER.addresses[0], 23),
                flow(WORKSTATION.addresses[0], PACS.addresses[0], 23, state="S0"),
            ]
        )
    )
    telnet = found[("telnet", "printer-1", "10.40.0.20")]
    assert telnet.evidence["basis"] == "port" and "by port only" in telnet.detail
    assert ("telnet", "pacs-1", "10.40.0.20") not in found


@pytest.mark.parametrize(
    ("service", "port", "finding"), [("ftp", 21, "ftp"), ("vnc", 5900, "vnc_cleartext")]
)
def test_insecure_management_labels_raise_their_finding_on_the_serving_device(
    service: str, port: int, finding: str
) -> None:
    found = keyed(evaluate([flow(WORKSTATION.addresses[0], PRINTER.addresses[0], port, service)]))
    assert (finding, "printer-1", "10.40.0.20") in found
    ssh = keyed(evaluate([flow(WORKSTATION.addresses[0], PRINTER.addresses[0], 22, "ssh")]))
    assert not [k for k in ssh if k[1] == "printer-1"]


@pytest.mark.parametrize(
    ("kind", "risky", "safe", "finding"),
    [
        ("snmp_default_community", "yes", "no", "snmp_default_community"),
        ("http_basic_auth", "offered", None, "http_basic_auth"),
        ("smb_dialect", "1", "3.1.1", "smb1"),
        ("vnc_security", "none,vnc-auth", "vnc-auth,vencrypt", "vnc_cleartext"),
        ("tls_version", "tls1.0", "tls1.3", "old_tls"),
        ("tls_version_offered", "tls1.1", "tls1.2", "old_tls"),
        ("ftp_cleartext_login", "yes", None, "ftp"),
    ],
)
def test_the_sensors_protocol_facts_raise_findings_and_their_safe_values_do_not(
    kind: str, risky: str, safe: str | None, finding: str
) -> None:
    weak = replace(PRINTER, fingerprints={kind: (fingerprint(risky, 1),)})
    found = keyed(evaluate(devices=[weak]))
    assert found[(finding, "printer-1", "")].evidence == {
        "basis": "fingerprints",
        "examples": [],
        "kind": kind,
        "value": risky,
    }
    if safe is not None:
        sound = replace(PRINTER, fingerprints={kind: (fingerprint(safe, 1),)})
        assert not [k for k in keyed(evaluate(devices=[sound])) if k[0] == finding]


def test_port_scan_and_sweep_from_a_device_but_not_ordinary_traffic() -> None:
    scan = [
        flow(WORKSTATION.addresses[0], PACS.addresses[0], p, minutes=p / 100, state="REJ")
        for p in range(1, 31)
    ]
    sweep = [
        flow(MONITOR.addresses[0], f"10.40.1.{h}", 445, minutes=h / 100, state="S0")
        for h in range(1, 26)
    ]
    normal = [flow(CT.addresses[0], PACS.addresses[0], 104, "dicom", minutes=m) for m in range(40)]
    found = keyed(evaluate(scan + sweep + normal))
    assert found[("port_scan", "ws-1", "10.10.0.5")].evidence["ports"] == 30
    assert found[("port_scan", "monitor-1", "")].evidence["hosts"] == 25
    assert not [k for k in found if k[0] == "port_scan" and k[1] == "ct-1"]


def test_new_device_only_within_its_window() -> None:
    fresh = replace(
        PRINTER, id="printer-new", addresses=("10.40.0.10",), created_at=NOW - timedelta(hours=2)
    )
    found = keyed(evaluate(devices=[PRINTER, fresh]))
    assert ("new_device", "printer-new", "") in found
    assert ("new_device", "printer-1", "") not in found


def test_identity_changed_on_a_second_vendor_class_or_an_oui_contradicting_fingerprints() -> None:
    swapped = replace(
        PUMP,
        fingerprints={
            "dhcp_vendor_class": (fingerprint("BD.Alaris.8015", 20), fingerprint("MSFT 5.0", 1))
        },
    )
    spoofed = replace(
        PRINTER,
        vendor="Zebra",
        oui_vendor="Raspberry Pi Trading Ltd",
        evidence_kinds=("oui", "mdns_service"),
    )
    consistent = replace(
        CT,
        vendor="GE Healthcare",
        oui_vendor="GE Healthcare Japan",
        evidence_kinds=("dicom_implementation_class_uid",),
    )
    found = keyed(evaluate(devices=[swapped, spoofed, consistent, PUMP_TLS]))
    changed = found[("identity_changed", "pump-1", "")]
    assert (
        changed.evidence["before"] == "BD.Alaris.8015" and changed.evidence["after"] == "MSFT 5.0"
    )
    assert ("identity_changed", "printer-1", "") in found
    assert ("identity_changed", "ct-1", "") not in found
    assert ("identity_changed", "pump-2", "") not in found  # BD vs Becton Dickinson: an alias


def test_old_tls_from_a_ja4_fingerprint() -> None:
    old = replace(
        MONITOR, fingerprints={"tls_ja4": (fingerprint("t10d0909h1_abcdef012345_0123456789ab", 2),)}
    )
    new = replace(
        PACS, fingerprints={"tls_ja4": (fingerprint("t13d1516h2_8daaf6152771_b186095e22b6", 2),)}
    )
    found = keyed(evaluate(devices=[old, new]))
    assert ("old_tls", "monitor-1", "") in found
    assert ("old_tls", "pacs-1", "") not in found


def test_known_vulnerability_from_imported_csv_and_json_advisories(tmp_path: Path) -> None:
    csv_file = tmp_path / "advisories.csv"
    csv_file.write_text(
        "advisory_id,vendor,model,versions,severity,title\n"
        "ICSMA-99-001-01,GE,Revolution*,<3.2,critical,Hard-coded credentials\n"
        "ICSMA-99-002-01,GE,Revolution*,>=4.0,high,Not this version\n"
    )
    json_file = tmp_path / "advisories.json"
    json_file.write_text(
        json.dumps(
            {
                "advisories": [
                    {
                        "advisory_id": "ICSMA-99-003-01",
                        "vendor": "Zebra",
                        "versions": "*",
                        "title": "Any printer",
                    }
                ]
            }
        )
    )
    ct = replace(
        CT,
        vendor="GE Healthcare",
        model="Revolution EVO",
        fingerprints={"dicom_implementation_version": (fingerprint("GEHC_CT_3.1.5", 3),)},
    )
    printer = replace(PRINTER, vendor="Zebra Technologies")
    advisories = load_advisories([csv_file, json_file])
    found = keyed(evaluate(devices=[ct, printer, PACS], advisories=advisories))
    assert found[("known_vulnerability", "ct-1", "ICSMA-99-001-01")].severity == "critical"
    assert ("known_vulnerability", "ct-1", "ICSMA-99-002-01") not in found
    assert found[("known_vulnerability", "printer-1", "ICSMA-99-003-01")].severity == "high"
    assert not [k for k in found if k[1] == "pacs-1"]


def test_a_bad_advisory_file_names_file_row_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("advisory_id,vendor,versions,severity\n,Acme,4.x,urgent\n")
    with pytest.raises(AdvisoryError) as raised:
        load_advisories([bad])
    message = str(raised.value)
    assert f"{bad}: row 1: advisory_id: missing" in message
    assert "row 1: versions: '4.x' is not a version" in message
    assert "row 1: severity: 'urgent'" in message


def test_policy_violation_names_the_zones_and_the_reason() -> None:
    found = keyed(
        evaluate([flow(MONITOR.addresses[0], PRINTER.addresses[0], 9100)], policy=wing_policy())
    )
    violation = found[("policy_violation", "monitor-1", "10.40.0.9")]
    assert violation.zones == ("bedside", "office")
    assert "default is deny" in violation.detail


def test_a_site_rules_file_overrides_a_severity_and_a_typo_is_named(tmp_path: Path) -> None:
    site = tmp_path / "risk.toml"
    site.write_text('[findings.ftp]\nseverity = "critical"\n')
    assert load_rules(site).findings["ftp"].severity == "critical"
    site.write_text('[findings.ftp]\nseverity = "severe"\n[findings.telnett]\nseverity = "low"\n')
    with pytest.raises(RulesError) as raised:
        load_rules(site)
    assert f"{site}: findings.ftp.severity: 'severe'" in str(raised.value)
    assert "findings.telnett: unknown finding id" in str(raised.value)
