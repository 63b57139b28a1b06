"""A person's label as the page and the API take it: blank fields dropped (the rules'
value stays), every field checked with a message naming it. Storing it is the
inventory's job (central.inventory.labels.set_label: label_overrides and the history)."""

from __future__ import annotations

from typing import Any

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
