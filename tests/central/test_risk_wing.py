"""End to end: the wing capture replayed by the real iomt-agent into a real mosquitto,
ingested by iomt-central, which evaluates what it stored before it exits: cleartext
DICOM between zones is a critical finding of the CT and the PACS with a flow's
community_id, the scores rank them, and an evaluation after it finds nothing new."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from sqlalchemy import select

from agent.config.problems import Problems
from central.inventory.queries import DeviceFilter, list_devices
from central.policy.config import parse_containment
from central.risk.rules import load_rules
from central.risk.store import RiskContext, evaluate, fix_first_list
from central.risk.tables import alerts
from tests.support.hospital import CT, PACS, PRINTER, write_wing_capture

WING_ZONES = """
[zones.imaging]
medical = true
cidrs = ["10.4.3.0/24"]
[zones.bedside]
medical = true
cidrs = ["10.4.2.0/24"]
[zones.servers]
cidrs = ["10.4.9.0/24", "10.20.0.0/24"]
[policy]
default_action = "allow"
"""


def test_the_replayed_wing_yields_cleartext_dicom_findings_and_ranks_the_ct_first(
    central_env: Any, tmp_path: Path, clock: Any
) -> None:
    capture = write_wing_capture(tmp_path / "wing.pcap")
    # The site's zones in central.toml: the ingest's own evaluation decides by them.
    central_env.config.write_text(central_env.config.read_text() + WING_ZONES)
    sensor = central_env.add_sensor("luke-4b-01")
    ingest = central_env.start_ingest("a")
    central_env.replay(capture, sensor)
    summary = central_env.finish(ingest)
    assert re.search(r"[1-9]\d* risk evaluations of [1-9]\d* flows", summary), summary
    problems = Problems()
    policy = parse_containment(tomllib.loads(WING_ZONES), Path("central.toml"), problems)
    assert not problems.errors
    context = RiskContext(load_rules(), policy, settle_s=0)
    engine = central_env.engine()
    with engine.begin() as connection:
        again = evaluate(connection, context, clock())  # the ingest read them all: nothing twice
        devices = {d["ipv4"][0]: d for d in list_devices(connection, DeviceFilter()) if d["ipv4"]}
        ranked = fix_first_list(connection, context.rules)
        stored_alerts = connection.execute(select(alerts.c.device_id, alerts.c.finding)).all()
    assert again.flows_read == 0
    ct, pacs, printer = devices[CT.ip], devices[PACS.ip], devices[PRINTER.ip]
    ct_dicom = [f for f in ct["findings"] if f["id"] == "cleartext_phi"]
    assert ct_dicom and ct_dicom[0]["peer"] == PACS.ip and ct_dicom[0]["severity"] == "critical"
    assert ct_dicom[0]["zones"] == ["imaging", "servers"] and ct_dicom[0][
        "community_id"
    ].startswith("1:")
    assert any(f["id"] == "cleartext_phi" and f["peer"] == CT.ip for f in pacs["findings"])
    assert ct["risk"] > printer["risk"]
    first_ct = next(i for i, item in enumerate(ranked) if item["device_id"] == ct["id"])
    assert all(item["device_id"] != printer["id"] for item in ranked[: first_ct + 1])
    assert [finding for device, finding in stored_alerts if device == ct["id"]] == ["cleartext_phi"]
