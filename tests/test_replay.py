"""`iomt-agent replay`: the whole pipeline over a capture into a real mosquitto, checked
by an independent `iomt-agent consume` that verifies every signature."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.support import broker as broker_support
from tests.support.agent_setup import Consumer, make_sensor, run_agent
from tools.wingcap import generate

mosquitto = broker_support.mosquitto

pytestmark = pytest.mark.skipif(
    not Path("/usr/sbin/mosquitto").exists(), reason="mosquitto is not installed"
)

# Fields of a flow record that a consumer adds, or that differ per run (the uid is
# salted with the boot id, which is random per process).
_PER_RUN = {"uid", "type", "sensor", "site", "wing", "boot", "seq", "topic"}


def _flow_key(record: dict) -> str:
    return json.dumps({k: v for k, v in record.items() if k not in _PER_RUN}, sort_keys=True)


@pytest.fixture(scope="module")
def wing_capture(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("capture") / "wing.pcap"
    generate(path, packets=20_000, seed=11, duration_s=700)
    return path


def _local_flows(capture: Path) -> list[dict]:
    result = run_agent("flows", str(capture), "--json")
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_replay_delivers_every_flow_signed_and_in_sequence(tmp_path, mosquitto, wing_capture):
    sensor = make_sensor(tmp_path, mosquitto.url)
    consumer = Consumer(mosquitto.url, sensor.trust)
    result = run_agent("replay", str(wing_capture), "-c", str(sensor.config))
    assert result.returncode == 0, result.stderr
    assert "all delivered" in result.stderr
    records = consumer.records()

    kinds = Counter(record["type"] for record in records)
    assert kinds["rejected"] == 0 and kinds["gap"] == 0, kinds
    # Exactly the flows the local summary finds, field for field (uid aside).
    received = Counter(_flow_key(r) for r in records if r["type"] == "flow")
    expected = Counter(_flow_key(r) for r in _local_flows(wing_capture))
    assert received == expected
    # One sequence, from 0, without holes, over flows and health alike.
    seqs = sorted({r["seq"] for r in records if r["type"] in ("flow", "device", "health")})
    assert seqs == list(range(len(seqs)))
    health = [r for r in records if r["type"] == "health"]
    assert health, "a replay ends with a health message"
    figures = health[-1]["figures"]
    # No site secret configured: the sensor made its own, and says so.
    assert figures["names_hash_secret"] == "own"
    assert (sensor.spool / "own-hostname.secret").is_file()
    # The agent's uptime (this replay's process), not the machine's.
    assert figures["agent_uptime_s"] < 120 and figures["box_uptime_s"] >= figures["agent_uptime_s"]
    assert all(r["sensor"] == "anne4b-01" and r["wing"] == "4b" for r in records)


def test_replay_at_a_set_speed_takes_packet_time_over_speed(tmp_path, mosquitto, wing_capture):
    sensor = make_sensor(tmp_path, mosquitto.url)
    consumer = Consumer(mosquitto.url, sensor.trust)
    started = time.monotonic()
    result = run_agent("replay", str(wing_capture), "-c", str(sensor.config), "--speed", "200")
    elapsed_s = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    # The capture spans ~700 s of packet time: at 200x that is ~3.5 s, not the ~1 s an
    # unpaced replay of 20,000 packets takes here.
    assert 3.0 <= elapsed_s <= 30, elapsed_s
    received = Counter(_flow_key(r) for r in consumer.records() if r["type"] == "flow")
    assert received == Counter(_flow_key(r) for r in _local_flows(wing_capture))


def test_replay_with_the_broker_down_keeps_everything_spooled(tmp_path, wing_capture):
    port = broker_support.free_port()
    sensor = make_sensor(tmp_path, f"mqtt://127.0.0.1:{port}")
    result = run_agent(
        "replay", str(wing_capture), "-c", str(sensor.config), "--drain-timeout", "1"
    )
    assert result.returncode == 1, result.stderr
    assert "stay spooled" in result.stderr
    assert "Traceback" not in result.stderr
    assert any(sensor.spool.iterdir()), "the batches wait in the spool"


def test_replay_of_a_missing_capture_is_one_line_exit_2(tmp_path):
    sensor = make_sensor(tmp_path, "mqtt://127.0.0.1:1")
    result = run_agent(
        "replay", str(tmp_path / "nope.pcap"), "-c", str(sensor.config), timeout_s=60
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "nope.pcap" in result.stderr


@pytest.mark.parametrize("drain_timeout", ["-1", "nan", "soon"])
def test_replay_refuses_a_drain_timeout_that_is_not_seconds(tmp_path, drain_timeout):
    result = run_agent(
        "replay", str(tmp_path / "any.pcap"), "--drain-timeout", drain_timeout, timeout_s=60
    )
    assert result.returncode == 2
    assert "--drain-timeout" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
