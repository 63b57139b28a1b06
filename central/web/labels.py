"""A person's label on a device: validated, stored as data (label_overrides), kept in the
device's history. The query layer lets it win over the rules on every field it sets."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select

from central.db.tables import device_history, devices, label_overrides
from central.inventory.queries import CATEGORIES, CRITICALITIES, OVERRIDABLE

_TEXT_MAX = 128


class LabelError(ValueError):
    """A label that cannot be stored; the message names the field."""


def clean_label(raw: dict[str, Any]) -> dict[str, Any]:
    """The fields of `raw` a label may set, checked; blank values are dropped (the rules'
    value stays). Raises LabelError naming the first bad field."""
    unknown = sorted(set(raw) - set(OVERRIDABLE))
    if unknown:
        raise LabelError(f"{unknown[0]}: not a label field (use {', '.join(OVERRIDABLE)})")
    label: dict[str, Any] = {}
    for name in OVERRIDABLE:
        value = raw.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        if name == "handles_phi":
            if not isinstance(value, bool):
                raise LabelError("handles_phi: expected true or false")
            label[name] = value
            continue
        if not isinstance(value, str):
            raise LabelError(f"{name}: expected text")
        value = value.strip()
        if name == "category" and value not in CATEGORIES:
            raise LabelError(f"category: {value!r} is not one of {', '.join(CATEGORIES)}")
        if name == "criticality" and value not in CRITICALITIES:
            raise LabelError(f"criticality: {value!r} is not one of {', '.join(CRITICALITIES)}")
        if len(value) > _TEXT_MAX:
            raise LabelError(f"{name}: longer than {_TEXT_MAX} characters")
        label[name] = value
    if not label:
        raise LabelError("the label sets no field")
    return label


def set_label(
    connection: Connection,
    device_id: str,
    label: dict[str, Any],
    note: str,
    actor: str,
    now: datetime,
) -> dict[str, Any] | None:
    """Replace the device's label with `label` (already cleaned) and add a history entry.

    Returns the label it replaced ({} when there was none), or None when the device does
    not exist. Runs inside the caller's transaction."""
    exists = connection.execute(select(devices.c.id).where(devices.c.id == device_id)).first()
    if exists is None:
        return None
    previous = (
        connection.execute(select(label_overrides).where(label_overrides.c.device_id == device_id))
        .mappings()
        .first()
    )
    before = (
        {name: previous[name] for name in OVERRIDABLE if previous[name] is not None}
        if previous
        else {}
    )
    connection.execute(delete(label_overrides).where(label_overrides.c.device_id == device_id))
    connection.execute(
        insert(label_overrides).values(device_id=device_id, **label, note=note, actor=actor, at=now)
    )
    connection.execute(
        insert(device_history).values(
            device_id=device_id,
            at=now,
            seen=None,
            change="label_override",
            detail={"label": label, "before": before, "note": note},
            actor=actor,
        )
    )
    return before
