"""Alert delivery to real receivers: an HTTP server (webhook), UDP and TCP syslog
listeners, and a real mosquitto whose alerts `iomt-agent consume` verifies."""

from __future__ import annotations

import re
import socket
from pathlib import Path

from agent.keys import generate_key_pair
from central.alerts.book import AlertEvent
from central.alerts.dispatch import Dispatcher
from central.alerts.mqtt import MqttChannel
from central.alerts.syslog import SyslogChannel
from central.alerts.webhook import WebhookChannel
from tests.central.receivers import http_receiver_fixture  # noqa: F401 (the http_receiver fixture)
from tests.support.agent_setup import Consumer
from tests.support.broker import MosquittoBroker

ALERT_TOPICS = ("--topic-filter", "iomt-central/#")


ALERT = {
    "id": 7,
    "finding": "cleartext_phi",
    "severity": "critical",
    "device_id": "pump-1",
    "peer": "10.10.0.6",
    "site": "st-mary",
    "wing": "4b",
    "zones": ["bedside", "clinical-servers"],
    "detail": "Patient data sent in clear text: hl7 to 10.10.0.6:2575 across zones a=b|c",
    "first_seen": "2026-01-05T08:00:00Z",
    "last_seen": "2026-01-05T08:05:00Z",
    "count": 12,
    "community_id": "1:abc=",
    "state": "open",
    "created_at": "2026-01-10T12:00:00Z",
    "updated_at": "2026-01-10T12:00:00Z",
    "acknowledged_by": None,
    "acknowledged_at": None,
    "closed_by": None,
    "closed_at": None,
    "note": None,
}
EVENT = AlertEvent("new", ALERT)


def test_webhook_posts_the_alert_as_json_and_counts_a_refusal(http_receiver) -> None:
    url, received = http_receiver
    assert WebhookChannel(url).deliver(EVENT)
    assert received == [{"type": "application/json", "body": {"event": "new", "alert": ALERT}}]
    closed_port = socket.socket()
    closed_port.bind(("127.0.0.1", 0))
    port = closed_port.getsockname()[1]
    closed_port.close()
    dead = WebhookChannel(f"http://127.0.0.1:{port}/", timeout_s=1)
    assert not dead.deliver(EVENT) and dead.failures == 1


def test_a_failed_webhook_is_logged_without_the_secret_its_url_holds(caplog) -> None:
    closed_port = socket.socket()
    closed_port.bind(("127.0.0.1", 0))
    port = closed_port.getsockname()[1]
    closed_port.close()
    url = f"http://hook:pa55word@127.0.0.1:{port}/services/T0/B0/s3cr3tpath?token=t0ken"
    with caplog.at_level("WARNING", logger="central.alerts.webhook"):
        assert not WebhookChannel(url, timeout_s=1).deliver(EVENT)
    logged = caplog.text
    assert f"webhook http://127.0.0.1:{port}: alert 7 not delivered" in logged
    assert not any(secret in logged for secret in ("pa55word", "s3cr3tpath", "t0ken")), logged


RFC5424 = re.compile(r"<(\d+)>1 (\S+) (\S+) iomt-central (\d+) alert - (CEF:0\|.*)")


def _check_cef(line: str) -> None:
    match = RFC5424.fullmatch(line)
    assert match, line
    assert match.group(1) == str(20 * 8 + 2)  # local4, critical
    cef = match.group(5)
    assert cef.startswith("CEF:0|iomt|iomt-central|")
    assert "|cleartext_phi|cleartext_phi on pump-1|10|" in cef
    assert "cs3=1:abc\\=" in cef and "cnt=12" in cef and "dst=10.10.0.6" in cef
    assert "msg=Patient data sent in clear text: hl7 to 10.10.0.6:2575 across zones a\\=b|c" in cef
    assert "cs2=bedside,clinical-servers" in cef


def test_syslog_over_udp_is_rfc5424_with_a_cef_payload() -> None:
    listener = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    listener.bind(("127.0.0.1", 0))
    listener.settimeout(5)
    channel = SyslogChannel(f"udp://127.0.0.1:{listener.getsockname()[1]}", hostname="central-1")
    assert channel.deliver(EVENT)
    data, _ = listener.recvfrom(65535)
    listener.close()
    _check_cef(data.decode())


def test_syslog_over_tcp_frames_each_message_by_octet_count() -> None:
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(5)
    channel = SyslogChannel(f"tcp://127.0.0.1:{server.getsockname()[1]}", hostname="central-1")
    assert channel.deliver(EVENT) and channel.deliver(AlertEvent("update", {**ALERT, "count": 30}))
    connection, _ = server.accept()
    connection.settimeout(5)
    buffer = b""
    while buffer.count(b"alert - CEF") < 2:
        buffer += connection.recv(65535)
    channel.close()
    connection.close()
    server.close()
    messages = []
    while buffer:
        length, _, rest = buffer.partition(b" ")
        messages.append(rest[: int(length)].decode())
        buffer = rest[int(length) :]
    assert len(messages) == 2
    _check_cef(messages[0])
    assert "act=update" in messages[1] and "cnt=30" in messages[1]


def test_mqtt_alerts_are_signed_outside_the_sensor_tree_and_verified_by_consume(
    tmp_path: Path,
) -> None:
    broker = MosquittoBroker(tmp_path)
    broker.start()
    try:
        key = generate_key_pair(tmp_path / "central-key")
        trust = tmp_path / "trust" / "central"
        trust.mkdir(parents=True)
        (trust / key.trust_path.name).write_bytes(key.public_path.read_bytes())
        consume = Consumer(
            broker.url, tmp_path / "trust", "--bound-keys-only", *ALERT_TOPICS, idle_exit_s=2
        )
        channel = MqttChannel(broker.url, key.private_path, sender_id="central")
        dispatcher = Dispatcher([channel])
        dispatcher.deliver([EVENT, AlertEvent("update", {**ALERT, "count": 40})])
        dispatcher.close()
        records = consume.records(timeout_s=30)
    finally:
        broker.stop()
    assert dispatcher.delivered == 2 and dispatcher.failed == 0
    alerts = [r for r in records if r["type"] == "alert"]
    assert [a["event"] for a in alerts] == ["new", "update"], records
    first = alerts[0]
    assert first["topic"] == "iomt-central/st-mary/4b/central/alerts"
    assert first["sensor"] == "central" and first["rule"] == "cleartext_phi"
    assert first["community_id"] == "1:abc=" and first["zones"] == ["bedside", "clinical-servers"]
    assert alerts[1]["count"] == 40 and alerts[1]["seq"] == first["seq"] + 1
    assert not [r for r in records if r["type"] in ("rejected", "gap")]


def test_the_configured_channels_all_deliver_through_a_broker_that_needs_a_login(
    tmp_path: Path, http_receiver
) -> None:
    from central.config import load_config
    from central.risk.settings import alert_dispatcher

    url, received = http_receiver
    syslog = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    syslog.bind(("127.0.0.1", 0))
    syslog.settimeout(5)
    broker = MosquittoBroker(tmp_path, users={"central": "s3cret"})
    broker.start()
    try:
        key = generate_key_pair(tmp_path / "central-key")
        (tmp_path / "trust" / "central").mkdir(parents=True)
        (tmp_path / "trust" / "central" / key.trust_path.name).write_bytes(
            key.public_path.read_bytes()
        )
        (tmp_path / "password").write_text("s3cret\n")
        config_path = tmp_path / "central.toml"
        config_path.write_text(
            f'[mqtt]\nurl = "{broker.url}"\nusername = "central"\npassword_file = "password"\n'
            f'[trust]\ndir = "{tmp_path / "trust"}"\n'
            f'[alerts]\nsigning_key = "{key.private_path}"\nwebhook_url = "{url}"\n'
            f'syslog = "udp://127.0.0.1:{syslog.getsockname()[1]}"\n'
        )
        # Built first: loading the config takes longer than the consumer's idle limit.
        dispatcher = alert_dispatcher(load_config(config_path))
        subscriber = Consumer(
            broker.url,
            tmp_path / "trust",
            *ALERT_TOPICS,
            "--username",
            "central",
            "--password-file",
            str(tmp_path / "password"),
            idle_exit_s=2,
        )
        dispatcher.deliver([EVENT])
        dispatcher.close()
        records = subscriber.records(timeout_s=30)
    finally:
        broker.stop()
    assert (dispatcher.delivered, dispatcher.failed) == (3, 0)
    assert received[0]["body"]["alert"]["id"] == ALERT["id"]
    _check_cef(syslog.recvfrom(65535)[0].decode())
    syslog.close()
    alerts = [r for r in records if r["type"] == "alert"]
    assert [a["rule"] for a in alerts] == ["cleartext_phi"], records
