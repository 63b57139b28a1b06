"""The HTML pages: small, server-rendered, each with its JSON twin linked at the top."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from central.inventory.queries import RISK_BANDS
from central.web.access import Principal, check_form_csrf, csrf_token_for, page_viewer
from central.web.backend import Backend
from central.web.filters import ListFilters, list_filters
from central.web.labels import LabelError, clean_label
from central.web.riskview import ALERT_STATES, parse_policy

router = APIRouter(include_in_schema=False)

Viewer = Annotated[Principal, Depends(page_viewer)]
Filters = Annotated[ListFilters, Depends(list_filters)]

PAGE_ROWS = 250  # rows per inventory page: a wing fits, a hospital pages
SEVERITY_ORDER = {"low": 0, "medium": 1, "high": 2, "critical": 3}
WINDOWS = [("24h", "last 24 hours"), ("7d", "last 7 days"), ("30d", "last 30 days")]


def render(
    request: Request, who: Principal, template: str, status: int = 200, **context: Any
) -> Response:
    return request.app.state.templates.TemplateResponse(  # type: ignore[no-any-return]
        request,
        template,
        {"principal": who, "csrf": csrf_token_for(request, who), **context},
        status_code=status,
    )


def backend(request: Request) -> Backend:
    return request.app.state.backend  # type: ignore[no-any-return]


def detail_text(detail: Any) -> str:
    """A history or audit detail as one readable line."""
    if not detail:
        return ""
    if isinstance(detail, dict):
        return ", ".join(f"{key}: {_short(value)}" for key, value in detail.items())
    return _short(detail)


def _short(value: Any) -> str:
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, default=str)
    return str(value)


@router.get("/", response_class=HTMLResponse)
def inventory(
    request: Request,
    who: Viewer,
    filters: Filters,
    sort: str = "risk",
    page: int = 1,
    risk: str = "",
) -> Response:
    """One page of the inventory: the database filters, sorts and pages (a hospital's
    thousands of devices are never all loaded); the key figures count every match."""
    data = backend(request)
    if sort not in PAGE_SORTS:
        raise HTTPException(400, detail=f"sort: one of {', '.join(PAGE_SORTS)}")
    if page < 1:
        raise HTTPException(400, detail="page: 1 or more")
    if risk and risk not in RISK_BANDS:
        raise HTTPException(400, detail=f"risk: one of {', '.join(RISK_BANDS)}")
    band = risk or None
    week_ago = request.app.state.clock() - timedelta(days=7)
    totals = data.device_totals(filters, band, week_ago)
    start = (page - 1) * PAGE_ROWS
    devices = data.devices(filters, band, sort, PAGE_ROWS, start)
    choices = data.choices()
    choices["windows"] = WINDOWS  # type: ignore[assignment]
    choices["window_values"] = [value for value, _text in WINDOWS]
    choices["risk_bands"] = list(RISK_BANDS)
    # The filters (and sort) every link keeps: pages, sort headers, the JSON twin.
    query = "&".join(
        part for part in (filters.query_string(), urlencode({"risk": risk}) if risk else "") if part
    )
    pages = max(1, -(-totals["devices"] // PAGE_ROWS))
    page_base = "/?" + (query + "&" if query else "") + f"sort={sort}&page="
    return render(
        request,
        who,
        "inventory.html",
        devices=devices,
        page_size=PAGE_ROWS,
        shown_from=start + 1 if devices else 0,
        page=page,
        pages=pages,
        page_base=page_base,
        filters=filters,
        risk_band=risk,
        filtered=filters.active or bool(risk),
        twin_query=query,
        choices=choices,
        newest_seen=totals["newest_seen"],
        totals=totals,
        sort=sort,
        sort_base="/?" + (query + "&" if query else "") + "sort=",
    )


# How the inventory page can order its rows (central.inventory.queries.list_devices).
PAGE_SORTS = ("risk", "category", "name", "first_seen", "last_seen")


@router.get("/devices/{device_id}", response_class=HTMLResponse)
def device(request: Request, who: Viewer, device_id: str, saved: int = 0) -> Response:
    found = backend(request).device(device_id)
    if found is None:
        return render(
            request,
            who,
            "error.html",
            status=404,
            title="Not found",
            message=f"No device {device_id}.",
        )
    for entry in found.get("history", []):
        entry["detail_text"] = detail_text(entry.get("detail"))
    if found.get("label"):
        found["label_override"] = found["label"]
    names = _names(backend(request)) if found.get("peers") else {}
    peers = [
        {
            "address": p["peer"],
            "device_id": p.get("peer_device"),
            "peer_label": names.get(p.get("peer_device") or ""),
            "direction": p["direction"],
            "service": p.get("service") or f"{p['proto']}/{p['port']}",
            "flows": p["flows"],
            "bytes": p.get("bytes_sent", 0) + p.get("bytes_received", 0),
            "last_seen": p.get("last_seen"),
        }
        for p in found.get("peers", [])
    ]
    return render(
        request,
        who,
        "device.html",
        d=found,
        addresses=found.get("addresses", []),
        services=found.get("services", []),
        peers=peers,
        saved=saved,
        explanation=backend(request).risk_explanation(device_id),
        categories=backend(request).choices()["categories"],
    )


@router.post("/devices/{device_id}/label")
def label_form(
    request: Request,
    who: Viewer,
    device_id: str,
    csrf_token: Annotated[str, Form()] = "",
    category: Annotated[str, Form()] = "",
    vendor: Annotated[str, Form()] = "",
    model: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
) -> Response:
    check_form_csrf(request, who, csrf_token)
    if not who.can_edit:
        raise HTTPException(403, detail=f"{who.name} is a viewer; labels need an editor")
    try:
        label = clean_label({"category": category, "vendor": vendor, "model": model})
    except LabelError as error:
        raise HTTPException(422, detail=str(error)) from None
    if backend(request).set_label(device_id, label, note.strip(), who.name) is None:
        raise HTTPException(404, detail=f"no device {device_id!r}")
    return RedirectResponse(f"/devices/{device_id}?saved=1", status_code=303)


@router.get("/overview", response_class=HTMLResponse)
def overview(request: Request, who: Viewer, filters: Filters) -> Response:
    data = backend(request)
    now = request.app.state.clock()
    week_ago = now - timedelta(days=7)
    devices = data.devices(filters)
    for d in devices:
        d["new_this_week"] = _at_or_after(d.get("discovered_at"), week_ago)
    sites: dict[str, dict[str, dict[str, Any]]] = {}
    for d in devices:
        new = d["new_this_week"]
        for wing in d["wings"] or ["(none)"]:
            bucket = sites.setdefault(d["site"], {}).setdefault(
                wing, {"wing": wing, "devices": 0, "phi": 0, "new_this_week": 0, "by_category": {}}
            )
            bucket["devices"] += 1
            bucket["phi"] += int(d["handles_phi"])
            bucket["new_this_week"] += int(new)
            bucket["by_category"][d["category"]] = bucket["by_category"].get(d["category"], 0) + 1
    summary = {
        "sites": [
            {"site": site, "wings": [wings[w] for w in sorted(wings)]}
            for site, wings in sorted(sites.items())
        ]
    }
    present = {d["category"] for d in devices}
    categories = [c for c in data.choices()["categories"] if c in present]
    totals = {
        "devices": len(devices),
        "phi": sum(1 for d in devices if d["handles_phi"]),
        "new_this_week": sum(1 for d in devices if d["new_this_week"]),
        "unknown": sum(1 for d in devices if d["category"] == "unknown"),
    }
    return render(
        request,
        who,
        "overview.html",
        summary=summary,
        categories=categories,
        totals=totals,
        now=now,
    )


@router.get("/sensors", response_class=HTMLResponse)
def sensors(request: Request, who: Viewer, filters: Filters) -> Response:
    data = backend(request)
    fleet = sorted(data.sensors(filters), key=lambda s: not s["silent"])  # silent ones first
    rejected = data.rejected()
    return render(
        request,
        who,
        "sensors.html",
        sensors=fleet,
        filters=filters,
        rejected=rejected,
        silent=sum(1 for s in fleet if s["silent"]),
        rejected_total=sum(r["count"] for r in rejected),
        silent_after_s=data.silent_after_s(),
    )


@router.get("/audit", response_class=HTMLResponse)
def audit(request: Request, who: Viewer) -> Response:
    entries = backend(request).audit_entries()
    for entry in entries:
        entry["detail_text"] = detail_text(entry["detail"])
    return render(request, who, "audit.html", entries=entries)


def _at_or_after(text: str | None, moment: datetime) -> bool:
    if not text:
        return False
    return datetime.fromisoformat(text.replace("Z", "+00:00")) >= moment


def _names(data: Backend) -> dict[str, str]:
    """Device id -> a readable name (vendor model, or category) for risk and alert lists."""
    names = {}
    for d in data.devices(ListFilters()):
        name = " ".join(part for part in (d["vendor"], d["model"]) if part)
        names[d["id"]] = name or d["category"].replace("_", " ")
    return names


@router.get("/alerts", response_class=HTMLResponse)
def alerts(request: Request, who: Viewer, filters: Filters, state: str = "") -> Response:
    data = backend(request)
    if state and state != "all" and state not in ALERT_STATES:
        raise HTTPException(400, detail=f"state: one of {', '.join(ALERT_STATES)} or all")
    if state in ALERT_STATES:
        found = data.alerts(filters, state)
    else:
        found = data.alerts(filters)
        if state != "all":
            found = [a for a in found if a["state"] != "closed"]
    # The worst first; within a severity, the latest change first.
    found.sort(key=lambda a: a["updated_at"] or "", reverse=True)
    found.sort(key=lambda a: SEVERITY_ORDER.get(a["severity"], 0), reverse=True)
    twin = "&".join(
        part
        for part in (filters.query_string(), f"state={state}" if state in ALERT_STATES else "")
        if part
    )
    return render(
        request,
        who,
        "alerts.html",
        alerts=found,
        filters=filters,
        state=state,
        states=ALERT_STATES,
        choices=data.choices(),
        names=_names(data),
        twin_query=twin,
    )


@router.post("/alerts/{alert_id}/{action}")
def alert_form(
    request: Request,
    who: Viewer,
    alert_id: int,
    action: str,
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    check_form_csrf(request, who, csrf_token)
    if action not in ("acknowledge", "close"):
        raise HTTPException(404, detail="no such action")
    if not who.can_edit:
        raise HTTPException(403, detail=f"{who.name} is a viewer; alerts need an editor")
    try:
        backend(request).change_alert(alert_id, action, who.name, None)
    except LookupError:
        raise HTTPException(404, detail=f"no alert {alert_id}") from None
    except ValueError as error:
        raise HTTPException(409, detail=str(error)) from None
    return RedirectResponse("/alerts", status_code=303)


@router.get("/risk", response_class=HTMLResponse)
def risk(request: Request, who: Viewer, filters: Filters) -> Response:
    data = backend(request)
    return render(
        request,
        who,
        "risk.html",
        fix_first=data.fix_first(filters),
        rollups=data.rollups(filters),
        filters=filters,
        names=_names(data),
    )


def _policy_page(
    request: Request,
    who: Principal,
    axis: str,
    simulation: Any,
    simulation_of: str,
    proposed: str = "",
    errors: list[str] | None = None,
    status: int = 200,
) -> Response:
    matrix = backend(request).matrix(axis, None)
    grid: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for cell in matrix["cells"]:
        grid.setdefault((cell["from"], cell["to"]), []).append(cell)
    return render(
        request,
        who,
        "policy.html",
        status=status,
        matrix=matrix,
        grid=grid,
        axis=axis,
        simulation=simulation,
        simulation_of=simulation_of,
        proposed=proposed,
        errors=errors or [],
    )


@router.get("/policy", response_class=HTMLResponse)
def policy(request: Request, who: Viewer, axis: str = "zone") -> Response:
    if axis not in ("zone", "category"):
        raise HTTPException(400, detail="axis: zone or category")
    data = backend(request)
    simulation = data.simulation(data.policy(), None)
    return _policy_page(request, who, axis, simulation, "the configured policy")


@router.post("/policy/simulate", response_class=HTMLResponse)
def simulate_form(
    request: Request,
    who: Viewer,
    csrf_token: Annotated[str, Form()] = "",
    policy: Annotated[str, Form()] = "",
) -> Response:
    check_form_csrf(request, who, csrf_token)
    proposed, errors = parse_policy(policy)
    if proposed is None:
        return _policy_page(request, who, "zone", None, "", policy, errors, status=422)
    simulation = backend(request).simulation(proposed, None)
    return _policy_page(request, who, "zone", simulation, "the proposed policy", policy)
