"""Exports: FHIR R4 Device Bundle (validated by R4 models), CSV for a CMMS, JSON as the
API's list; `iomt-central export` filters by site and wing."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fhirclient.models.bundle import Bundle
from fhirclient.models.device import Device
from fhirclient.models.fhirabstractbase import FHIRValidationError
from sqlalchemy import Engine

from central.classify.ruleset import load_ruleset
from central.db import open_database
from central.export import fhir
from central.export.csv import COLUMNS, rows
from central.ingest.apply import IngestContext, store_message
from central.inventory.queries import DeviceFilter, list_devices
from tests.support.agent_setup import REPO, environment
from tests.support.central_records import device, devices_message


def _seed(engine: Engine, clock: Any) -> None:
    context = IngestContext(ruleset=load_ruleset(), clock=clock)
    ct = device(
        "44:4b:5d:00:00:31",
        ["10.4.3.31"],
        vendor="GE Healthcare",
        fingerprints={"dicom_modality": ["CT"], "dicom_implementation_version": ["REVOLUTION_CT"]},
        protocols=["dicom"],
    )
    pump = device("f8:c6:78:00:00:11", ["10.4.2.11"], vendor="Carefusion",
                  fingerprints={"dhcp_vendor_class": ["CareFusion Alaris 8015"]})  # fmt: skip
    store_message(engine, devices_message("s1", "b1", 0, [ct, pump]), context)
    printer = device("00:07:4d:00:00:71", ["10.5.5.71"], vendor="Zebra Technologies Corp.")
    store_message(engine, devices_message("s2", "b2", 0, [printer], wing="5a"), context)


def test_fhir_bundle_is_valid_fhir_r4_with_one_device_each(engine: Engine, clock: Any) -> None:
    _seed(engine, clock)
    with engine.connect() as connection:
        document = fhir.bundle(list_devices(connection))
    parsed = Bundle(document, strict=True)  # raises FHIRValidationError on anything not R4
    assert parsed.type == "collection" and len(parsed.entry) == 3
    devices = {entry.resource.modelNumber: entry.resource for entry in parsed.entry}
    ct = devices["REVOLUTION_CT"]
    assert isinstance(ct, Device) and ct.manufacturer == "GE Healthcare"
    assert {c.code for c in ct.type.coding} == {"imaging", "CT"}
    assert any(i.value == "44:4b:5d:00:00:31" for i in ct.identifier)
    assert any("dicom_modality=CT" in note.text for note in ct.note)
    assert any(p.type.text == "handles-phi" and p.valueCode[0].text == "true" for p in ct.property)
    # An element only R5 has is refused: the validation is against R4.
    r5_only = dict(document["entry"][0]["resource"], displayName="CT scanner")
    with pytest.raises(FHIRValidationError):
        Device(r5_only, strict=True)


def test_csv_has_a_row_per_device_with_the_cmms_columns(engine: Engine, clock: Any) -> None:
    _seed(engine, clock)
    with engine.connect() as connection:
        table = rows(list_devices(connection, DeviceFilter(category="infusion_pump")))
    assert len(table) == 1
    pump = table[0]
    assert list(pump) == list(COLUMNS)
    assert (pump["vendor"], pump["model"], pump["criticality"]) == ("BD", "8015", "life-sustaining")
    assert pump["handles_phi"] == "no" and pump["ipv4"] == "10.4.2.11"
    assert pump["evidence"].startswith("dhcp_vendor_class=CareFusion Alaris 8015")


@pytest.mark.parametrize("fmt", ["csv", "json", "fhir"])
def test_export_command_prints_the_wing_asked_for(tmp_path: Path, clock: Any, fmt: str) -> None:
    url = f"sqlite:///{tmp_path / 'inventory.db'}"
    engine = open_database(url)
    _seed(engine, clock)
    engine.dispose()
    (tmp_path / "trust").mkdir()
    config = tmp_path / "central.toml"
    config.write_text(f'[database]\nurl = "{url}"\n[trust]\ndir = "trust"\n')
    result = subprocess.run(
        [sys.executable, "-m", "central", "export", "-c", str(config), "--format", fmt,
         "--site", "st-luke", "--wing", "5a"],
        capture_output=True, text=True, cwd=REPO, env=environment(), timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    if fmt == "csv":
        listed = list(csv.DictReader(io.StringIO(result.stdout)))
        assert [row["mac"] for row in listed] == ["00:07:4d:00:00:71"]
    elif fmt == "json":
        assert [d["mac"] for d in json.loads(result.stdout)] == ["00:07:4d:00:00:71"]
    else:
        parsed = Bundle(json.loads(result.stdout), strict=True)
        assert [e.resource.manufacturer for e in parsed.entry] == ["Zebra"]
