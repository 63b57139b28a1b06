"""Advisories the hospital imports (e.g. ICS-CERT medical advisories), CSV or JSON.

The product ships no advisory data: it would be out of date the day it shipped. A file
lists one affected product per row; the columns (CSV header, or JSON object keys):

    advisory_id   "ICSMA-24-123-01"             required
    vendor        "Acme Medical"                 required; matched case-insensitively
                                                 against the device's vendor and OUI vendor
    model         "Infusor 3*"                   glob on the model; "" or "*": any model
    versions      "<4.2; 5.0-5.1.3; 6.0.2"       specs separated by ';': "*", exact, a range
                                                 "low-high", or "<", "<=", ">", ">=" a version
    severity      "critical"                     optional (else the rules' default)
    title, url                                   optional, shown with the finding

Versions are compared as numbers, part by part ("4.10" > "4.9"). A device's versions come
from the fingerprints that carry one (DICOM implementation version, POCT1 version, CDP,
SSDP/HTTP server, LLDP description: [findings.known_vulnerability] version_kinds).
"""

from __future__ import annotations

import csv
import fnmatch
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from agent.errors import UsageError
from central.risk.rules import SEVERITIES

_VERSION = re.compile(r"\d+(?:\.\d+)+|\d+")
Version = tuple[int, ...]


class AdvisoryError(UsageError):
    """An advisory file cannot be used; the message names the file, row and field."""


def parse_version(text: str) -> Version | None:
    match = _VERSION.search(text)
    return tuple(int(part) for part in match.group().split(".")) if match else None


@dataclass(frozen=True)
class VersionSpec:
    text: str
    low: Version | None = None  # inclusive unless low_open
    high: Version | None = None  # inclusive unless high_open
    low_open: bool = False
    high_open: bool = False

    def matches(self, version: Version) -> bool:
        if self.low is not None and (version < self.low or (self.low_open and version == self.low)):
            return False
        return not (
            self.high is not None
            and (version > self.high or (self.high_open and version == self.high))
        )


def parse_version_spec(text: str) -> VersionSpec:
    """Raises ValueError for text that is not a version spec."""
    spec = text.strip()
    if spec == "*":
        return VersionSpec(spec)
    for op in ("<=", ">=", "<", ">"):
        if spec.startswith(op):
            version = _exact(spec[len(op) :])
            if op.startswith("<"):
                return VersionSpec(spec, high=version, high_open=op == "<")
            return VersionSpec(spec, low=version, low_open=op == ">")
    if "-" in spec:
        low_text, _, high_text = spec.partition("-")
        return VersionSpec(spec, low=_exact(low_text), high=_exact(high_text))
    version = _exact(spec)
    return VersionSpec(spec, low=version, high=version)


def _exact(text: str) -> Version:
    text = text.strip()
    if not re.fullmatch(r"\d+(\.\d+)*", text):
        raise ValueError(f"{text!r} is not a version such as 4.2.1")
    return tuple(int(part) for part in text.split("."))


@dataclass(frozen=True)
class Advisory:
    advisory_id: str
    vendor: str
    model: str
    versions: tuple[VersionSpec, ...]
    severity: str | None = None
    title: str = ""
    url: str = ""

    def matches(
        self, vendors: Iterable[str], model: str | None, versions: Iterable[Version]
    ) -> bool:
        wanted = self.vendor.lower()
        if not any(wanted in v.lower() or v.lower() in wanted for v in vendors if v):
            return False
        if self.model not in ("", "*") and not fnmatch.fnmatch(
            (model or "").lower(), self.model.lower()
        ):
            return False
        if any(spec.text == "*" for spec in self.versions):
            return True
        return any(spec.matches(v) for v in versions for spec in self.versions)


def load_advisories(paths: Iterable[Path]) -> list[Advisory]:
    """Every advisory of every file (.csv or .json). Raises AdvisoryError on the first
    file that cannot be read, with every problem of that file."""
    advisories: list[Advisory] = []
    for path in paths:
        advisories += _load_file(path)
    return advisories


def _load_file(path: Path) -> list[Advisory]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise AdvisoryError(f"{path}: cannot read advisories: {exc.strerror or exc}") from None
    if path.suffix.lower() == ".json":
        try:
            rows = json.loads(text)
        except json.JSONDecodeError as exc:
            raise AdvisoryError(f"{path}: not valid JSON: {exc}") from None
        if isinstance(rows, dict):
            rows = rows.get("advisories")
        if not isinstance(rows, list):
            raise AdvisoryError(
                f'{path}: expected a list of advisories (or {{"advisories": [...]}})'
            )
    elif path.suffix.lower() == ".csv":
        rows = list(csv.DictReader(text.splitlines()))
    else:
        raise AdvisoryError(f"{path}: advisory files are .csv or .json")
    errors: list[str] = []
    advisories = []
    for index, row in enumerate(rows, start=1):
        where = f"{path}: row {index}"
        if not isinstance(row, dict):
            errors.append(f"{where}: must be an object")
            continue
        advisory_id = str(row.get("advisory_id") or "").strip()
        vendor = str(row.get("vendor") or "").strip()
        if not advisory_id:
            errors.append(f"{where}: advisory_id: missing")
        if not vendor:
            errors.append(f"{where}: vendor: missing")
        raw_versions = row.get("versions") or "*"
        texts = raw_versions if isinstance(raw_versions, list) else str(raw_versions).split(";")
        specs = []
        for text in texts:
            try:
                specs.append(parse_version_spec(str(text)))
            except ValueError as exc:
                errors.append(f"{where}: versions: {exc}")
        severity = (str(row.get("severity") or "").strip().lower()) or None
        if severity is not None and severity not in SEVERITIES:
            errors.append(f"{where}: severity: {severity!r} is not one of {', '.join(SEVERITIES)}")
        advisories.append(
            Advisory(
                advisory_id,
                vendor,
                str(row.get("model") or "").strip(),
                tuple(specs),
                severity,
                str(row.get("title") or "").strip(),
                str(row.get("url") or "").strip(),
            )
        )
    if errors:
        raise AdvisoryError("\n".join(errors))
    return advisories
