"""MUD files from the learned baseline: the structure of RFC 8520 / RFC 8519 (checked
by a schema written from the RFCs' YANG modules), what each ACE says, and the check
itself refusing what the modules do not allow."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

from central.policy.baseline import learn_baseline
from central.policy.mud import categories_in, mud_for_category
from central.policy.mud_schema import mud_problems
from tests.central.containment_data import HISTORY, HOSTS, wing_policy

NOW = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)


def entries():
    return learn_baseline(HISTORY, HOSTS, wing_policy().zone_map)


def test_one_valid_mud_file_per_category_with_traffic() -> None:
    found = categories_in(entries())
    assert found == [
        "hl7_interface",
        "imaging",
        "infusion_pump",
        "label_printer",
        "pacs",
        "patient_monitor",
        "workstation",
    ]
    for category in found:
        document = mud_for_category(category, entries(), NOW, "https://mud.example/iomt")
        assert mud_problems(document) == [], category


def test_pump_mud_allows_hl7_to_the_engine_class_and_names_the_vendor_cloud() -> None:
    document = mud_for_category("infusion_pump", entries(), NOW, "https://mud.example/iomt")
    mud = document["ietf-mud:mud"]
    assert mud["mud-url"] == "https://mud.example/iomt/infusion_pump.json"
    assert mud["last-update"] == "2026-01-10T12:00:00Z" and mud["is-supported"] is True
    (acl_ref,) = mud["from-device-policy"]["access-lists"]["access-list"]
    acl = next(
        a for a in document["ietf-access-control-list:acls"]["acl"] if a["name"] == acl_ref["name"]
    )
    assert acl["type"] == "ipv4-acl-type"
    matches = [ace["matches"] for ace in acl["aces"]["ace"]]
    assert {
        "ipv4": {"protocol": 6},
        "ietf-mud:mud": {"controller": "urn:iomt-central:category:hl7_interface"},
        "tcp": {
            "destination-port": {"operator": "eq", "port": 2575},
            "ietf-mud:direction-initiated": "from-device",
        },
    } in matches
    assert {
        "ipv4": {"ietf-acldns:dst-dnsname": "api.pumpvendor.example", "protocol": 6},
        "tcp": {
            "destination-port": {"operator": "eq", "port": 443},
            "ietf-mud:direction-initiated": "from-device",
        },
    } in matches
    assert any(m["ipv4"].get("destination-ipv4-network") == "52.1.2.3/32" for m in matches)
    assert "to-device-policy" not in mud  # nothing was initiated towards the pumps


def test_pacs_mud_lists_what_was_initiated_to_it() -> None:
    document = mud_for_category("pacs", entries(), NOW)
    acl = document["ietf-access-control-list:acls"]["acl"]
    to_device = next(a for a in acl if a["name"].endswith("to"))
    ports = {ace["matches"]["tcp"]["destination-port"]["port"] for ace in to_device["aces"]["ace"]}
    assert ports == {104, 443}
    directions = {
        ace["matches"]["tcp"]["ietf-mud:direction-initiated"] for ace in to_device["aces"]["ace"]
    }
    assert directions == {"to-device"}


def test_the_check_refuses_what_the_modules_do_not_allow() -> None:
    good = mud_for_category("infusion_pump", entries(), NOW)
    broken = copy.deepcopy(good)
    del broken["ietf-mud:mud"]["mud-url"]
    broken["ietf-mud:mud"]["cache-validity"] = 500
    broken["ietf-mud:mud"]["from-device-policy"]["access-lists"]["access-list"][0]["name"] = "nope"
    ace = broken["ietf-access-control-list:acls"]["acl"][0]["aces"]["ace"][0]
    ace["matches"]["tcp"]["destination-port"]["port"] = 70000
    ace["matches"]["ipv4"]["colour"] = "blue"
    ace["actions"]["forwarding"] = "maybe"
    problems = "\n".join(mud_problems(broken))
    assert "cache-validity: must be an integer 1..168" in problems
    assert "destination-port/port: must be an integer 0..65535" in problems
    assert "ipv4/colour: not a node of the MUD/ACL modules here" in problems
    assert "forwarding: must be one of accept, drop, reject" in problems
    fixed_values = copy.deepcopy(broken)
    fixed_values["ietf-access-control-list:acls"] = good["ietf-access-control-list:acls"]
    fixed_values["ietf-mud:mud"]["cache-validity"] = 48
    semantic = "\n".join(mud_problems(fixed_values))
    assert "mud-url: mandatory leaf missing" in semantic
    assert "access-list 'nope' names no ACL (leafref)" in semantic
