"""Flows that carry their ends' MACs (issue 12) belong to the MAC's device, whatever
address it has now; flows without them fall back to addresses."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, select

from central.classify.ruleset import load_ruleset
from central.db.tables import devices
from central.ingest.apply import IngestContext, store_message
from tests.support.central_records import device, devices_message, flow, flows_message

PUMP_MAC = "00:1a:5c:00:00:38"
OLD_ADDRESS, NEW_ADDRESS, SERVER = "10.4.5.61", "10.4.5.99", "10.20.0.5"


def _address_devices(engine: Engine) -> set[str]:
    with engine.connect() as connection:
        rows = connection.execute(
            select(devices.c.identity).where(devices.c.identity_kind == "address")
        )
        return {identity for (identity,) in rows}


def _pump_then_flow(engine: Engine, clock: Any, **l2: str) -> set[str]:
    context = IngestContext(ruleset=load_ruleset(), clock=clock)
    store_message(
        engine, devices_message("s1", "b1", 0, [device(PUMP_MAC, ipv4=[OLD_ADDRESS])]), context
    )
    # DHCP gave the pump a new address; the flows from it arrive before its next
    # device observation lists it.
    store_message(
        engine, flows_message("s1", "b1", 1, [flow(NEW_ADDRESS, SERVER, 2575, **l2)]), context
    )
    return _address_devices(engine)


def test_a_flow_with_its_mac_belongs_to_that_device_at_a_new_address(
    engine: Engine, clock: Any
) -> None:
    address_devices = _pump_then_flow(engine, clock, orig_l2_addr=PUMP_MAC)
    assert NEW_ADDRESS not in address_devices  # the pump's flow, not a new host
    assert SERVER in address_devices  # its peer showed no MAC: known by address


def test_a_flow_without_macs_falls_back_to_its_addresses(engine: Engine, clock: Any) -> None:
    address_devices = _pump_then_flow(engine, clock)
    assert {NEW_ADDRESS, SERVER} <= address_devices
