"""Risk is evaluated wherever data is ingested: two `iomt-central ingest` instances on one
PostgreSQL (no `serve` anywhere) score what they store, take turns at the evaluation
(one per interval, never two at once), count each flow once and deliver each alert once."""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import and_, func, or_, select

from central.db.tables import devices, flows
from central.risk.tables import alerts, device_risk, findings
from tests.central.receivers import http_receiver_fixture  # noqa: F401 (the http_receiver fixture)
from tests.central.test_risk_wing import WING_ZONES
from tests.support.broker import MosquittoBroker
from tests.support.central_env import CentralEnv
from tests.support.hospital import CT, PACS, write_wing_capture

INTERVAL_S = 1
BATCHES = "[batch]\nwindow_s = 1\nmax_records = 8\n"


def test_two_ingest_instances_score_the_wing_once_and_alert_once(
    tmp_path: Path, postgres_url: str, http_receiver: Any
) -> None:
    url, received = http_receiver
    broker = MosquittoBroker(tmp_path)
    broker.start()
    try:
        env = CentralEnv(
            tmp_path,
            broker.url,
            postgres_url,
            extra_toml=f"[risk]\nevaluate_interval_s = {INTERVAL_S}\nsettle_s = 1\n"
            f'[alerts]\nwebhook_url = "{url}"\nmin_severity = "high"\n{WING_ZONES}',
        )
        # Small batches from three sensors at once: many messages, which the broker
        # shares out between the two instances (one sensor's stream may all go to one).
        sensors = [
            env.add_sensor(f"luke-{wing}-01", wing=wing, extra_toml=BATCHES)
            for wing in ("4b", "4c", "5a")
        ]
        capture = write_wing_capture(tmp_path / "wing.pcap", rounds=3)
        started = time.monotonic()
        first = env.start_ingest("a", idle_exit_s=15)
        second = env.start_ingest("b", idle_exit_s=15)
        replays = [threading.Thread(target=env.replay, args=(capture, s)) for s in sensors]
        for thread in replays:
            thread.start()
        for thread in replays:
            thread.join()
        summaries = [env.finish(first), env.finish(second)]
        elapsed_s = time.monotonic() - started
    finally:
        broker.kill()
    runs = [_evaluations(summary) for summary in summaries]
    evaluated = sum(done for done, _read, _skipped in runs)
    # Both stored part of the stream, and both took turns at the evaluation ...
    assert all(re.search(r": [1-9]\d* messages, [1-9]\d* stored", s) for s in summaries), summaries
    assert sum(skipped for _done, _read, skipped in runs) > 0, summaries
    # ... one per interval between them (each alone would make it about twice as many),
    # plus at most one catch-up each as it stops.
    assert 1 <= evaluated <= elapsed_s / INTERVAL_S + 2, (summaries, elapsed_s)

    engine = env.engine()
    with engine.connect() as connection:
        stored_flows = connection.execute(select(func.count()).select_from(flows)).scalar()
        device_count = connection.execute(select(func.count()).select_from(devices)).scalar()
        existing_devices = set(connection.execute(select(devices.c.id)).scalars())
        scored = connection.execute(select(func.count()).select_from(device_risk)).scalar()
        ct_id = connection.execute(select(devices.c.id).where(devices.c.mac == CT.mac)).scalar()
        dicom_flows = connection.execute(
            select(func.count())
            .select_from(flows)
            .where(
                flows.c.service == "dicom",
                or_(
                    and_(flows.c.orig_h == CT.ip, flows.c.resp_h == PACS.ip),
                    and_(flows.c.orig_h == PACS.ip, flows.c.resp_h == CT.ip),
                ),
            )
        ).scalar()
        ct_finding = connection.execute(
            select(findings).where(
                findings.c.device_id == ct_id,
                findings.c.finding == "cleartext_phi",
                findings.c.peer == PACS.ip,
            )
        ).one()
        stored_alerts = connection.execute(
            select(
                alerts.c.id,
                alerts.c.finding,
                alerts.c.device_id,
                alerts.c.peer,
                alerts.c.deliveries,
            )
        ).all()
    engine.dispose()
    # Every device scored by the ingest processes themselves.
    assert device_count and scored == device_count
    # Each stored flow read by exactly one evaluation of one instance ...
    assert sum(read for _done, read, _skipped in runs) == stored_flows > 0, summaries
    # ... so no finding counts a flow twice. (It may count fewer: a flow read before the
    # observation that makes its address the CT's is a finding of the address device,
    # which goes when the CT's device absorbs the address.)
    assert dicom_flows >= 2 and 1 <= ct_finding.count <= dicom_flows, (ct_finding, dicom_flows)
    assert ct_finding.severity == "critical"
    # One alert per (finding, device, peer), and one "new" delivery of each.
    keys = [(a.finding, a.device_id, a.peer) for a in stored_alerts]
    assert (("cleartext_phi", ct_id, PACS.ip) in keys) and len(keys) == len(set(keys))
    posted = Counter(
        (r["body"]["alert"]["finding"], r["body"]["alert"]["device_id"], r["body"]["alert"]["peer"])
        for r in received
        if r["body"]["event"] == "new"
    )
    assert set(posted.values()) == {1}, posted
    # Each replay's sensor says "offline" as it ends: one sensor_silent alert each, once.
    sensor_alerts = {key for key in posted if key[0] == "sensor_silent"}
    assert sensor_alerts == {("sensor_silent", f"sensor:{s.sensor_id}", "") for s in sensors}, (
        posted
    )
    # Every alert stored was sent, by id. An alert sent for an address device that a MAC
    # device absorbed later (flows came before its observation) is handed over to that
    # device, unless it already had the same alert open: then the absorbed one goes (a known
    # weakness, docs/RISK.md); so a sent alert missing from the store is one of a device
    # that no longer exists.
    posted_devices = {
        r["body"]["alert"]["id"]: r["body"]["alert"]["device_id"]
        for r in received
        if r["body"]["event"] == "new" and r["body"]["alert"]["finding"] != "sensor_silent"
    }
    stored_ids = {a.id for a in stored_alerts}
    assert stored_ids <= set(posted_devices), (posted, keys)
    vanished = {posted_devices[i] for i in set(posted_devices) - stored_ids}
    assert not vanished & existing_devices, (vanished, posted)


def _evaluations(summary: str) -> tuple[int, int, int]:
    found = re.search(
        r"(\d+) risk evaluations of (\d+) flows \((\d+) turns left to other instances\)", summary
    )
    assert found, summary
    return int(found.group(1)), int(found.group(2)), int(found.group(3))
