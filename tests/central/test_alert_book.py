"""Alerts in the database: a flood stays one alert with a growing count, updates are
rate-limited, people acknowledge and close, and a closed alert's finding reopens one."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import Engine, select

from central.alerts.book import AlertSettings, AlertStateError, acknowledge, close, list_alerts
from central.db import open_database
from central.db.tables import audit_log
from central.inventory.queries import get_device
from central.risk.rules import load_rules
from central.risk.store import RiskContext, evaluate, trend
from central.risk.tables import alerts, findings
from tests.central.containment_data import wing_policy
from tests.central.risk_data import DEVICES, HL7, NOW, PRINTER, PUMP, WORKSTATION, flow
from tests.central.risk_db import insert_flows, seed_devices

CONTEXT = RiskContext(
    load_rules(),
    wing_policy(),
    alert_settings=AlertSettings("medium", update_interval_s=300),
    settle_s=0,
)


@pytest.fixture
def db(database_url: str) -> Iterator[Engine]:
    engine = open_database(database_url)
    with engine.begin() as connection:
        seed_devices(connection, DEVICES, NOW)
    yield engine
    engine.dispose()


def telnet_flood(count: int, start_minute: float) -> list:
    return [
        flow(
            WORKSTATION.addresses[0],
            PRINTER.addresses[0],
            23,
            "telnet",
            minutes=start_minute + i / 1000,
        )
        for i in range(count)
    ]


def test_a_flood_is_one_alert_whose_count_grows_and_updates_are_rate_limited(db: Engine) -> None:
    now, events = NOW, []
    for round_index in range(10):  # 10 rounds of 100 flows, one minute apart
        with db.begin() as connection:
            insert_flows(connection, telnet_flood(100, round_index), now)
            result = evaluate(connection, CONTEXT, now)
        events += [e for e in result.events if e.alert["finding"] == "telnet"]
        now += timedelta(seconds=60)
    with db.connect() as connection:
        rows = (
            connection.execute(select(alerts).where(alerts.c.finding == "telnet")).mappings().all()
        )
        stored = connection.execute(
            select(findings.c.count).where(findings.c.finding == "telnet")
        ).scalar()
    assert len(rows) == 1 and rows[0]["count"] == 1000 and stored == 1000
    # Delivered when new (t=0) and once 300 s later (t=300); the other eight rounds only
    # updated the row.
    assert [e.kind for e in events] == ["new", "update"]
    assert events[0].alert["count"] == 100 and events[1].alert["count"] == 600
    assert rows[0]["deliveries"] == 2 and rows[0]["peer"] == WORKSTATION.addresses[0]
    alert = events[0].alert
    assert alert["device_id"] == "printer-1" and alert["zones"] == ["office", "office"]
    assert alert["community_id"] and alert["first_seen"] and alert["severity"] == "high"


def test_acknowledge_then_close_is_audited_and_new_traffic_after_close_opens_a_new_alert(
    db: Engine,
) -> None:
    with db.begin() as connection:
        insert_flows(connection, [flow(PUMP.addresses[0], HL7.addresses[0], 2575, "hl7")], NOW)
        result = evaluate(connection, CONTEXT, NOW)
    new = [e.alert for e in result.events if e.alert["finding"] == "cleartext_phi"]
    assert {a["device_id"] for a in new} == {"pump-1", "hl7-1"}
    pump_alert = next(a for a in new if a["device_id"] == "pump-1")
    with db.begin() as connection:
        acked = acknowledge(connection, pump_alert["id"], "nurse.manager", NOW, "vendor called")
        closed = close(connection, pump_alert["id"], "nurse.manager", NOW + timedelta(hours=1))
        with pytest.raises(AlertStateError):
            acknowledge(connection, pump_alert["id"], "someone", NOW)
        actions = connection.execute(select(audit_log.c.action, audit_log.c.actor)).all()
    assert acked["state"] == "acknowledged" and acked["acknowledged_by"] == "nurse.manager"
    assert closed["state"] == "closed" and closed["note"] == "vendor called"
    assert ("alert.acknowledge", "nurse.manager") in actions and (
        "alert.close",
        "nurse.manager",
    ) in actions
    later = NOW + timedelta(hours=2)
    with db.begin() as connection:
        result = evaluate(connection, CONTEXT, later)  # nothing new: stays closed
        assert not [e for e in result.events if e.alert["device_id"] == "pump-1"]
        insert_flows(
            connection, [flow(PUMP.addresses[0], HL7.addresses[0], 2575, "hl7", minutes=200)], later
        )
        result = evaluate(connection, CONTEXT, later)
        reopened = [e for e in result.events if e.alert["device_id"] == "pump-1"]
        listed = list_alerts(connection, device_id="pump-1")
    assert [e.kind for e in reopened] == ["new"] and reopened[0].alert["count"] == 2
    assert [a["state"] for a in listed] == ["open", "closed"]


def test_device_api_shape_carries_risk_findings_and_the_trend_has_points(db: Engine) -> None:
    with db.begin() as connection:
        insert_flows(
            connection,
            [
                flow(PUMP.addresses[0], HL7.addresses[0], 2575, "hl7"),
                flow(PUMP.addresses[0], "52.1.2.3", 443, "ssl"),
            ],
            NOW,
        )
        evaluate(connection, CONTEXT, NOW)
        evaluate(connection, CONTEXT, NOW + timedelta(hours=2))
        device = get_device(connection, "pump-1")
        points = trend(connection, "st-mary", "4b")
    assert device is not None and device["risk"] == 100
    ids = [f["id"] for f in device["findings"]]
    assert {"cleartext_phi", "internet_communication", "policy_violation"} <= set(ids)
    assert device["findings"][0]["severity"] == "critical"
    assert len(points) == 2 and points[-1]["max_risk"] == 100
