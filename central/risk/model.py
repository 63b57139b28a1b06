"""What risk evaluation reads and produces, as plain data (no database here).

DeviceFacts and ObservedFlow are filled by central.risk.store from the inventory (or by
tests and the bench directly); Finding is what evaluation produces, one per
(device, finding id, peer).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from central.timestamps import iso_z


@dataclass(frozen=True)
class FingerprintValue:
    value: str
    first_seen: datetime
    last_seen: datetime


@dataclass(frozen=True)
class DeviceFacts:
    id: str
    site: str
    addresses: tuple[str, ...] = ()
    wings: tuple[str, ...] = ()
    vlans: tuple[int, ...] = ()
    mac: str | None = None
    category: str = "unknown"
    criticality: str = "administrative"
    handles_phi: bool = False
    vendor: str | None = None
    model: str | None = None
    oui_vendor: str | None = None
    evidence_kinds: tuple[str, ...] = ()  # fingerprint kinds behind the classification
    first_seen: datetime | None = None
    created_at: datetime | None = None  # central clock: when the inventory first stored it
    fingerprints: Mapping[str, Sequence[FingerprintValue]] = field(default_factory=dict)


@dataclass(frozen=True)
class ObservedFlow:
    """One flow record as the inventory keeps it (Zeek conn.log names where they exist)."""

    site: str
    ts: datetime
    orig_h: str
    orig_p: int
    resp_h: str
    resp_p: int
    proto: str
    service: str | None = None
    conn_state: str | None = None
    resp_bytes: int = 0
    resp_pkts: int = 0
    community_id: str | None = None
    wing: str | None = None
    server_name: str | None = None


@dataclass
class Finding:
    """One finding of one device; `peer` is an address (or None for device-wide ones)."""

    finding: str
    device_id: str
    severity: str
    first_seen: datetime
    last_seen: datetime
    detail: str
    peer: str | None = None
    count: int = 1
    community_id: str | None = None  # of an example flow
    zones: tuple[str, ...] = ()  # the device's zone, then the peer's
    evidence: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.finding, self.device_id, self.peer or "")

    def as_json(self) -> dict[str, Any]:
        """The API contract's finding: id, severity, first_seen, last_seen, count, peer,
        detail, and the evidence behind it."""
        return {
            "id": self.finding,
            "severity": self.severity,
            "first_seen": iso_z(self.first_seen),
            "last_seen": iso_z(self.last_seen),
            "count": self.count,
            "peer": self.peer,
            "detail": self.detail,
            "zones": list(self.zones),
            "community_id": self.community_id,
            "evidence": self.evidence,
        }
