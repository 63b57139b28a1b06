"""`iomt-agent consume` against a real mosquitto: verify, dedupe, gaps, shared
subscriptions, mutual TLS, and one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from agent.cose import Signer
from agent.wire import BatchInfo, SensorIdentity, encode_flow_batch, topic_for
from agent.wire.samples import synthetic_flows
from tests.support import broker as broker_support
from tests.support.agent_setup import run_agent, signer_and_trust
from tests.support.broker import MosquittoBroker

# The shared fixtures: a real mosquitto on a free port, plain and mutual TLS.
mosquitto = broker_support.mosquitto
mosquitto_tls = broker_support.mosquitto_tls

pytestmark = pytest.mark.skipif(
    not Path("/usr/sbin/mosquitto").exists(), reason="mosquitto is not installed"
)

IDENTITY = SensorIdentity("wing4b-01", "st-mary", "4b", os.urandom(16))
TOPIC = topic_for("iomt", "st-mary", "4b", "wing4b-01", "flows")


@pytest.fixture()
def keys(tmp_path: Path) -> tuple[Signer, Path]:
    return signer_and_trust(tmp_path)


def _message(signer: Signer, seq: int, flows: int = 3) -> bytes:
    batch = BatchInfo(seq=seq, window_start_us=seq, window_end_us=seq + 1)
    payload = encode_flow_batch(synthetic_flows(flows, seed=seq), IDENTITY, batch)
    return signer.sign(payload, TOPIC)


class Consume:
    """`iomt-agent consume ...` as a subprocess, started once its subscription stands."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "agent", "consume", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.process.stderr is not None
        first = self.process.stderr.readline()
        assert "subscribed to" in first, first + self.process.stderr.read()

    def finish(self, timeout_s: float = 30) -> tuple[int, list[dict], str]:
        stdout, stderr = self.process.communicate(timeout=timeout_s)
        return self.process.returncode, [json.loads(x) for x in stdout.splitlines()], stderr


def _publish(url_port: int, items: list[tuple[str, bytes]], **tls: str) -> None:
    client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    if tls:
        client.tls_set(ca_certs=tls["ca"], certfile=tls["cert"], keyfile=tls["key"])
    client.connect("localhost" if tls else "127.0.0.1", url_port)
    client.loop_start()
    try:
        for topic, payload in items:
            client.publish(topic, payload, qos=1).wait_for_publish(10)
    finally:
        client.disconnect()
        client.loop_stop()


def test_consume_verifies_dedupes_and_reports_gaps(
    mosquitto: MosquittoBroker,
    keys: tuple[Signer, Path],
) -> None:
    signer, trust = keys
    consume = Consume("--url", mosquitto.url, "--trust", str(trust), "--exit-after-idle", "1.5")
    tampered = bytearray(_message(signer, 2))
    tampered[40] ^= 0x04
    _publish(
        mosquitto.port,
        [
            (TOPIC, _message(signer, 0)),
            (TOPIC, _message(signer, 1)),
            (TOPIC, _message(signer, 1)),  # a duplicate (QoS 1 redelivery, spool replay)
            (TOPIC, bytes(tampered)),  # seq 2, tampered: rejected, so seq 2 is missing
            (TOPIC, _message(signer, 3)),
        ],
    )
    code, records, stderr = consume.finish()
    assert code == 0, stderr
    kinds = [r["type"] for r in records]
    assert kinds.count("flow") == 9  # seqs 0, 1, 3: three flows each
    assert [r["seq"] for r in records if r["type"] == "batch"] == [0, 1, 3]
    (rejected,) = [r for r in records if r["type"] == "rejected"]
    assert rejected["reason"] == "bad_signature" and rejected["topic"] == TOPIC
    (gap,) = [r for r in records if r["type"] == "gap"]
    assert (gap["first_missing_seq"], gap["last_missing_seq"]) == (2, 2)
    assert "1 duplicates dropped" in stderr and "1 rejected" in stderr
    assert "Traceback" not in stderr


def test_a_named_session_and_a_state_file_carry_the_consumer_through_a_restart(
    mosquitto: MosquittoBroker, keys: tuple[Signer, Path], tmp_path: Path
) -> None:
    signer, trust = keys
    state = tmp_path / "consumer.state"
    args = ["--url", mosquitto.url, "--trust", str(trust), "--session", "central",
            "--state", str(state), "--exit-after-idle", "1.5"]  # fmt: skip
    first = Consume(*args)
    _publish(mosquitto.port, [(TOPIC, _message(signer, 0)), (TOPIC, _message(signer, 1))])
    code, records, stderr = first.finish()
    assert code == 0, stderr
    assert [r["type"] for r in records if r["type"] != "flow"] == ["boot", "batch", "batch"]

    # The consumer is away: the broker queues for its session.
    _publish(
        mosquitto.port,
        [(TOPIC, _message(signer, 2)), (TOPIC, _message(signer, 1)), (TOPIC, _message(signer, 4))],
    )
    second = Consume(*args)
    code, records, stderr = second.finish()
    assert code == 0, stderr
    # Nothing lost, no second boot record, the replayed seq 1 dropped, seq 3 missing.
    assert [(r["type"], r.get("seq")) for r in records if r["type"] != "flow"] == [
        ("batch", 2),
        ("gap", None),
        ("batch", 4),
    ]
    (gap,) = [r for r in records if r["type"] == "gap"]
    assert (gap["first_missing_seq"], gap["last_missing_seq"]) == (3, 3)
    assert "1 duplicates dropped" in stderr


def test_a_state_file_that_is_not_one_is_a_one_line_error(
    keys: tuple[Signer, Path], tmp_path: Path
) -> None:
    _, trust = keys
    state = tmp_path / "consumer.state"
    state.write_text("{not json")
    result = run_agent("consume", "--url", "mqtt://127.0.0.1:9", "--trust", str(trust),
                       "--state", str(state))  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "is not a consumer state file" in result.stderr


def test_shared_subscription_splits_the_stream_without_loss_or_false_gaps(
    mosquitto: MosquittoBroker,
    keys: tuple[Signer, Path],
) -> None:
    signer, trust = keys
    args = (
        "--url",
        mosquitto.url,
        "--trust",
        str(trust),
        "--share",
        "analytics",
        "--topic-filter",
        "iomt/+/+/+/flows",
        "--exit-after-idle",
        "1.5",
    )
    members = [Consume(*args), Consume(*args)]
    _publish(mosquitto.port, [(TOPIC, _message(signer, seq, flows=1)) for seq in range(20)])
    seen: list[int] = []
    for member in members:
        code, records, stderr = member.finish()
        assert code == 0, stderr
        assert not [r for r in records if r["type"] in ("gap", "rejected")]
        seen += [r["seq"] for r in records if r["type"] == "batch"]
    assert sorted(seen) == list(range(20))  # every message once, across the group


def test_consume_over_mutual_tls(
    mosquitto_tls: MosquittoBroker,
    keys: tuple[Signer, Path],
) -> None:
    signer, trust = keys
    assert mosquitto_tls.pki is not None and mosquitto_tls.tls_port is not None
    cert, key = mosquitto_tls.pki.client("consumer")
    ca = str(mosquitto_tls.pki.ca_cert)
    consume = Consume(
        "--url",
        mosquitto_tls.tls_url,
        "--trust",
        str(trust),
        "--ca",
        ca,
        "--cert",
        str(cert),
        "--key",
        str(key),
        "--exit-after-idle",
        "1",
    )
    pub_cert, pub_key = mosquitto_tls.pki.client("sensor")
    _publish(
        mosquitto_tls.tls_port,
        [(TOPIC, _message(signer, 0))],
        ca=ca,
        cert=str(pub_cert),
        key=str(pub_key),
    )
    code, records, stderr = consume.finish()
    assert code == 0, stderr
    assert [r["type"] for r in records].count("flow") == 3


def test_unreachable_broker_and_bad_url_are_one_line_errors(
    keys: tuple[Signer, Path], tmp_path: Path
) -> None:
    _, trust = keys
    cases = [
        (
            ["--url", f"mqtt://127.0.0.1:{broker_support.free_port()}"],
            1,
            "cannot connect to broker",
        ),
        (["--url", "http://127.0.0.1:1"], 2, "mqtt://"),
        (["--url", "mqtts://127.0.0.1:1", "--ca", str(tmp_path / "no.pem")], 2, "--ca"),
    ]
    for args, expected_code, expected_text in cases:
        started = time.monotonic()
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "agent",
                "consume",
                "--trust",
                str(trust),
                *args,
                "--exit-after-idle",
                "1",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == expected_code, result.stderr
        (line,) = result.stderr.splitlines()
        assert "error" in line and expected_text in line, result.stderr
        assert "Traceback" not in result.stderr
        assert time.monotonic() - started < 30


@pytest.mark.parametrize("idle", ["0", "-1", "nan", "inf", "soon"])
def test_consume_refuses_an_idle_time_that_is_not_positive_seconds(tmp_path: Path, idle: str):
    result = run_agent(
        "consume", "--url", "mqtt://127.0.0.1:1", "--trust", str(tmp_path),
        "--exit-after-idle", idle, timeout_s=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert "--exit-after-idle" in result.stderr and "Traceback" not in result.stderr


def test_a_hostile_message_queued_in_a_session_is_rejected_once_and_the_rest_drains(
    mosquitto: MosquittoBroker, keys: tuple[Signer, Path]
) -> None:
    """The review's 311-byte message used to crash consume, and crash it again on every
    restart of its session (never acknowledged): now it is one rejection, acknowledged."""
    from tests.test_wire_hostile import review_bomb

    signer, trust = keys
    args = ["--url", mosquitto.url, "--trust", str(trust), "--session", "hostile",
            "--exit-after-idle", "1.5"]  # fmt: skip
    Consume(*args).finish()  # the session exists: the broker queues for it from now on
    _publish(mosquitto.port, [(TOPIC, review_bomb()), (TOPIC, _message(signer, 0))])
    code, records, stderr = Consume(*args).finish()
    assert code == 0, stderr
    assert [r["type"] for r in records if r["type"] != "flow"] == ["rejected", "boot", "batch"]
    assert records[0]["reason"] == "unsupported_tag"
    code, records, stderr = Consume(*args).finish()
    assert code == 0 and records == [], records  # acknowledged: not delivered again


def test_a_message_over_the_wire_limit_is_never_delivered_to_the_consumer(
    mosquitto: MosquittoBroker, keys: tuple[Signer, Path]
) -> None:
    """The consumer announces the limit as its MQTT 5 Maximum Packet Size: the broker
    drops a bigger message instead of sending it (the review's 200 MB message reached
    624 MB of consumer memory before it was refused)."""
    signer, trust = keys
    consume = Consume("--url", mosquitto.url, "--trust", str(trust), "--exit-after-idle", "1.5")
    _publish(mosquitto.port, [(TOPIC, b"\x00" * (2 << 20)), (TOPIC, _message(signer, 0))])
    code, records, stderr = consume.finish()
    assert code == 0, stderr
    assert "rejected" not in [r["type"] for r in records]  # never even received
    assert [r["type"] for r in records].count("flow") == 3


def test_consume_takes_the_agents_credential_options(
    tmp_path: Path, keys: tuple[Signer, Path]
) -> None:
    signer, trust = keys
    broker = MosquittoBroker(tmp_path, users={"central": "s3cret"})
    broker.start()
    try:
        password_file = tmp_path / "mqtt.password"
        password_file.write_text("s3cret\n")
        consume = Consume(
            "--url", broker.url, "--trust", str(trust), "--username", "central",
            "--password-file", str(password_file), "--exit-after-idle", "1.5",
        )  # fmt: skip
        client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        client.username_pw_set("central", "s3cret")
        client.connect("127.0.0.1", broker.port)
        client.loop_start()
        client.publish(TOPIC, _message(signer, 0), qos=1).wait_for_publish(10)
        client.disconnect()
        client.loop_stop()
        code, records, stderr = consume.finish()
        assert code == 0, stderr
        assert [r["type"] for r in records].count("flow") == 3
        refused = subprocess.run(
            [sys.executable, "-m", "agent", "consume", "--url", broker.url, "--trust",
             str(trust), "--username", "central", "--exit-after-idle", "1"],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert refused.returncode != 0 and "refused" in refused.stderr
        assert "s3cret" not in refused.stderr
    finally:
        broker.stop()


def test_an_absent_or_empty_password_file_is_a_one_line_error_naming_it(tmp_path: Path) -> None:
    empty = tmp_path / "empty.password"
    empty.write_text("\n")
    for path, reason in ((tmp_path / "absent.password", "No such file"), (empty, "empty")):
        result = run_agent(
            "consume", "--url", "mqtt://127.0.0.1:9", "--trust", str(tmp_path),
            "--username", "central", "--password-file", str(path), timeout_s=60,
        )  # fmt: skip
        assert result.returncode == 2, result.stderr
        assert result.stderr.count("\n") == 1, result.stderr
        assert f"--password-file {path}: {reason}" in result.stderr


def test_sigterm_prints_the_same_summary_as_ctrl_c_and_exits_0(
    mosquitto: MosquittoBroker, keys: tuple[Signer, Path]
) -> None:
    signer, trust = keys
    consume = Consume("--url", mosquitto.url, "--trust", str(trust))
    _publish(mosquitto.port, [(TOPIC, _message(signer, 0))])
    time.sleep(0.5)
    consume.process.terminate()
    code, records, stderr = consume.finish()
    assert code == 0, stderr
    assert "1 messages, " in stderr and "Traceback" not in stderr
    assert [r["type"] for r in records].count("flow") == 3


# Runs consume and reports its peak RSS on the last stderr line: a child forked from
# pytest would be charged pytest's own memory (kept across fork + exec).
_MEASURED = """
import resource, subprocess, sys
code = subprocess.run(sys.argv[1:]).returncode
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, code, file=sys.stderr)
"""


def test_consume_stays_under_100_mb_whatever_is_published(
    mosquitto: MosquittoBroker, keys: tuple[Signer, Path]
) -> None:
    from tests.test_wire_hostile import review_bomb

    signer, trust = keys
    process = subprocess.Popen(
        [sys.executable, "-c", _MEASURED, sys.executable, "-m", "agent", "consume", "--url",
         mosquitto.url, "--trust", str(trust), "--exit-after-idle", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert process.stderr is not None
    assert "subscribed to" in process.stderr.readline()
    client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.connect("127.0.0.1", mosquitto.port)
    client.loop_start()
    try:
        client.publish(TOPIC, review_bomb(), qos=1).wait_for_publish(10)
        client.publish(TOPIC, b"\x00" * (8 << 20), qos=1).wait_for_publish(30)
        flood = b"\x00" * (250 * 1024)
        for _ in range(300):  # QoS 0: no flow control in MQTT
            client.publish(TOPIC, flood, qos=0)
        client.publish(TOPIC, _message(signer, 0), qos=1).wait_for_publish(30)
    finally:
        client.disconnect()
        client.loop_stop()
    stdout, stderr = process.communicate(timeout=120)
    peak_kb, code = (int(x) for x in stderr.splitlines()[-1].split())
    records = [json.loads(line) for line in stdout.splitlines()]
    assert code == 0, stderr
    assert [r["type"] for r in records].count("flow") == 3
    assert peak_kb < 100 * 1024, f"consume peaked at {peak_kb / 1024:.0f} MB"
    print(f"consume under the flood: peak RSS {peak_kb / 1024:.1f} MB; {stderr.splitlines()[-2]}")
