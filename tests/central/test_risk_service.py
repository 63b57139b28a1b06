"""The risk service as `serve` runs it, from a real central.toml: evaluate what was
ingested, then deliver the alerts (here to a real HTTP receiver) after the commit."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from central.config import load_config
from central.db import open_database
from central.risk.service import RiskService
from tests.central.containment_data import POLICY_TOML
from tests.central.receivers import http_receiver_fixture  # noqa: F401 (the http_receiver fixture)
from tests.central.risk_data import DEVICES, HL7, NOW, PUMP, flow
from tests.central.risk_db import insert_flows, seed_devices


def test_run_once_evaluates_new_flows_and_posts_the_alerts(tmp_path: Path, http_receiver) -> None:
    url, received = http_receiver
    database = f"sqlite:///{tmp_path / 'inventory.db'}"
    engine = open_database(database)
    with engine.begin() as connection:
        seed_devices(connection, DEVICES, NOW)
        stored_at = NOW - timedelta(minutes=1)
        insert_flows(
            connection, [flow(PUMP.addresses[0], HL7.addresses[0], 2575, "hl7")], stored_at
        )
        # Stored 10 s before the run: younger than the 30 s settle time, left for later.
        fresh = [flow(PUMP.addresses[0], HL7.addresses[0], 2575, "hl7", minutes=1)]
        insert_flows(connection, fresh, NOW - timedelta(seconds=10))
    (tmp_path / "trust").mkdir()
    config_path = tmp_path / "central.toml"
    config_path.write_text(
        f'[database]\nurl = "{database}"\n[trust]\ndir = "{tmp_path / "trust"}"\n'
        f'[alerts]\nwebhook_url = "{url}"\nmin_severity = "critical"\n{POLICY_TOML}'
    )
    now = [NOW]
    service = RiskService(load_config(config_path), engine, clock=lambda: now[0])
    first = service.run_once()
    again = service.run_once()
    now[0] = NOW + timedelta(minutes=1)
    later = service.run_once()
    service.stop()
    engine.dispose()
    assert (first.flows_read, again.flows_read, later.flows_read) == (1, 0, 1)
    assert again.events == []
    posted = sorted((r["body"]["event"], r["body"]["alert"]["device_id"]) for r in received)
    # critical only: the cleartext HL7 across zones, at both ends; nothing below it; the
    # later flow's count update is within update_interval_s, so not posted again.
    assert posted == [("new", "hl7-1"), ("new", "pump-1")]
    assert all(r["body"]["alert"]["finding"] == "cleartext_phi" for r in received)
