"""Silent sensors as alerts: a wing whose sensor stops talking is a wing nobody watches.

A sensor counts as silent as the fleet page says (central.inventory.queries.list_sensors:
no message for [fleet] silent_after_s on the central clock, or its last will said
offline). The first evaluation that finds it silent raises one `sensor_silent` alert
through the alert channels; the first that hears it again sends a `resolved` event. Which
sensors were announced is kept in risk_state, so a restart (of any process) neither repeats an
alert nor forgets one. These alerts name a sensor, not a device, so they stand outside
the alerts table (its rows belong to devices); the fleet page shows the same state.

    events = observe_fleet(connection, now, silent_after_s)   # list[AlertEvent]
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select

from central.alerts.book import AlertEvent
from central.inventory.queries import list_sensors
from central.risk.tables import risk_state
from central.timestamps import iso_z

FINDING = "sensor_silent"
SEVERITY = "high"  # a blind wing: every other finding there goes unseen
_MARK = "silent:"


def observe_fleet(connection: Connection, now: datetime, silent_after_s: float) -> list[AlertEvent]:
    """The alert events that the fleet's silence changes call for, and their marks kept."""
    announced = {
        name: at
        for name, at in connection.execute(
            select(risk_state.c.name, risk_state.c.at).where(risk_state.c.name.startswith(_MARK))
        )
    }
    events = []
    for sensor in list_sensors(connection, now, silent_after_s):
        name = _mark_name(sensor["site"], sensor["id"])
        if sensor["silent"] and name not in announced:
            connection.execute(insert(risk_state).values(name=name, at=now))
            events.append(AlertEvent("new", _alert(sensor, now, since=now, state="open")))
        elif not sensor["silent"] and name in announced:
            connection.execute(delete(risk_state).where(risk_state.c.name == name))
            alert = _alert(sensor, now, since=announced[name], state="closed")
            events.append(AlertEvent("resolved", alert))
    return events


def _mark_name(site: str, sensor_id: str) -> str:
    # risk_state names are at most 64 characters; a site and sensor id can be 128.
    return _MARK + hashlib.sha256(f"{site}/{sensor_id}".encode()).hexdigest()[:40]


def _alert(sensor: dict[str, Any], now: datetime, since: datetime, state: str) -> dict[str, Any]:
    """The event in the shape every channel formats (central.alerts.message)."""
    last = sensor["last_message"] or "never"
    return {
        "id": f"{FINDING}:{sensor['site']}/{sensor['id']}",
        "finding": FINDING,
        "device_id": f"sensor:{sensor['id']}",
        "peer": "",
        "site": sensor["site"],
        "wing": sensor["wing"],
        "severity": SEVERITY,
        "zones": [],
        "detail": f"sensor {sensor['id']} ({sensor['site']}/{sensor['wing']}): last message "
        f"{last}, status {sensor['status'] or 'unknown'}",
        "first_seen": iso_z(since),
        "last_seen": iso_z(now),
        "count": 1,
        "community_id": None,
        "state": state,
    }
