"""Everything the web side reads or writes, behind one object, so routes stay thin.

Devices and the summary come from the query layer (central.inventory.queries); risk,
alerts and policy from central.risk / central.alerts / central.policy once present; the
fleet and rejected messages from the query layer too. The audit log is read and written
here.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, Text, cast, desc, insert, select

from central.db import tables
from central.inventory import labels as inventory_labels
from central.inventory import queries
from central.policy.rules import Policy
from central.risk.rules import RiskRules
from central.timestamps import iso_z
from central.web import riskview
from central.web.filters import ListFilters

DEFAULT_SILENT_AFTER_S = 600.0


class Backend:
    def __init__(self, engine: Engine, config: Any, clock: Callable[[], datetime]) -> None:
        self.engine = engine
        self.config = config
        self.clock = clock
        self._risk_rules: RiskRules | None = None

    # ------------------------------------------------------------ the fleet
    def silent_after_s(self) -> float:
        for section in ("fleet", "alerts", "web"):
            value = getattr(getattr(self.config, section, None), "silent_after_s", None)
            if value:
                return float(value)
        return DEFAULT_SILENT_AFTER_S

    def sensors(self, filters: ListFilters) -> list[dict[str, Any]]:
        """The fleet (queries.list_sensors), filtered by site, wing and search like every
        list."""
        with self.engine.connect() as connection:
            fleet = queries.list_sensors(connection, self.clock(), self.silent_after_s())
        out = []
        for sensor in fleet:
            if filters.site and sensor["site"] != filters.site:
                continue
            if filters.wing and sensor["wing"] != filters.wing:
                continue
            if filters.q and filters.q.lower() not in sensor["id"].lower():
                continue
            out.append(sensor)
        return out

    def rejected(self) -> list[dict[str, Any]]:
        """Rejected or malformed messages by topic and reason (counts only)."""
        with self.engine.connect() as connection:
            return queries.rejected_summary(connection)

    # ------------------------------------------------------------ devices
    def devices(
        self,
        filters: ListFilters,
        risk: str | None = None,
        sort: str = "site",
        limit: int | None = None,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        """The devices the filters (and a risk band) select, in `sort` order, `limit` of
        them from `offset`: filtered, sorted and paged by the database."""
        with self.engine.connect() as connection:
            return queries.list_devices(
                connection, _device_filter(filters, risk), sort, limit, offset
            )

    def device_totals(
        self, filters: ListFilters, risk: str | None, new_since: datetime
    ) -> dict[str, Any]:
        """Counts over every device the filters select (queries.device_totals)."""
        with self.engine.connect() as connection:
            return queries.device_totals(connection, _device_filter(filters, risk), new_since)

    def device(self, device_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as connection:
            return queries.get_device(connection, device_id)

    def summary(self, filters: ListFilters) -> dict[str, Any]:
        with self.engine.connect() as connection:
            return queries.summary(connection, _device_filter(filters))

    def choices(self) -> dict[str, list[str]]:
        """The values the filter menus offer: sites and wings that exist, every category
        and criticality the product knows."""
        with self.engine.connect() as connection:
            sites = sorted(connection.execute(select(tables.devices.c.site).distinct()).scalars())
            wings: set[str] = set()
            # Distinct lists as text (PostgreSQL's json has no equality): a few rows.
            distinct_wings = select(cast(tables.devices.c.wings, Text)).distinct()
            for text in connection.execute(distinct_wings).scalars():
                wings.update(json.loads(text) if text else [])
            wings.update(connection.execute(select(tables.sensors.c.wing).distinct()).scalars())
        return {
            "sites": sites,
            "wings": sorted(wings),
            "categories": list(queries.CATEGORIES),
            "criticalities": list(queries.CRITICALITIES),
        }

    def set_label(
        self, device_id: str, label: dict[str, Any], note: str, actor: str
    ) -> dict[str, Any] | None:
        """Record a person's label for a device (it wins over the rules), in the device's
        history and in the audit log, in one transaction; None when there is no such device."""
        now = self.clock()
        with self.engine.begin() as connection:
            try:
                stored = inventory_labels.set_label(connection, device_id, label, actor, now, note)
            except inventory_labels.UnknownDevice:
                return None
            connection.execute(
                insert(tables.audit_log).values(
                    at=now,
                    actor=actor,
                    action="label.set",
                    target=device_id,
                    detail={
                        "label": {k: v for k, v in stored.items() if v is not None},
                        "note": note,
                    },
                )
            )
        return self.device(device_id)

    # ------------------------------------------------------------ risk, alerts, policy
    def _device_ids(self, filters: ListFilters) -> set[str] | None:
        """The ids the device filters select, or None when no device filter is set (so
        alerts and risk lists are not narrowed by an empty device query)."""
        if not any((filters.category, filters.handles_phi is not None, filters.criticality)):
            return None
        narrowed = ListFilters(
            site=filters.site,
            category=filters.category,
            handles_phi=filters.handles_phi,
            criticality=filters.criticality,
        )
        return {device["id"] for device in self.devices(narrowed)}

    def risk_rules(self) -> RiskRules:
        if self._risk_rules is None:
            self._risk_rules = riskview.risk_rules(self.config)
        return self._risk_rules

    def risk_band(self, risk: int | None) -> str:
        """The band of a score as the risk rules define it, so a badge and a roll-up
        always agree."""
        return str(self.risk_rules().band(risk or 0))

    def risk_explanation(self, device_id: str) -> dict[str, Any] | None:
        """How the device's score was made (central.risk), or None before it is scored."""
        with self.engine.connect() as connection:
            return riskview.explanation(connection, device_id)

    def alerts(self, filters: ListFilters, state: str | None = None) -> list[dict[str, Any]]:
        """Alerts filtered like every list."""
        device_ids = self._device_ids(filters)
        with self.engine.connect() as connection:
            return riskview.alerts(connection, filters, device_ids, state)

    def change_alert(
        self, alert_id: int, action: str, actor: str, note: str | None
    ) -> dict[str, Any]:
        with self.engine.begin() as connection:
            return riskview.change_alert(connection, alert_id, action, actor, self.clock(), note)

    def fix_first(self, filters: ListFilters, limit: int = 50) -> list[dict[str, Any]]:
        device_ids = self._device_ids(filters)
        if filters.site or filters.wing or filters.q or filters.since:
            device_ids = {d["id"] for d in self.devices(filters)}
        with self.engine.connect() as connection:
            return riskview.fix_first(connection, self.risk_rules(), device_ids, limit)

    def rollups(self, filters: ListFilters) -> list[dict[str, Any]]:
        with self.engine.connect() as connection:
            return riskview.rollups(connection, self.risk_rules(), filters)

    def policy(self) -> Policy:
        return riskview.configured_policy(self.config)

    def matrix(self, axis: str, site: str | None, policy: Policy | None = None) -> dict[str, Any]:
        with self.engine.connect() as connection:
            return riskview.matrix(connection, policy or self.policy(), axis, site)

    def simulation(self, policy: Policy, site: str | None) -> dict[str, Any]:
        with self.engine.connect() as connection:
            return riskview.simulation(connection, policy, site)

    # ------------------------------------------------------------ the audit log
    def audit(self, actor: str, action: str, target: str | None, detail: dict[str, Any]) -> None:
        """Record that `actor` did `action` to `target` (who changed what, and when)."""
        with self.engine.begin() as connection:
            connection.execute(
                insert(tables.audit_log).values(
                    at=self.clock(), actor=actor, action=action, target=target, detail=detail
                )
            )

    def audit_entries(
        self, actor: str | None = None, action: str | None = None, limit: int = 500
    ) -> list[dict[str, Any]]:
        table = tables.audit_log
        query = select(table).order_by(desc(table.c.at), desc(table.c.id)).limit(limit)
        if actor:
            query = query.where(table.c.actor == actor)
        if action:
            query = query.where(table.c.action == action)
        with self.engine.connect() as connection:
            rows = connection.execute(query).mappings().all()
        return [
            {
                "id": row["id"],
                "at": iso_z(row["at"]),
                "actor": row["actor"],
                "action": row["action"],
                "target": row["target"],
                "detail": row["detail"],
            }
            for row in rows
        ]


def _device_filter(filters: ListFilters, risk: str | None = None) -> queries.DeviceFilter:
    return queries.DeviceFilter(**filters.query_args(), risk=risk)
