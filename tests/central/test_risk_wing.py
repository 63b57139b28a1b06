"""End to end: the wing capture replayed by the real iomt-agent into a real mosquitto,
ingested by iomt-central, then evaluated: cleartext DICOM between zones is a critical
finding of the CT and the PACS with a flow's community_id, and the scores rank them."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from agent.config.problems import Problems
from central.inventory.queries import DeviceFilter, list_devices
from central.policy.config import parse_containment
from central.risk.rules import load_rules
from central.risk.store import RiskContext, evaluate, fix_first_list
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
    sensor = central_env.add_sensor("luke-4b-01")
    ingest = central_env.start_ingest("a")
    central_env.replay(capture, sensor)
    central_env.finish(ingest)
    problems = Problems()
    policy = parse_containment(tomllib.loads(WING_ZONES), Path("central.toml"), problems)
    assert not problems.errors
    # The test's clock is older than the ingest's: read every stored flow (settle_s=0).
    context = RiskContext(load_rules(), policy, settle_s=0)
    engine = central_env.engine()
    with engine.begin() as connection:
        result = evaluate(connection, context, clock())
        again = evaluate(connection, context, clock())  # nothing new: nothing counted twice
        devices = {d["ipv4"][0]: d for d in list_devices(connection, DeviceFilter()) if d["ipv4"]}
        ranked = fix_first_list(connection, context.rules)
    assert result.flows_read > 0 and again.flows_read == 0
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
    new_alerts = [e for e in result.events if e.kind == "new" and e.alert["device_id"] == ct["id"]]
    assert [e.alert["finding"] for e in new_alerts] == ["cleartext_phi"]
