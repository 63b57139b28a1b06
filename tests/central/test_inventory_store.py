"""The inventory's write side: idempotent, one device per MAC per site across boots,
history of what changed, hosts behind a router by address, a person's label wins."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, func, select

from central.classify.ruleset import load_ruleset
from central.db.tables import (
    communications,
    device_history,
    devices,
    flows,
    rejected_messages,
    sensors,
)
from central.ingest.apply import IngestContext, store_message
from central.inventory.labels import set_label
from central.inventory.queries import DeviceFilter, get_device, list_devices
from tests.support.central_records import device, devices_message, flow, flows_message

PUMP = "f8:c6:78:00:00:11"
ALARIS = {"dhcp_vendor_class": ["CareFusion Alaris 8015"]}


def _context(clock: Any) -> IngestContext:
    return IngestContext(ruleset=load_ruleset(), clock=clock)


def _counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as connection:
        return {
            table.name: connection.execute(select(func.count()).select_from(table)).scalar_one()
            for table in (devices, device_history, flows, communications)
        }


def test_a_redelivered_message_changes_nothing(engine: Engine, clock: Any) -> None:
    context = _context(clock)
    message = devices_message("s1", "b1", 0, [device(PUMP, ["10.4.2.11"], fingerprints=ALARIS)])
    traffic = flows_message(
        "s1", "b1", 1, [flow("10.4.2.11", "10.20.0.5", 443)] * 3, counters={"kernel_drops": 7}
    )
    assert store_message(engine, message, context) == "stored"
    assert store_message(engine, traffic, context) == "stored"
    before = _counts(engine)
    clock.advance(minutes=5)
    assert store_message(engine, message, context) == "duplicate"
    assert store_message(engine, traffic, context) == "duplicate"
    assert _counts(engine) == before
    with engine.connect() as connection:
        pair = connection.execute(select(communications)).mappings().one()
        assert pair["flows"] == 3 and pair["orig_bytes"] == 1200
        fleet = connection.execute(select(sensors)).mappings().one()
        assert fleet["messages"] == 2 and fleet["flows"] == 3 and fleet["drops"] == 7


def test_a_restarted_sensor_does_not_make_devices_new_again(engine: Engine, clock: Any) -> None:
    context = _context(clock)
    store_message(
        engine,
        devices_message("s1", "boot-a", 0, [device(PUMP, ["10.4.2.11"], fingerprints=ALARIS)]),
        context,
    )
    first_day = clock()
    clock.advance(days=1)
    store_message(
        engine,
        devices_message("s1", "boot-b", 0, [device(PUMP, ["10.4.2.11"], fingerprints=ALARIS)]),
        context,
    )
    store_message(
        engine,
        devices_message("s2", "boot-c", 0, [device(PUMP, ["10.4.2.11"])], wing="4c"),
        context,
    )
    with engine.connect() as connection:
        listed = list_devices(connection)
        assert len(listed) == 1
        assert listed[0]["wings"] == ["4b", "4c"] and listed[0]["sensors"] == ["s1", "s2"]
        assert (
            list_devices(connection, DeviceFilter(since=first_day + (clock() - first_day) / 2))
            == []
        )
        history = get_device(connection, listed[0]["id"])["history"]  # type: ignore[index]
        assert [entry["change"] for entry in history] == ["new_device"]


def test_history_records_new_address_fingerprint_and_classification_changes(
    engine: Engine, clock: Any
) -> None:
    context = _context(clock)
    store_message(
        engine,
        devices_message(
            "s1",
            "b1",
            0,
            [device(PUMP, ["10.4.2.11"], fingerprints={"dhcp_vendor_class": ["MSFT 5.0"]})],
        ),
        context,
    )
    clock.advance(hours=1)
    store_message(
        engine,
        devices_message(
            "s1", "b1", 1, [device(PUMP, ["10.4.2.11", "10.4.2.99"], fingerprints=ALARIS)]
        ),
        context,
    )
    with engine.connect() as connection:
        one = list_devices(connection)[0]
        changes = get_device(connection, one["id"])["history"]  # type: ignore[index]
    kinds = [entry["change"] for entry in changes]
    assert kinds == ["new_device", "new_address", "fingerprint_changed", "classification_changed"]
    assert changes[1]["detail"] == {"address": "10.4.2.99"}
    assert changes[2]["detail"]["previous"] == ["MSFT 5.0"]
    assert changes[3]["detail"]["from"]["category"] == "workstation"
    assert changes[3]["detail"]["to"]["category"] == "infusion_pump"


def test_a_host_behind_a_router_is_a_device_by_address_until_a_mac_claims_it(
    engine: Engine, clock: Any
) -> None:
    context = _context(clock)
    store_message(
        engine,
        flows_message(
            "s1",
            "b1",
            0,
            [flow("10.4.5.61", "10.20.0.5", 443), flow("10.4.5.61", "93.184.216.34", 443)],
        ),
        context,
    )
    with engine.connect() as connection:
        by_address = {d["ipv4"][0]: d for d in list_devices(connection)}
    assert set(by_address) == {"10.4.5.61", "10.20.0.5"}  # the internet peer is no device
    assert (
        by_address["10.20.0.5"]["mac"] is None and by_address["10.20.0.5"]["category"] == "server"
    )
    store_message(
        engine,
        devices_message("s1", "b1", 1, [device("98:e7:43:00:00:61", ["10.4.5.61"])]),
        context,
    )
    with engine.connect() as connection:
        listed = list_devices(connection)
    assert sorted((d["ipv4"][0], d["mac"]) for d in listed) == [
        ("10.20.0.5", None),
        ("10.4.5.61", "98:e7:43:00:00:61"),
    ]


def test_a_persons_label_wins_and_is_in_the_history(engine: Engine, clock: Any) -> None:
    context = _context(clock)
    store_message(
        engine, devices_message("s1", "b1", 0, [device("00:11:22:33:44:55", ["10.4.1.5"])]), context
    )
    with engine.begin() as connection:
        did = list_devices(connection)[0]["id"]
        set_label(
            connection,
            did,
            {"category": "nurse_call", "vendor": "Ascom", "model": "Telligence"},
            "alice",
            clock(),
            note="checked on site",
        )
    # New facts from the sensors do not undo a person's label.
    store_message(
        engine,
        devices_message(
            "s1",
            "b1",
            1,
            [
                device(
                    "00:11:22:33:44:55",
                    ["10.4.1.5"],
                    fingerprints={"dhcp_vendor_class": ["MSFT 5.0"]},
                )
            ],
        ),
        context,
    )
    with engine.connect() as connection:
        one = get_device(connection, did)
        nurse_calls = list_devices(connection, DeviceFilter(category="nurse_call"))
    assert one is not None
    assert (one["category"], one["vendor"], one["model"]) == ("nurse_call", "Ascom", "Telligence")
    assert one["labelled_by"] == "alice" and one["confidence"] == 1.0
    assert [d["id"] for d in nurse_calls] == [did]
    override = [h for h in one["history"] if h["change"] == "label_override"]
    assert (
        override[0]["actor"] == "alice" and override[0]["detail"]["to"]["category"] == "nurse_call"
    )


def test_rejected_messages_are_counted_never_stored(engine: Engine, clock: Any) -> None:
    context = _context(clock)
    store_message(engine, devices_message("s1", "b1", 0, [device(PUMP)]), context)
    rejected = {
        "type": "rejected",
        "reason": "bad_signature",
        "detail": "signature does not verify",
        "topic": "iomt/st-luke/4b/s1/flows",
        "bytes": 900,
    }
    for _ in range(3):
        assert store_message(engine, [rejected], context) == "rejected"
    with engine.connect() as connection:
        row = connection.execute(select(rejected_messages)).mappings().one()
        fleet = connection.execute(select(sensors)).mappings().one()
    assert (row["reason"], row["count"], row["claimed_sensor"]) == ("bad_signature", 3, "s1")
    assert fleet["rejected"] == 3
    assert _counts(engine)["flows"] == 0


def test_unknown_devices_get_behaviour_suggestions_marked_as_such(
    engine: Engine, clock: Any
) -> None:
    context = _context(clock)
    known = device(
        "98:e7:43:00:00:61",
        ["10.4.5.61"],
        fingerprints={"dhcp_vendor_class": ["MSFT 5.0"]},
        protocols=["http", "ssl"],
    )
    mystery = device("02:00:00:00:00:01", ["10.4.5.99"], protocols=["http", "ssl"])
    store_message(engine, devices_message("s1", "b1", 0, [known, mystery]), context)
    store_message(
        engine,
        flows_message(
            "s1",
            "b1",
            1,
            [flow("10.4.5.61", "10.20.0.5", 443), flow("10.4.5.99", "10.20.0.5", 443)],
        ),
        context,
    )
    with engine.connect() as connection:
        listed = {d["mac"]: d for d in list_devices(connection)}
        unknown = get_device(connection, listed["02:00:00:00:00:01"]["id"])
    assert unknown is not None and unknown["category"] == "unknown"
    assert unknown["suggestions"][0]["suggestion"] is True
    assert unknown["suggestions"][0]["category"] == "workstation"
    assert "calls tcp/443" in unknown["suggestions"][0]["shared"]
