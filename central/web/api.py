"""The JSON API (contract: architecture.md, "JSON API"). Every list takes the same filters
(central.web.filters); reads need a signed-in user or the token, writes an editor or the
token. The OpenAPI document is at /openapi.json."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request

from central.web.access import Principal, api_editor, api_viewer
from central.web.backend import Backend
from central.web.filters import ListFilters, list_filters
from central.web.labels import LabelError, clean_label
from central.web.schemas import AuditEntry, Device, DeviceDetail, LabelIn, Sensor

router = APIRouter(prefix="/api", tags=["inventory"])

Viewer = Annotated[Principal, Depends(api_viewer)]
Editor = Annotated[Principal, Depends(api_editor)]
Filters = Annotated[ListFilters, Depends(list_filters)]


def backend(request: Request) -> Backend:
    return request.app.state.backend  # type: ignore[no-any-return]


@router.get("/devices", response_model=list[Device], summary="Devices, filtered")
def devices(request: Request, _who: Viewer, filters: Filters) -> list[dict[str, Any]]:
    return backend(request).devices(filters)


@router.get(
    "/devices/{device_id}", response_model=DeviceDetail, summary="One device with its history"
)
def device(request: Request, _who: Viewer, device_id: str) -> dict[str, Any]:
    found = backend(request).device(device_id)
    if found is None:
        raise HTTPException(404, detail=f"no device {device_id!r}")
    return found


@router.put(
    "/devices/{device_id}/label", response_model=DeviceDetail, summary="Set a person's label"
)
def set_label(request: Request, who: Editor, device_id: str, body: LabelIn) -> dict[str, Any]:
    """Needs `Authorization: Bearer <token>` or an editor's session (with its
    `X-CSRF-Token` header). The label wins over the rules, is kept in the device's history
    and recorded in the audit log under the writer's name."""
    raw = body.model_dump(exclude={"note"}, exclude_none=True)
    try:
        label = clean_label(raw)
    except LabelError as error:
        raise HTTPException(422, detail=str(error)) from None
    updated = backend(request).set_label(device_id, label, body.note.strip(), who.name)
    if updated is None:
        raise HTTPException(404, detail=f"no device {device_id!r}")
    return updated


@router.get("/summary", summary="Counts per site and wing by category, criticality and risk band")
def summary(request: Request, _who: Viewer, filters: Filters) -> dict[str, Any]:
    return backend(request).summary(filters)


@router.get("/sensors", response_model=list[Sensor], summary="The sensor fleet", tags=["fleet"])
def sensors(request: Request, _who: Viewer, filters: Filters) -> list[dict[str, Any]]:
    return backend(request).sensors(filters)


@router.get("/rejected", summary="Rejected or malformed messages (counts)", tags=["fleet"])
def rejected(request: Request, _who: Viewer) -> list[dict[str, Any]]:
    return backend(request).rejected()


@router.get("/audit", response_model=list[AuditEntry], summary="Who changed what", tags=["audit"])
def audit(
    request: Request, _who: Viewer, actor: str | None = None, action: str | None = None
) -> list[dict[str, Any]]:
    return backend(request).audit_entries(actor=actor, action=action)


@router.get("/alerts", summary="Alerts, filtered like every list", tags=["alerts"])
def alerts(request: Request, _who: Viewer, filters: Filters) -> list[dict[str, Any]]:
    return backend(request).alerts(filters)
