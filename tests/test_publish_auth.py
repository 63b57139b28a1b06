"""TLS, credentials and ACL against a real mosquitto: clear errors, backoff, spool intact."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from agent.publish.publisher import Publisher
from agent.spool import Spool
from tests.support.broker import (
    MosquittoBroker,
    Subscriber,
    mosquitto_tls,
    seqs_received,
    wait_until,
)
from tests.support.certs import make_pki
from tests.test_publish import DATA_TOPIC, STATUS_TOPIC, make_publisher, spool_with

__all__ = ["mosquitto_tls"]

PASSWORD = "correct-horse-battery"


def assert_backs_off_and_keeps_spool(publisher: Publisher, spool: Spool, count: int) -> None:
    """Over ~2.5 s with backoff 0.1 -> 0.4 s: a handful of attempts, not hundreds."""
    time.sleep(2.5)
    health = publisher.health()
    assert 3 <= health.connect_attempts <= 15, health.connect_attempts
    assert health.failed_attempts >= 3
    assert spool.stats().depth_messages == count
    assert [r.seq for r in spool.read(0, 10_000)] == list(range(count))


def error_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


def test_mutual_tls_delivers(tmp_path: Path, mosquitto_tls: MosquittoBroker) -> None:
    assert mosquitto_tls.pki is not None
    cert, key = mosquitto_tls.pki.client("wing4b-01")
    subscriber = Subscriber(mosquitto_tls.url, "iomt/#")
    subscriber.start()
    spool = spool_with(tmp_path, 100)
    publisher = make_publisher(
        spool,
        mosquitto_tls.tls_url,
        ca_file=mosquitto_tls.pki.ca_cert,
        client_cert_file=cert,
        client_key_file=key,
    )
    publisher.start()
    assert publisher.wait_drained(10)
    assert subscriber.wait_for(lambda m: seqs_received(m, "A") == list(range(100)), 5)
    publisher.stop()
    spool.close()


def test_wrong_ca_is_a_clear_error_retried_with_backoff(
    tmp_path: Path, mosquitto_tls: MosquittoBroker, caplog: pytest.LogCaptureFixture
) -> None:
    assert mosquitto_tls.pki is not None
    cert, key = mosquitto_tls.pki.client("wing4b-01")
    stranger = make_pki(tmp_path / "other-ca", ca_name="some other CA")
    spool = spool_with(tmp_path, 20)
    publisher = make_publisher(
        spool,
        mosquitto_tls.tls_url,
        ca_file=stranger.ca_cert,
        client_cert_file=cert,
        client_key_file=key,
    )
    with caplog.at_level(logging.INFO):
        publisher.start()
        assert_backs_off_and_keeps_spool(publisher, spool, 20)
    errors = error_lines(caplog)
    assert len(errors) == 1, "one line per change of state, not one per attempt"
    assert "certificate" in errors[0] and "mqtt.ca_file" in errors[0]
    assert not publisher.health().connected
    publisher.stop()
    spool.close()


def test_certificate_for_another_host_name_is_rejected(tmp_path: Path) -> None:
    broker = MosquittoBroker(tmp_path, tls=True, tls_server_names=("broker.other.example",))
    broker.start()
    assert broker.pki is not None
    cert, key = broker.pki.client("wing4b-01")
    spool = spool_with(tmp_path, 5)
    publisher = make_publisher(
        spool,
        broker.tls_url,
        ca_file=broker.pki.ca_cert,
        client_cert_file=cert,
        client_key_file=key,
    )
    publisher.start()
    assert wait_until(lambda: publisher.health().last_error is not None, 5)
    last_error = publisher.health().last_error or ""
    assert "Hostname mismatch" in last_error and "names the host" in last_error
    assert spool.stats().depth_messages == 5
    publisher.stop()
    broker.kill()
    spool.close()


def test_client_without_certificate_is_refused_clearly(
    tmp_path: Path, mosquitto_tls: MosquittoBroker
) -> None:
    assert mosquitto_tls.pki is not None
    spool = spool_with(tmp_path, 5)
    publisher = make_publisher(spool, mosquitto_tls.tls_url, ca_file=mosquitto_tls.pki.ca_cert)
    publisher.start()
    assert wait_until(lambda: publisher.health().last_error is not None, 5)
    last_error = publisher.health().last_error or ""
    assert "client certificate" in last_error and "mqtt.client_cert_file" in last_error
    assert spool.stats().depth_messages == 5
    publisher.stop()
    spool.close()


def test_wrong_password_is_a_clear_error_and_never_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    broker = MosquittoBroker(tmp_path, users={"wing4b-01": PASSWORD})
    broker.start()
    password_file = tmp_path / "mqtt-password"
    password_file.write_text("not-the-password\n")
    spool = spool_with(tmp_path, 20)
    publisher = make_publisher(spool, broker.url, username="wing4b-01", password_file=password_file)
    with caplog.at_level(logging.DEBUG):
        publisher.start()
        assert_backs_off_and_keeps_spool(publisher, spool, 20)
    errors = error_lines(caplog)
    assert len(errors) == 1
    assert "refused the login of user 'wing4b-01'" in errors[0]
    assert "mqtt.password_file" in errors[0]
    assert "not-the-password" not in caplog.text
    publisher.stop()
    broker.kill()
    spool.close()


def test_right_password_from_file_delivers(tmp_path: Path) -> None:
    broker = MosquittoBroker(tmp_path, users={"wing4b-01": PASSWORD, "reader": "r"})
    broker.start()
    password_file = tmp_path / "mqtt-password"
    password_file.write_text(PASSWORD + "\n")
    subscriber = Subscriber(broker.url.replace("mqtt://", "mqtt://"), "iomt/#")
    subscriber._client.username_pw_set("reader", "r")
    subscriber.start()
    spool = spool_with(tmp_path, 30)
    publisher = make_publisher(spool, broker.url, username="wing4b-01", password_file=password_file)
    publisher.start()
    assert publisher.wait_drained(10)
    assert subscriber.wait_for(lambda m: seqs_received(m, "A") == list(range(30)), 5)
    publisher.stop()
    broker.kill()
    spool.close()


def test_acl_refusal_keeps_the_spool_until_the_broker_allows_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # The sensor may write its status but not its data: MQTT 5 PUBACK 0x87.
    refuse_data = f"topic write {STATUS_TOPIC}\ntopic read #\n"
    broker = MosquittoBroker(tmp_path, acl=refuse_data)
    broker.start()
    subscriber = Subscriber(broker.url, "iomt/#")
    subscriber.start()
    spool = spool_with(tmp_path, 20)
    publisher = make_publisher(spool, broker.url)
    with caplog.at_level(logging.INFO):
        publisher.start()
        assert_backs_off_and_keeps_spool(publisher, spool, 20)
    errors = error_lines(caplog)
    assert len(errors) == 1
    assert "refused a publish on " + DATA_TOPIC in errors[0] and "0x87" in errors[0]
    assert seqs_received(subscriber.snapshot(), "A") == []

    broker.acl_path.write_text("topic write iomt/#\ntopic read #\n")
    broker.reload()
    assert publisher.wait_drained(10), publisher.health()
    assert subscriber.wait_for(lambda m: sorted(set(seqs_received(m, "A"))) == list(range(20)), 5)
    publisher.stop()
    broker.kill()
    spool.close()
