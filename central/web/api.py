"""The JSON API (contract: architecture.md, "JSON API"). Every list takes the same filters
(central.web.filters); reads need a signed-in user or the token, writes an editor or the
token. The OpenAPI document is at /openapi.json."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response

from central.inventory.queries import DEVICE_SORTS, RISK_BANDS
from central.timestamps import iso_z
from central.web.access import Principal, api_editor, api_viewer
from central.web.backend import Backend
from central.web.filters import ListFilters, list_filters
from central.web.labels import LabelError, clean_label
from central.web.riskview import ALERT_STATES, parse_policy
from central.web.schemas import (
    AlertChange,
    AuditEntry,
    Device,
    DeviceDetail,
    LabelIn,
    ProposedPolicy,
    Sensor,
)

router = APIRouter(prefix="/api", tags=["inventory"])

Viewer = Annotated[Principal, Depends(api_viewer)]
Editor = Annotated[Principal, Depends(api_editor)]
Filters = Annotated[ListFilters, Depends(list_filters)]


def backend(request: Request) -> Backend:
    return request.app.state.backend  # type: ignore[no-any-return]


PAGING_HEADERS = {
    "X-Total-Count": {
        "description": "how many devices match the filters (all pages)",
        "schema": {"type": "integer"},
    },
    "Link": {
        "description": 'RFC 8288 links to the next and previous pages (rel="next", '
        'rel="prev") with the same filters, when there are such pages',
        "schema": {"type": "string"},
    },
}


@router.get(
    "/devices",
    response_model=list[Device],
    summary="Devices, filtered, sorted and paged",
    description="A JSON list of the devices that match the filters, in `sort` order. "
    "Paging: `limit` devices from `offset` (no `limit`: every match); the response's "
    "`X-Total-Count` header counts every match and its `Link` header names the next and "
    "previous pages. Filtering, sorting and paging run in the database.",
    responses={200: {"headers": PAGING_HEADERS}},
)
def devices(
    request: Request,
    response: Response,
    _who: Viewer,
    filters: Filters,
    risk: Annotated[
        str | None,
        Query(description="risk band of the score: low (<25), medium, high, critical (75+)"),
    ] = None,
    sort: Annotated[
        str,
        Query(
            description="site (site, then id; the default), risk (highest first), category, "
            "name (vendor and model), first_seen, last_seen (newest first); ties by id"
        ),
    ] = "site",
    limit: Annotated[
        int | None, Query(ge=1, le=10000, description="at most this many devices")
    ] = None,
    offset: Annotated[int, Query(ge=0, description="skip this many first")] = 0,
) -> list[dict[str, Any]]:
    if risk is not None and risk not in RISK_BANDS:
        raise HTTPException(400, detail=f"risk: one of {', '.join(RISK_BANDS)}")
    if sort not in DEVICE_SORTS:
        raise HTTPException(400, detail=f"sort: one of {', '.join(DEVICE_SORTS)}")
    data = backend(request)
    found = data.devices(filters, risk, sort, limit, offset)
    if limit is None and offset == 0:
        total = len(found)
    else:
        total = data.device_totals(filters, risk, request.app.state.clock())["devices"]
    response.headers["X-Total-Count"] = str(total)
    links = []
    base = {k: v for k, v in request.query_params.items() if k != "offset"}
    if limit is not None and offset + limit < total:
        links.append(f'<{_page_url(request, base, offset + limit)}>; rel="next"')
    if offset > 0:
        links.append(
            f'<{_page_url(request, base, max(0, offset - (limit or offset)))}>; rel="prev"'
        )
    if links:
        response.headers["Link"] = ", ".join(links)
    return found


def _page_url(request: Request, params: dict[str, str], offset: int) -> str:
    return f"{request.url.path}?{urlencode({**params, 'offset': str(offset)})}"


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
def alerts(
    request: Request,
    _who: Viewer,
    filters: Filters,
    state: Annotated[str | None, Query(description="open, acknowledged or closed")] = None,
) -> list[dict[str, Any]]:
    if state is not None and state not in ALERT_STATES:
        raise HTTPException(400, detail=f"state: one of {', '.join(ALERT_STATES)}")
    return backend(request).alerts(filters, state)


@router.post("/alerts/{alert_id}/acknowledge", summary="Acknowledge an alert", tags=["alerts"])
def acknowledge_alert(
    request: Request, who: Editor, alert_id: int, body: AlertChange | None = None
) -> dict[str, Any]:
    """Token or an editor's session; recorded in the audit log."""
    return _change_alert(request, who, alert_id, "acknowledge", body)


@router.post("/alerts/{alert_id}/close", summary="Close an alert", tags=["alerts"])
def close_alert(
    request: Request, who: Editor, alert_id: int, body: AlertChange | None = None
) -> dict[str, Any]:
    """Token or an editor's session; recorded in the audit log."""
    return _change_alert(request, who, alert_id, "close", body)


def _change_alert(
    request: Request, who: Principal, alert_id: int, action: str, body: AlertChange | None
) -> dict[str, Any]:
    note = (body.note or "").strip() or None if body else None
    try:
        return backend(request).change_alert(alert_id, action, who.name, note)
    except LookupError:
        raise HTTPException(404, detail=f"no alert {alert_id}") from None
    except ValueError as error:
        raise HTTPException(409, detail=str(error)) from None


@router.get("/devices/{device_id}/risk", summary="How a device's risk was scored", tags=["risk"])
def device_risk(request: Request, _who: Viewer, device_id: str) -> dict[str, Any]:
    found = backend(request).risk_explanation(device_id)
    if found is None:
        raise HTTPException(404, detail=f"no risk score for {device_id!r} (not evaluated yet?)")
    found["updated_at"] = iso_z(found["updated_at"])
    return found


@router.get("/risk/fix-first", summary='The ranked "fix these first" list', tags=["risk"])
def fix_first(
    request: Request,
    _who: Viewer,
    filters: Filters,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> list[dict[str, Any]]:
    return backend(request).fix_first(filters, limit)


@router.get("/risk/rollups", summary="Risk per site and wing, with trend", tags=["risk"])
def rollups(request: Request, _who: Viewer, filters: Filters) -> list[dict[str, Any]]:
    return backend(request).rollups(filters)


@router.get("/policy/matrix", summary="The segmentation matrix", tags=["containment"])
def matrix(
    request: Request,
    _who: Viewer,
    axis: Annotated[str, Query(pattern="^(zone|category)$")] = "zone",
    site: str | None = None,
) -> dict[str, Any]:
    return backend(request).matrix(axis, site)


@router.get(
    "/policy/simulation", summary="What the configured policy would block", tags=["containment"]
)
def configured_simulation(
    request: Request, _who: Viewer, site: str | None = None
) -> dict[str, Any]:
    data = backend(request)
    return data.simulation(data.policy(), site)


@router.post(
    "/policy/simulation", summary="What a proposed policy would block", tags=["containment"]
)
def proposed_simulation(
    request: Request, _who: Viewer, body: ProposedPolicy, site: str | None = None
) -> dict[str, Any]:
    """The body's `policy` is TOML with `[zones.NAME]` and `[policy]` tables, as in
    central.toml. Nothing is stored or enforced: this only counts what would be blocked."""
    policy, problems = parse_policy(body.policy)
    if policy is None:
        raise HTTPException(422, detail=problems)
    return backend(request).simulation(policy, site)
