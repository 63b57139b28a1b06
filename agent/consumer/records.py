"""Decoded messages as the JSON records `verify` and `consume` print (one dict each).

Every record has `type` and the message's `sensor`, `site`, `wing`, `boot` (hex),
`topic`, and `seq` for data messages. Flows carry exactly FlowRecord.to_json's fields
(the uid derived from boot id and serial, as `flows --json` prints it).
"""

from __future__ import annotations

from typing import Any

from agent.wire import Message


def _origin(message: Message, topic: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "sensor": message.identity.sensor_id,
        "site": message.identity.site,
        "wing": message.identity.wing,
        "boot": message.identity.boot_id.hex(),
    }
    if message.seq is not None:
        out["seq"] = message.seq
    out["topic"] = topic
    return out


def message_records(message: Message, topic: str) -> list[dict[str, Any]]:
    """The records of one authentic message: a `batch` record for data messages (window,
    counters, losses), then one record per flow / device / alert, or the health or
    status record."""
    origin = _origin(message, topic)
    if message.kind == "status":
        assert message.time_us is not None
        return [
            {
                "type": "status",
                **origin,
                "state": message.state,
                "time": message.time_us / 1e6,
                "agent_version": message.agent_version,
                "loss_totals": message.loss_totals,
                "missing_interfaces": message.missing_interfaces,
            }
        ]
    assert message.window_start_us is not None and message.window_end_us is not None
    window = {
        "window_start": message.window_start_us / 1e6,
        "window_end": message.window_end_us / 1e6,
    }
    if message.kind == "health":
        return [
            {
                "type": "health",
                **origin,
                **window,
                "figures": message.health,
                "counters": message.counters,
                "losses": message.losses,
            }
        ]
    out: list[dict[str, Any]] = [
        {
            "type": "batch",
            **origin,
            "kind": message.kind,
            **window,
            "records": len(message.flows) + len(message.devices) + len(message.alerts),
            "counters": message.counters,
            "losses": message.losses,
        }
    ]
    boot_id = message.identity.boot_id
    for flow in message.flows:
        out.append({"type": "flow", **flow.to_json(boot_id), **origin})
    for device in message.devices:
        out.append({"type": "device", **_jsonable(device), **origin})
    for alert in message.alerts:
        out.append({"type": "alert", **_jsonable(alert), **origin})
    return out


def _jsonable(value: Any) -> Any:
    # Device/alert maps may hold byte strings (MAC addresses): JSON gets hex.
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    return value
