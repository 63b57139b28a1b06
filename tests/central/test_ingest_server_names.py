"""A flow's server name (issue 14: TLS SNI, HTTP Host or DNS answer, as the sensor saw it)
is stored with the flow at ingest, and the risk evaluation reads it: a policy rule with a
server-name pattern (to_server) allows a device's flow to that name, while the same
device's flow to an unnamed internet address stays a finding. The communications keep
the last name of each pair, so the learned baseline's MUD file names the destination."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, select

from central.classify.ruleset import load_ruleset
from central.db.tables import devices, flows
from central.ingest.apply import IngestContext, store_message
from central.policy.mud import mud_for_category
from central.risk.rules import load_rules
from central.risk.store import RiskContext, evaluate, learn, load_communications, stored_findings
from tests.central.containment_data import wing_policy
from tests.central.risk_data import DEVICES, PUMP_TLS, SITE
from tests.central.risk_db import seed_devices
from tests.support.central_records import flow, flows_message

VENDOR_CLOUD, ELSEWHERE = "34.120.5.5", "52.1.2.3"
PUMP_MAC = "00:1a:5c:00:00:39"


def seed_with_the_pump_by_mac(engine: Engine, clock: Any) -> None:
    with engine.begin() as connection:
        seed_devices(connection, DEVICES, clock())
        # The pump as its sensor reports it: a device by MAC holding its address, so the
        # flows from it are its own and make no address device.
        connection.execute(
            devices.update()
            .where(devices.c.id == PUMP_TLS.id)
            .values(identity_kind="mac", identity=PUMP_MAC, mac=PUMP_MAC)
        )


def test_a_to_server_rule_allows_a_stored_flow_by_its_server_name(
    engine: Engine, clock: Any
) -> None:
    pump = PUMP_TLS.addresses[0]
    seed_with_the_pump_by_mac(engine, clock)
    context = IngestContext(ruleset=load_ruleset(), clock=clock)
    named = flow(pump, VENDOR_CLOUD, 443, service="ssl", server_name="api.pumpvendor.example")
    unnamed = flow(pump, ELSEWHERE, 443, service="ssl")
    store_message(engine, flows_message("s1", "b1", 0, [named, unnamed], site=SITE), context)

    with engine.begin() as connection:
        stored = dict(connection.execute(select(flows.c.resp_h, flows.c.server_name)).all())
        evaluate(connection, RiskContext(load_rules(), wing_policy(), settle_s=0), clock())
        found = {(f.finding, f.device_id, f.peer) for f in stored_findings(connection)}
    assert stored == {VENDOR_CLOUD: "api.pumpvendor.example", ELSEWHERE: None}
    assert ("internet_communication", PUMP_TLS.id, ELSEWHERE) in found
    assert not {k for k in found if k[2] == VENDOR_CLOUD}


def test_the_learned_mud_file_names_a_destination_by_its_stored_server_name(
    engine: Engine, clock: Any
) -> None:
    context = IngestContext(ruleset=load_ruleset(), clock=clock)
    pump = PUMP_TLS.addresses[0]
    first = flow(pump, VENDOR_CLOUD, 443, service="ssl", server_name="api.pumpvendor.example")
    later = flow(pump, VENDOR_CLOUD, 443, service="ssl")  # a batch without the name
    seed_with_the_pump_by_mac(engine, clock)
    store_message(engine, flows_message("s1", "b1", 0, [first], site=SITE), context)
    store_message(engine, flows_message("s1", "b1", 1, [later], site=SITE), context)
    with engine.begin() as connection:
        (pair,) = [c for c in load_communications(connection) if c.resp == VENDOR_CLOUD]
        entries = learn(connection, wing_policy(), clock())
    assert (pair.flows, pair.server_name) == (2, "api.pumpvendor.example")
    document = mud_for_category("infusion_pump", entries, clock())
    acls = document["ietf-access-control-list:acls"]["acl"]
    matches = [ace["matches"] for acl in acls for ace in acl["aces"]["ace"]]
    assert any(
        m.get("ipv4", {}).get("ietf-acldns:dst-dnsname") == "api.pumpvendor.example"
        for m in matches
    )
