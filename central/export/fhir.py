"""FHIR R4 (4.0.1) `Device` resources in a `collection` Bundle, for EHR integration.

Each device: identifiers (the inventory's stable id; the MAC), status, manufacturer,
modelNumber and deviceName (when the evidence gives a model), type (our category, and
the modality for imaging), notes with the classification's evidence and patient-data
reason, and properties for criticality and PHI handling. Only R4 elements are used; the
tests validate the output with an R4 model library (fhirclient, generated from 4.0.1).
"""

from __future__ import annotations

import argparse
import json
import uuid
from typing import Any, TextIO

from sqlalchemy import Connection

from central.inventory.queries import DeviceFilter, list_devices

CATEGORY_SYSTEM = "urn:iomt-central:category"
PROPERTY_SYSTEM = "urn:iomt-central:property"
ID_SYSTEM = "urn:iomt-central:device-id"
MAC_SYSTEM = "urn:ietf:rfc:7042"  # IEEE 802 MAC addresses
DICOM_MODALITY_SYSTEM = "http://dicom.nema.org/resources/ontology/DCM"
ID_NAMESPACE = uuid.UUID("8a6f2b8e-5b1e-4a4e-9f55-3c1a2f7d9e01")


def device_resource(device: dict[str, Any]) -> dict[str, Any]:
    """One API-shaped device as a FHIR R4 Device resource (a JSON dict)."""
    identifiers: list[dict[str, Any]] = [
        {"system": ID_SYSTEM, "value": f"{device['site']}/{device['id']}"}
    ]
    if device["mac"]:
        identifiers.append(
            {"system": MAC_SYSTEM, "value": device["mac"], "type": {"text": "MAC address"}}
        )
    label = _display(device["category"])
    codings = [{"system": CATEGORY_SYSTEM, "code": device["category"], "display": label}]
    if device.get("modality"):
        codings.append({"system": DICOM_MODALITY_SYSTEM, "code": device["modality"]})
    resource: dict[str, Any] = {
        "resourceType": "Device",
        "id": device["id"],
        "identifier": identifiers,
        "status": "active",
        "type": {"coding": codings, "text": _display(device["category"])},
        "property": [
            _property("criticality", device["criticality"]),
            _property("handles-phi", "true" if device["handles_phi"] else "false"),
            _property("confidence", f"{device['confidence']:.2f}"),
        ],
    }
    if device["vendor"]:
        resource["manufacturer"] = device["vendor"]
    if device["model"]:
        resource["modelNumber"] = device["model"]
        resource["deviceName"] = [{"name": device["model"], "type": "model-name"}]
    notes = []
    if device["evidence"]:
        decided = "; ".join(f"{e['kind']}={e['value']} ({e['rule']})" for e in device["evidence"])
        notes.append({"text": f"classified {device['category']} by {decided}"})
    if device["phi_reason"]:
        notes.append({"text": f"handles patient data: {device['phi_reason']}"})
    if notes:
        resource["note"] = notes
    return resource


def bundle(devices: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"fullUrl": _full_url(device), "resource": device_resource(device)}
            for device in devices
        ],
    }


def _full_url(device: dict[str, Any]) -> str:
    return f"urn:uuid:{uuid.uuid5(ID_NAMESPACE, device['site'] + '/' + device['id'])}"


def export(
    connection: Connection, where: DeviceFilter, _args: argparse.Namespace, out: TextIO
) -> None:
    json.dump(bundle(list_devices(connection, where)), out, indent=1)
    out.write("\n")


def _property(code: str, value: str) -> dict[str, Any]:
    return {
        "type": {"coding": [{"system": PROPERTY_SYSTEM, "code": code}], "text": code},
        "valueCode": [{"text": value}],
    }


def _display(category: str) -> str:
    return category.replace("_", " ")
