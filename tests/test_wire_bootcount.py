"""The sensor counts its boots (wire schema 2, key 11): two runs of the whole pipeline
with one configuration are boots 0 and 1 of its key, and a consumer watching both
sees each boot once, with nothing rejected and nothing missing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support import broker as broker_support
from tests.support.agent_setup import Consumer, make_sensor, run_agent
from tools.wingcap import generate

mosquitto = broker_support.mosquitto

pytestmark = pytest.mark.skipif(
    not Path("/usr/sbin/mosquitto").exists(), reason="mosquitto is not installed"
)


def test_two_runs_are_two_counted_boots_and_the_second_names_where_the_first_ended(
    tmp_path: Path, mosquitto
) -> None:
    capture = tmp_path / "wing.pcap"
    generate(capture, packets=3_000, seed=5, duration_s=700)
    sensor = make_sensor(tmp_path, mosquitto.url)
    consumer = Consumer(mosquitto.url, sensor.trust, idle_exit_s=4)
    for _ in range(2):
        result = run_agent("replay", str(capture), "-c", str(sensor.config))
        assert result.returncode == 0, result.stderr
    records = consumer.records()
    types = [r["type"] for r in records]
    assert "rejected" not in types and "gap" not in types, types
    assert [r["boot_count"] for r in records if r["type"] == "boot"] == [0, 1]
    saved = json.loads((sensor.spool / "boot-counter.json").read_text())
    assert saved["count"] == 1 and saved["kid"] == sensor.kid
    second_boot = [r["boot"] for r in records if r["type"] == "boot"][1]
    seqs_of_second = [r["seq"] for r in records if "seq" in r and r["boot"] == second_boot]
    assert saved["last_seq"] == max(seqs_of_second)
