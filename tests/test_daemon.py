"""`iomt-agent run` as systemd would run it, capturing a real veth pair whose far end
sits in a network namespace made by the test, shipping to a real mosquitto, checked by
`iomt-agent consume`. A datagram socket stands in for systemd's notify socket."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import broker as broker_support
from tests.support.agent_setup import (
    REPO,
    Consumer,
    agent_command,
    environment,
    make_sensor,
    run_agent,
)

mosquitto = broker_support.mosquitto

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces and capture need root"),
    pytest.mark.skipif(not Path("/usr/sbin/mosquitto").exists(), reason="mosquitto missing"),
]

# Documentation ranges, on veth pairs of our own (this host itself uses TEST-NET-1).
TEST_NET_2, TEST_NET_3 = "198.51.100", "203.0.113"

FAST_TOML = """
[batch]
window_s = 1
[health]
interval_s = 5
[flows]
udp_idle_timeout_s = 1
"""


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


@contextlib.contextmanager
def veth_into_namespace(subnet: str) -> Iterator[tuple[str, str, str]]:
    """A veth pair: `capture` end here (the SPAN port), `peer` end in a namespace of its
    own; `subnet` is the first three octets of the pair's two addresses (.1 and .2)."""
    tag = uuid.uuid4().hex[:6]
    namespace, capture, peer = f"iomt{tag}", f"span{tag}", f"host{tag}"
    ip("netns", "add", namespace)
    ip("link", "add", capture, "type", "veth", "peer", "name", peer)
    ip("link", "set", peer, "netns", namespace)
    ip("addr", "add", f"{subnet}.1/24", "dev", capture)
    ip("link", "set", capture, "up")
    ip("-n", namespace, "addr", "add", f"{subnet}.2/24", "dev", peer)
    ip("-n", namespace, "link", "set", peer, "up")
    try:
        yield namespace, capture, peer
    finally:
        subprocess.run(["ip", "link", "del", capture], capture_output=True)
        subprocess.run(["ip", "netns", "del", namespace], capture_output=True)


@pytest.fixture
def wire():
    with veth_into_namespace(TEST_NET_2) as names:
        yield names


def send_udp(namespace: str, first_port: int, count: int, subnet: str = TEST_NET_2) -> None:
    """`count` UDP datagrams, each a flow of its own, from the namespace to the agent."""
    script = textwrap.dedent(
        f"""
        import socket
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for port in range({first_port}, {first_port + count}):
            s.sendto(b"hello %d" % port, ("{subnet}.1", port))
        """
    )
    subprocess.run(["ip", "netns", "exec", namespace, sys.executable, "-c", script], check=True)


class NotifySocket:
    """Collects what the agent tells "systemd"."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.2)
        self.lines: list[str] = []

    def wait_for(self, line: str, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if line in self.lines:
                return True
            with contextlib.suppress(TimeoutError):
                self.lines += self.sock.recv(4096).decode().split("\n")
        return line in self.lines


def start_agent(config: Path, notify: NotifySocket) -> subprocess.Popen:
    env = environment()
    env.update(NOTIFY_SOCKET=notify.path, WATCHDOG_USEC="1000000")
    process = subprocess.Popen(
        agent_command("run", "-c", str(config)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env=env,
    )
    assert notify.wait_for("READY=1", 20), process.stderr.read() if process.poll() else ""
    return process


def stop_agent(process: subprocess.Popen) -> str:
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert "Traceback" not in err
    return err


def data_seqs(records: list[dict]) -> list[int]:
    return sorted({r["seq"] for r in records if r["type"] in ("batch", "health")})


def udp_ports(records: list[dict]) -> set[int]:
    return {r["id.resp_p"] for r in records if r["type"] == "flow" and r["proto"] == "udp"}


def test_run_captures_survives_link_down_and_flushes_on_sigterm(tmp_path, mosquitto, wire):
    namespace, capture, peer = wire
    sensor = make_sensor(tmp_path, mosquitto.url, interfaces=[capture], extra_toml=FAST_TOML)
    consumer = Consumer(mosquitto.url, sensor.trust, idle_exit_s=8)
    notify = NotifySocket(tmp_path / "notify.sock")
    agent = start_agent(sensor.config, notify)

    send_udp(namespace, 40000, 5)
    ip("-n", namespace, "link", "set", peer, "down")  # the SPAN cable pulled
    time.sleep(1.5)
    ip("-n", namespace, "link", "set", peer, "up")
    time.sleep(1.0)
    send_udp(namespace, 41000, 5)
    # SIGTERM right away: these flows are still open and must be flushed, not lost.
    log = stop_agent(agent)

    assert notify.wait_for("WATCHDOG=1", 1) and notify.wait_for("STOPPING=1", 1)
    assert f"link {capture} down" in log and f"link {capture} up" in log
    records = consumer.records()
    ports = udp_ports(records)
    assert set(range(40000, 40005)) <= ports
    assert set(range(41000, 41005)) <= ports
    forced = [r for r in records if r["type"] == "flow" and r["end_reason"] == "forced"]
    assert {r["id.resp_p"] for r in forced} >= set(range(41000, 41005))
    kinds = Counter(r["type"] for r in records)
    assert kinds["rejected"] == 0 and kinds["gap"] == 0
    health = [r for r in records if r["type"] == "health"]
    link_events = " ".join(str(r["figures"].get("link_events", "")) for r in health)
    assert f"{capture} down" in link_events and f"{capture} up" in link_events
    assert health[-1]["figures"][f"link_{capture}"] == "up"
    assert health[-1]["figures"]["packets_seen"] >= 10
    states = [r["state"] for r in records if r["type"] == "status"]
    assert states[0] == "online" and states[-1] == "offline"


def test_sighup_refuses_a_bad_config_and_applies_a_good_one(tmp_path, mosquitto, wire):
    namespace, capture, _ = wire
    sensor = make_sensor(tmp_path, mosquitto.url, interfaces=[capture], extra_toml=FAST_TOML)
    good = sensor.config.read_text()
    consumer = Consumer(mosquitto.url, sensor.trust, idle_exit_s=8)
    notify = NotifySocket(tmp_path / "notify.sock")
    agent = start_agent(sensor.config, notify)

    sensor.config.write_text(good.replace("interval_s = 5", "interval_z = 5"))  # a typo
    agent.send_signal(signal.SIGHUP)
    time.sleep(1.0)
    send_udp(namespace, 42000, 3)  # still capturing with the old configuration
    time.sleep(1.5)
    sensor.config.write_text(good.replace("interval_s = 5", "interval_s = 6"))
    agent.send_signal(signal.SIGHUP)
    time.sleep(2.0)
    send_udp(namespace, 43000, 3)
    log = stop_agent(agent)

    assert "reload refused" in log and "health.interval_z" in log
    assert "configuration reloaded" in log
    records = consumer.records()
    assert set(range(42000, 42003)) <= udp_ports(records)
    assert set(range(43000, 43003)) <= udp_ports(records)
    # A reload keeps the boot and its sequence: one boot, no gap, no rejection.
    data = [r for r in records if r["type"] in ("batch", "health")]
    assert len({r["boot"] for r in data}) == 1
    kinds = Counter(r["type"] for r in records)
    assert kinds["gap"] == 0 and kinds["rejected"] == 0, kinds
    assert data_seqs(records) == list(range(len(data_seqs(records))))


def test_run_captures_two_span_ports_into_one_flow_table(tmp_path, mosquitto):
    with (
        veth_into_namespace(TEST_NET_2) as (first_ns, first, _),
        veth_into_namespace(TEST_NET_3) as (second_ns, second, _),
    ):
        sensor = make_sensor(
            tmp_path, mosquitto.url, interfaces=[first, second], extra_toml=FAST_TOML
        )
        consumer = Consumer(mosquitto.url, sensor.trust, idle_exit_s=8)
        notify = NotifySocket(tmp_path / "notify.sock")
        agent = start_agent(sensor.config, notify)
        send_udp(first_ns, 44000, 4, TEST_NET_2)
        send_udp(second_ns, 45000, 4, TEST_NET_3)
        time.sleep(1.0)
        stop_agent(agent)
    records = consumer.records()
    flows = [r for r in records if r["type"] == "flow" and r["proto"] == "udp"]
    by_subnet = {r["id.resp_p"]: r["id.resp_h"].rsplit(".", 1)[0] for r in flows}
    assert {p: by_subnet.get(p) for p in range(44000, 44004)} == dict.fromkeys(
        range(44000, 44004), TEST_NET_2
    )
    assert {p: by_subnet.get(p) for p in range(45000, 45004)} == dict.fromkeys(
        range(45000, 45004), TEST_NET_3
    )
    assert len({r["boot"] for r in records if "boot" in r}) == 1


def test_run_refuses_a_misspelt_interface_as_check_config_does(tmp_path, wire):
    _, capture, _ = wire
    sensor = make_sensor(tmp_path, "mqtt://127.0.0.1:1", interfaces=[capture + "x"])
    result = run_agent("run", "-c", str(sensor.config), timeout_s=30)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and f"interface {capture}x does not exist" in lines[0], lines
    checked = run_agent("check-config", "-c", str(sensor.config))
    assert checked.returncode == 2 and f"interface {capture}x does not exist" in checked.stderr


def test_sighup_with_a_misspelt_interface_keeps_capturing_on_the_old_one(tmp_path, mosquitto, wire):
    namespace, capture, _ = wire
    sensor = make_sensor(tmp_path, mosquitto.url, interfaces=[capture], extra_toml=FAST_TOML)
    good = sensor.config.read_text()
    consumer = Consumer(mosquitto.url, sensor.trust, idle_exit_s=8)
    notify = NotifySocket(tmp_path / "notify.sock")
    agent = start_agent(sensor.config, notify)
    sensor.config.write_text(good.replace(f'["{capture}"]', f'["{capture}x"]'))
    agent.send_signal(signal.SIGHUP)
    time.sleep(1.5)
    send_udp(namespace, 46000, 3)
    time.sleep(1.5)
    log = stop_agent(agent)
    assert "reload refused" in log and f"interface {capture}x does not exist" in log
    assert "configuration reloaded" not in log
    assert set(range(46000, 46003)) <= udp_ports(consumer.records())


def test_an_optional_interface_is_waited_for_and_reported_missing_until_it_appears(
    tmp_path, mosquitto, wire
):
    namespace, capture, _ = wire
    late = f"usb{uuid.uuid4().hex[:6]}"
    sensor = make_sensor(
        tmp_path,
        mosquitto.url,
        interfaces=[capture, late],
        capture_toml=f'optional_interfaces = ["{late}"]',
        extra_toml=FAST_TOML,
    )
    consumer = Consumer(mosquitto.url, sensor.trust, idle_exit_s=10)
    notify = NotifySocket(tmp_path / "notify.sock")
    agent = start_agent(sensor.config, notify)
    time.sleep(7.5)  # one health interval (5 s) with the adapter missing, and a margin
    ip("link", "add", late, "type", "veth", "peer", "name", late + "p")
    try:
        ip("link", "set", late, "up")
        ip("link", "set", late + "p", "up")
        time.sleep(7.5)  # and one with it there
        send_udp(namespace, 47000, 2)
        time.sleep(1.0)
        log = stop_agent(agent)
    finally:
        subprocess.run(["ip", "link", "del", late], capture_output=True)
    assert f"interface {late} is missing" in log
    records = consumer.records()
    health = [r["figures"] for r in records if r["type"] == "health"]
    assert any(h.get("interfaces_missing") == late for h in health[:-1])
    assert "interfaces_missing" not in health[-1]
    statuses = [r for r in records if r["type"] == "status" and r["state"] == "online"]
    assert statuses[0]["missing_interfaces"] == [late]
    assert statuses[-1]["missing_interfaces"] == []
    assert set(range(47000, 47002)) <= udp_ports(records)  # the other port kept capturing


def test_run_names_the_first_of_several_config_problems_in_one_line(tmp_path, wire):
    _, capture, _ = wire
    sensor = make_sensor(tmp_path, "mqtt://127.0.0.1:1", interfaces=[capture + "x"])
    with open(sensor.config, "a") as handle:
        handle.write("\n[bogus_section]\nkey = 1\n")
    result = run_agent("run", "-c", str(sensor.config), timeout_s=30)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert "1 more: iomt-agent check-config -c" in lines[0], lines
