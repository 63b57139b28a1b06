"""An alert in the channels' formats: a wire alert record (MQTT), CEF (syslog).

CEF (ArcSight Common Event Format, v0): `CEF:0|Vendor|Product|Version|SignatureID|Name|
Severity|Extension`. Header fields escape `\\` and `|`; extension values escape `\\`,
`=` and line breaks. Severity is CEF's 0-10 scale.
"""

from __future__ import annotations

from typing import Any

from agent import __version__

CEF_SEVERITY = {"low": 3, "medium": 5, "high": 8, "critical": 10}


def wire_record(kind: str, alert: dict[str, Any]) -> dict[str, Any]:
    """The alert as one record of an `alerts` message (agent.wire; "rule" = finding id)."""
    record = {"rule": alert["finding"], "event": kind}
    for key, value in alert.items():
        if value is not None and key != "finding":
            record[key] = value
    return record


def cef(kind: str, alert: dict[str, Any]) -> str:
    """One CEF line for the alert."""
    header = [
        "CEF:0",
        "iomt",
        "iomt-central",
        __version__,
        alert["finding"],
        f"{alert['finding']} on {alert['device_id']}",
        str(CEF_SEVERITY.get(alert["severity"], 5)),
    ]
    extension = {
        "act": kind,
        "externalId": alert["id"],
        "cs1Label": "device",
        "cs1": alert["device_id"],
        "cs2Label": "zones",
        "cs2": ",".join(alert["zones"]),
        "cs3Label": "communityId",
        "cs3": alert["community_id"],
        "cnt": alert["count"],
        "dst": alert["peer"],
        "start": alert["first_seen"],
        "end": alert["last_seen"],
        "msg": alert["detail"],
        "cs4Label": "site",
        "cs4": f"{alert['site']}/{alert['wing']}",
    }
    fields = " ".join(
        f"{key}={_escape_value(str(value))}"
        for key, value in extension.items()
        if value not in (None, "")
    )
    return "|".join(_escape_header(h) for h in header) + "|" + fields


def _escape_header(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|")


def _escape_value(text: str) -> str:
    return (
        text.replace("\\", "\\\\")
        .replace("=", "\\=")
        .replace("\r\n", "\\n")
        .replace("\n", "\\n")
        .replace("\r", "\\r")
    )
