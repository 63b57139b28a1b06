"""The JSON API's shapes, for the OpenAPI document. They describe what the query layer
returns (the contract's fields) and let further fields through (`extra="allow"`), so the
API grows without breaking clients that read the contract's fields."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class Finding(_Open):
    id: str = Field(description="e.g. cleartext_phi, telnet, new_device")
    severity: Literal["low", "medium", "high", "critical"]
    first_seen: str | None = None
    last_seen: str | None = None
    count: int = 0
    peer: str | None = None
    detail: Any = None


class Device(_Open):
    id: str = Field(description="stable, scoped to its site")
    mac: str | None = Field(description="null for a host seen only behind a router")
    site: str
    wings: list[str]
    sensors: list[str]
    ipv4: list[str]
    ipv6: list[str]
    vlans: list[int]
    vendor: str | None
    model: str | None
    category: str
    modality: str | None = Field(None, description="imaging only, e.g. CT, US")
    confidence: float
    evidence: list[Any] = Field(description="the fingerprints that decided the label")
    handles_phi: bool
    phi_reason: str | None
    criticality: str
    first_seen: str = Field(description="ISO 8601 UTC, the sensors' packet time")
    last_seen: str
    risk: int | None = Field(description="0-100")
    findings: list[Finding]


class HistoryEntry(_Open):
    at: str
    change: str
    detail: Any = None
    actor: str | None = None


class DeviceDetail(Device):
    history: list[HistoryEntry]


class Sensor(_Open):
    id: str
    site: str
    wing: str
    version: str | None
    last_message: str | None
    drops: int
    spool_backlog_bytes: int | None
    clock_skew_s: float | None
    rejected: int
    silent: bool


class LabelIn(BaseModel):
    """A person's label: every field optional; blank fields keep the rules' value."""

    model_config = ConfigDict(extra="forbid")
    category: str | None = None
    vendor: str | None = None
    model: str | None = None
    modality: str | None = None
    criticality: str | None = None
    handles_phi: bool | None = None
    note: str = Field("", description="why: kept in the history and the audit log")


class AuditEntry(_Open):
    id: int
    at: str
    actor: str
    action: str
    target: str | None
    detail: Any = None


class AlertChange(BaseModel):
    note: str | None = Field(None, description="why: kept with the alert and in the audit log")


class ProposedPolicy(BaseModel):
    policy: str = Field(description="TOML: [zones.NAME] tables and a [policy] table")
