"""Scores, their order, the explanation, the "fix these first" list and the roll-ups."""

from __future__ import annotations

from dataclasses import replace

from central.risk.detect import RiskEvaluator
from central.risk.rules import load_rules
from central.risk.scoring import fix_first, rollups, score_all
from tests.central.containment_data import wing_policy
from tests.central.risk_data import (
    DEVICES,
    HL7,
    NOW,
    PRINTER,
    PUMP,
    WORKSTATION,
    fingerprint,
    flow,
)

RULES = load_rules()


def wing_findings():
    flows = [
        flow(PUMP.addresses[0], HL7.addresses[0], 2575, "hl7"),
        flow(PUMP.addresses[0], "52.1.2.3", 443, "ssl", minutes=3),
        flow(WORKSTATION.addresses[0], PRINTER.addresses[0], 161, "snmp", "udp"),
    ]
    # The sensor's fact: the printer answered a default community (never the string).
    printer = replace(PRINTER, fingerprints={"snmp_default_community": (fingerprint("yes", 1),)})
    devices = [printer if d.id == PRINTER.id else d for d in DEVICES]
    evaluator = RiskEvaluator(RULES, devices, NOW, policy=wing_policy())
    evaluator.add_flows(flows)
    return evaluator.finish()


def test_pump_with_cleartext_phi_and_internet_ranks_above_printer_with_snmp_public() -> None:
    findings = wing_findings()
    scores = score_all(RULES, DEVICES, findings)
    pump, printer = scores["pump-1"], scores["printer-1"]
    assert pump.score == 100 and pump.band == "critical"
    assert printer.score == 10 and printer.band == "low"
    assert scores["ws-1"].score == 0
    ranked = sorted(scores.values(), key=lambda s: -s.score)
    assert ranked[0].device_id == "pump-1"
    assert [s.device_id for s in ranked].index("printer-1") > [s.device_id for s in ranked].index(
        "hl7-1"
    )


def test_explanation_shows_every_term_and_the_cap() -> None:
    scores = score_all(RULES, DEVICES, wing_findings())
    text = scores["pump-1"].explanation()
    assert "cleartext_phi (critical, 1 peer(s)) 35" in text
    assert "internet_communication (critical, 1 peer(s)) 35" in text
    assert "x 1.6 (criticality) x 1.25 (patient data)" in text and "capped at 100" in text
    assert scores["printer-1"].explanation().endswith("= 10.0: risk 10.")


def test_fix_these_first_puts_the_pumps_findings_before_the_printers() -> None:
    scores = score_all(RULES, DEVICES, wing_findings())
    ranked = fix_first(RULES, DEVICES, scores)
    order = [(item["device_id"], item["finding"]) for item in ranked]
    assert order[0][0] == "pump-1" and order[1][0] == "pump-1"
    assert {order[0][1], order[1][1]} == {"cleartext_phi", "internet_communication"}
    assert order.index(("printer-1", "snmp_default_community")) > 2
    assert ranked[0]["rank"] == 1 and ranked[0]["fix"]


def test_rollups_per_site_and_wing_count_bands_and_severities() -> None:
    findings = wing_findings()
    scores = score_all(RULES, DEVICES, findings)
    by_scope = {(r["site"], r["wing"]): r for r in rollups(DEVICES, scores, findings)}
    site = by_scope[("st-mary", None)]
    assert site["devices"] == 8 and site["max_risk"] == 100
    assert site["by_band"]["critical"] >= 1 and sum(site["by_band"].values()) == 8
    assert by_scope[("st-mary", "dc")]["devices"] == 2  # PACS and HL7 engine
    assert by_scope[("st-mary", "4b")]["findings_by_severity"]["critical"] >= 2
