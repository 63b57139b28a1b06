"""Policy simulation counts, the segmentation matrix and learned rules on a history the
test builds (containment_data.HISTORY)."""

from __future__ import annotations

from central.policy.baseline import learn_baseline, learned_rules, segmentation_matrix
from central.policy.rules import Policy
from central.policy.simulate import simulate
from tests.central.containment_data import (
    BLOCKED_CLINICAL,
    BLOCKED_DEVICES,
    BLOCKED_FLOWS,
    HISTORY,
    HOSTS,
    T0,
    wing_policy,
)


def test_simulation_would_block_n_flows_of_m_devices_of_which_k_clinical() -> None:
    result = simulate(wing_policy(), HISTORY, HOSTS)
    assert result.summary() == (
        f"would block {BLOCKED_FLOWS} flows of {len(BLOCKED_DEVICES)} devices, "
        f"of which {BLOCKED_CLINICAL} clinical"
    )
    assert set(result.as_json()["device_ids"]) == BLOCKED_DEVICES
    listed = [(b["orig"], b["resp"], b["port"], b["rule"]) for b in result.blocked]
    assert listed == [
        ("10.20.0.11", "52.1.2.3", 443, "medical-internet"),
        ("10.20.0.21", "10.40.0.9", 9100, "default"),
    ]
    assert result.flows_checked == sum(row.flows for row in HISTORY)


def test_an_empty_policy_blocks_nothing_and_a_stricter_one_blocks_more() -> None:
    assert simulate(Policy(), HISTORY, HOSTS).flows_blocked == 0
    strict = wing_policy().with_rules([])
    strict = Policy(strict.zone_map, strict.rules[:1], "deny")  # only pumps -> HL7 stays
    result = simulate(strict, HISTORY, HOSTS)
    assert result.flows_blocked == 20 + 10 + 7 + 4 + 5 + 3  # everything but the pumps' HL7
    assert result.clinical_devices == 4  # pump-1, pump-2, monitor-1, ct-1


def test_segmentation_matrix_by_zone_and_by_category() -> None:
    policy = wing_policy()
    entries = learn_baseline(HISTORY, HOSTS, policy.zone_map)
    by_zone = segmentation_matrix(entries, "zone")
    cell = next(
        c for c in by_zone["cells"] if c["from"] == "bedside" and c["to"] == "clinical-servers"
    )
    assert (cell["service"], cell["flows"], cell["devices"]) == ("hl7 (tcp/2575)", 150, 3)
    assert "internet" in by_zone["destinations"]
    by_category = segmentation_matrix(entries, "category")
    pairs = {(c["from"], c["to"], c["port"]) for c in by_category["cells"]}
    assert ("imaging", "pacs", 104) in pairs and ("infusion_pump", "internet", 443) in pairs


def test_learning_window_and_learned_rules_never_open_the_internet_to_medical_zones() -> None:
    policy = wing_policy()
    early = learn_baseline(HISTORY, HOSTS, policy.zone_map, end=T0.replace(hour=9))
    assert {e.resp.address for e in early} >= {"10.10.0.6"} and "52.1.2.3" not in {
        e.resp.address for e in early
    }
    rules = learned_rules(learn_baseline(HISTORY, HOSTS, policy.zone_map), policy.zone_map)
    assert all(r.learned and r.action == "allow" for r in rules)
    assert not [r for r in rules if r.source == "bedside" and r.destination == "internet"]
    assert [r for r in rules if r.source == "bedside" and r.destination == "office"]
