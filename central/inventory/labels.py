"""A person's label on a device: it wins over the rules' on every field it sets, and
the change is kept in the device's history with who made it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, select

from central.db.tables import device_history, devices, label_overrides
from central.inventory.dialect import upsert
from central.inventory.queries import CATEGORIES, CRITICALITIES, OVERRIDABLE


class LabelError(ValueError):
    """The label names a field or value the inventory does not know (the API's 422)."""


class UnknownDevice(LookupError):
    """No device has this id (the API's 404)."""


def set_label(
    connection: Connection,
    device_id: str,
    label: dict[str, Any],
    actor: str,
    now: datetime,
    note: str | None = None,
) -> dict[str, Any]:
    """Set (or with an empty `label`, clear) a person's label: keys among category,
    vendor, model, modality, criticality, handles_phi. Returns the stored override.
    Raises UnknownDevice, LabelError."""
    unknown = sorted(set(label) - set(OVERRIDABLE))
    if unknown:
        raise LabelError(
            f"cannot label {', '.join(unknown)}; the fields are {', '.join(OVERRIDABLE)}"
        )
    if "category" in label and label["category"] not in CATEGORIES:
        raise LabelError(f"category {label['category']!r} is not one of {', '.join(CATEGORIES)}")
    if "criticality" in label and label["criticality"] not in CRITICALITIES:
        raise LabelError(f"criticality must be one of {', '.join(CRITICALITIES)}")
    if "handles_phi" in label and not isinstance(label["handles_phi"], bool):
        raise LabelError("handles_phi must be true or false")
    exists = connection.execute(select(devices.c.id).where(devices.c.id == device_id)).first()
    if exists is None:
        raise UnknownDevice(device_id)
    previous = (
        connection.execute(select(label_overrides).where(label_overrides.c.device_id == device_id))
        .mappings()
        .first()
    )
    before = {name: previous[name] for name in OVERRIDABLE} if previous else None
    if not label:
        connection.execute(delete(label_overrides).where(label_overrides.c.device_id == device_id))
        stored: dict[str, Any] = {}
    else:
        stored = {name: label.get(name) for name in OVERRIDABLE}
        row = {"device_id": device_id, **stored, "note": note, "actor": actor, "at": now}
        statement = upsert(connection, label_overrides)
        connection.execute(
            statement.on_conflict_do_update(
                index_elements=["device_id"],
                set_={key: value for key, value in row.items() if key != "device_id"},
            ).values(**row)
        )
    connection.execute(
        device_history.insert().values(
            device_id=device_id,
            at=now,
            seen=None,
            change="label_override",
            detail={"from": before, "to": stored or None, "note": note},
            actor=actor,
        )
    )
    return stored
