"""A real mosquitto for tests, on a free port, plus tools to break the link to it.

Never touches the system broker on 1883: every broker here gets its own port and a
generated config under the test's tmp directory.

    broker = MosquittoBroker(tmp_path)                     # plain listener
    broker.start(); broker.url        # "mqtt://127.0.0.1:PORT"
    broker.kill(); broker.start()     # SIGKILL, then up again on the same port
    broker.stop()                     # SIGTERM (saves persistence if enabled)

    tls = MosquittoBroker(tmp_path, tls=True)              # + TLS listener (mutual TLS)
    tls.start(); tls.tls_url          # "mqtts://localhost:PORT"; tls.pki.ca_cert, tls.pki.client()

    MosquittoBroker(tmp_path, users={"alice": "s3cret"}, acl="user alice\\ntopic write iomt/#\\n")

    proxy = UplinkProxy(broker.port); proxy.start(); proxy.url
    proxy.block(); proxy.unblock()    # a silent uplink cut: bytes stop, sockets stay open

    ns = NetnsUplink(); ns.create()                        # root only: a real namespace
    MosquittoBroker(tmp_path, netns=ns).url                # via the uplink veth; ns.cut()
    Subscriber(f"mqtt://{ns.central_ip}:{port}", ...)      # consumers use the other veth

    sub = Subscriber(broker.url, "iomt/#"); sub.start(); sub.wait_for(lambda msgs: ..., 10)
    seq_payload("bootA", 7) / seqs_received(sub.snapshot(), "bootA")   # opaque test payloads

Fixtures (import them into a test module: `from tests.support.broker import mosquitto`):
`mosquitto` yields a started plain broker, `mosquitto_tls` a started TLS broker.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.certs import Pki, make_pki

MOSQUITTO = "/usr/sbin/mosquitto"
MOSQUITTO_PASSWD = "/usr/bin/mosquitto_passwd"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def wait_until(condition: Callable[[], bool], timeout_s: float, interval_s: float = 0.02) -> bool:
    """Poll `condition` until it is true or `timeout_s` passes; return its last value."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval_s)
    return bool(condition())


class MosquittoBroker:
    """One mosquitto process with a generated config in `workdir`.

    tls: also open a TLS listener (CA + server cert for localhost/127.0.0.1, client
      certificate required) on `tls_port`; `pki` holds the paths.
    users: name -> password; when given, anonymous access is refused on every listener.
    acl: the text of a mosquitto ACL file (see mosquitto.conf(5)), or None for no ACL;
      rewrite `acl_path` and call `reload()` to change it while running.
    persistence: keep sessions and queued messages in workdir across stop/start.
    tls_server_names: the names in the server certificate (hostname-check tests).
    """

    def __init__(
        self,
        workdir: Path,
        *,
        tls: bool = False,
        users: dict[str, str] | None = None,
        acl: str | None = None,
        persistence: bool = False,
        extra_config: str = "",
        tls_server_names: tuple[str, ...] = ("localhost", "127.0.0.1"),
        netns: NetnsUplink | None = None,
    ) -> None:
        self.workdir = Path(workdir) / f"mosquitto-{uuid.uuid4().hex[:8]}"
        self.workdir.mkdir(parents=True)
        self.netns = netns
        # In a namespace the broker listens on every address there, reached over veths.
        self.host = netns.uplink_ip if netns else "127.0.0.1"
        self.port = free_port()
        self.tls_port = free_port() if tls else None
        self.pki: Pki | None = None
        if tls:
            self.pki = make_pki(self.workdir / "pki", server_names=tls_server_names)
        self.log_path = self.workdir / "mosquitto.log"
        self.config_path = self.workdir / "mosquitto.conf"
        self.acl_path = self.workdir / "acl"
        self._process: subprocess.Popen[bytes] | None = None
        self._write_config(users, acl, persistence, extra_config)

    @property
    def url(self) -> str:
        """The plain listener, e.g. mqtt://127.0.0.1:41234 (the uplink address in a netns)."""
        return f"mqtt://{self.host}:{self.port}"

    @property
    def tls_url(self) -> str:
        """The TLS listener by host name (the server certificate names localhost)."""
        if self.tls_port is None:
            raise RuntimeError("broker was created without tls=True")
        return f"mqtts://localhost:{self.tls_port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def _write_config(
        self, users: dict[str, str] | None, acl: str | None, persistence: bool, extra: str
    ) -> None:
        lines = ["per_listener_settings false", f"log_dest file {self.log_path}"]
        lines += ["log_type error", "log_type warning", "log_type notice", "log_type information"]
        if os.geteuid() == 0:
            # Root mosquitto drops to user "mosquitto", who cannot read pytest's tmp dirs.
            lines.append("user root")
        # mosquitto drops QoS 1 messages beyond 1000 queued per slow or offline subscriber;
        # a test consumer must see everything the publisher had acknowledged.
        lines.append("max_queued_messages 1000000")
        lines.append(f"allow_anonymous {'false' if users else 'true'}")
        if users:
            password_file = self.workdir / "passwords"
            password_file.touch(mode=0o600)
            for name, password in users.items():
                subprocess.run(
                    [MOSQUITTO_PASSWD, "-b", str(password_file), name, password],
                    check=True,
                    capture_output=True,
                )
            lines.append(f"password_file {password_file}")
        if acl is not None:
            self.acl_path.write_text(acl)
            lines.append(f"acl_file {self.acl_path}")
        if persistence:
            lines += [
                "persistence true",
                f"persistence_location {self.workdir}/",
                # Save after every change, not once a second: a SIGKILLed broker then
                # loses (almost) nothing it had acknowledged, so the outage tests measure
                # the agent's delivery, not mosquitto's autosave timer.
                "autosave_on_changes true",
                "autosave_interval 1",
            ]
        lines.append(f"listener {self.port} {'0.0.0.0' if self.netns else '127.0.0.1'}")
        if self.pki is not None:
            lines += [
                f"listener {self.tls_port} 127.0.0.1",
                f"cafile {self.pki.ca_cert}",
                f"certfile {self.pki.server_cert}",
                f"keyfile {self.pki.server_key}",
                "require_certificate true",
            ]
        self.config_path.write_text("\n".join(lines) + "\n" + extra + "\n")

    def start(self, timeout_s: float = 5.0) -> None:
        """Start mosquitto and wait until its listeners accept connections."""
        if self.running:
            return
        command = [MOSQUITTO, "-c", str(self.config_path)]
        if self.netns is not None:  # `ip netns exec` execs mosquitto: same pid
            command = ["ip", "netns", "exec", self.netns.name, *command]
        self._process = subprocess.Popen(
            command,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        ports = [p for p in (self.port, self.tls_port) if p is not None]
        ok = wait_until(
            lambda: not self.running or all(_port_open(p, self.host) for p in ports), timeout_s
        )
        if not ok or not self.running:
            log_tail = self.log_path.read_text()[-2000:] if self.log_path.exists() else ""
            self.kill()
            raise RuntimeError(f"mosquitto did not start on port {self.port}:\n{log_tail}")

    def _signal_and_wait(self, signum: int) -> None:
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.send_signal(signum)
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None

    def stop(self) -> None:
        """Graceful stop (SIGTERM): mosquitto closes connections and saves persistence."""
        self._signal_and_wait(signal.SIGTERM)

    def kill(self) -> None:
        """Hard stop (SIGKILL): whatever the broker held in memory is gone."""
        self._signal_and_wait(signal.SIGKILL)

    def restart(self) -> None:
        """Stop (SIGTERM) and start again on the same ports."""
        self.stop()
        self.start()

    def reload(self) -> None:
        """SIGHUP: mosquitto re-reads its password and ACL files (rewrite them first)."""
        if self._process is not None:
            self._process.send_signal(signal.SIGHUP)

    def log(self) -> str:
        """The broker's log so far (for assertions on refusals, and for debugging)."""
        return self.log_path.read_text() if self.log_path.exists() else ""


class NetnsUplink:
    """A network namespace for a broker, reached from here over two veth links.

    The uplink (the sensor's path, `uplink_ip`) and the central link (the consumer's
    path, `central_ip`) are separate, so `cut()` silences only the sensor's path: the
    namespace end of its veth goes down, packets vanish without RST or ICMP, exactly as
    when a wing's uplink fails. `restore()` brings it back. Needs root (CAP_NET_ADMIN);
    `available()` says whether this machine allows it.
    """

    def __init__(self) -> None:
        tag = f"{os.getpid() % 10000:04d}{uuid.uuid4().hex[:4]}"
        self.name = f"mqtt-{tag}"
        octet = 16 + int(uuid.uuid4().hex[:2], 16) % 200
        self.uplink_ip, self._uplink_host_ip = f"10.{octet}.1.2", f"10.{octet}.1.1"
        self.central_ip, self._central_host_ip = f"10.{octet}.2.2", f"10.{octet}.2.1"
        self._links = [(f"mu{tag}", f"mun{tag}"), (f"mc{tag}", f"mcn{tag}")]

    @staticmethod
    def available() -> bool:
        probe = f"mqtt-probe-{os.getpid()}"
        made = subprocess.run(["ip", "netns", "add", probe], capture_output=True).returncode == 0
        if made:
            subprocess.run(["ip", "netns", "del", probe], capture_output=True)
        return made

    def _ip(self, *args: str, netns: bool = False) -> None:
        prefix = ["ip", "netns", "exec", self.name, "ip"] if netns else ["ip"]
        subprocess.run([*prefix, *args], check=True, capture_output=True)

    def create(self) -> None:
        self._ip("netns", "add", self.name)
        self._ip("link", "set", "lo", "up", netns=True)
        addresses = [
            (self._uplink_host_ip, self.uplink_ip),
            (self._central_host_ip, self.central_ip),
        ]
        for (host_end, ns_end), (host_ip, ns_ip) in zip(self._links, addresses, strict=True):
            self._ip("link", "add", host_end, "type", "veth", "peer", "name", ns_end)
            self._ip("link", "set", ns_end, "netns", self.name)
            self._ip("addr", "add", f"{host_ip}/24", "dev", host_end)
            self._ip("link", "set", host_end, "up")
            self._ip("addr", "add", f"{ns_ip}/24", "dev", ns_end, netns=True)
            self._ip("link", "set", ns_end, "up", netns=True)

    def cut(self) -> None:
        """The uplink goes silent (its namespace end down: no carrier, no RST, no ICMP)."""
        self._ip("link", "set", self._links[0][1], "down", netns=True)

    def restore(self) -> None:
        self._ip("link", "set", self._links[0][1], "up", netns=True)

    def delete(self) -> None:
        """Remove the namespace (its veth pairs go with it)."""
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True)
        for host_end, _ in self._links:
            subprocess.run(["ip", "link", "del", host_end], capture_output=True)


class UplinkProxy:
    """A TCP relay in front of a broker port whose link can be cut silently.

    `block()` stops moving bytes in both directions and holds new connections without
    forwarding them, as a dead uplink does: no RST, no FIN, the client only notices by
    its own keepalive. `unblock()` lets bytes flow again. `reset()` closes every relayed
    connection at once (a NAT or firewall forgetting its state).
    """

    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self._blocked = threading.Event()
        self._stopping = threading.Event()
        self._listener: socket.socket | None = None
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(16)
        listener.settimeout(0.1)
        self._listener = listener
        threading.Thread(target=self._accept_loop, daemon=True, name="uplink-accept").start()

    def block(self) -> None:
        self._blocked.set()

    def unblock(self) -> None:
        self._blocked.clear()

    def reset(self) -> None:
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for client, upstream in pairs:
            for sock in (client, upstream):
                with contextlib.suppress(OSError):
                    sock.close()

    def stop(self) -> None:
        self._stopping.set()
        self.reset()
        if self._listener is not None:
            self._listener.close()

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._relay, args=(client,), daemon=True).start()

    def _relay(self, client: socket.socket) -> None:
        # A connection made while blocked waits here, like a SYN into a dead link.
        while self._blocked.is_set() and not self._stopping.is_set():
            time.sleep(0.05)
        try:
            upstream = socket.create_connection(self.target, timeout=2)
        except OSError:
            client.close()
            return
        with self._lock:
            self._pairs.append((client, upstream))
        peers = {client: upstream, upstream: client}
        try:
            while not self._stopping.is_set():
                if self._blocked.is_set():
                    time.sleep(0.05)
                    continue
                readable, _, _ = select.select(list(peers), [], [], 0.05)
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        return
                    peers[sock].sendall(data)
        except (OSError, ValueError):  # ValueError: reset() closed a socket under select()
            return
        finally:
            for sock in (client, upstream):
                with contextlib.suppress(OSError):
                    sock.close()


@dataclass
class Received:
    topic: str
    payload: bytes
    retain: bool
    expiry_s: int | None  # MQTT 5 Message Expiry Interval as forwarded by the broker
    arrived_at: float  # epoch seconds when this subscriber got it


class Subscriber:
    """A QoS 1 MQTT 5 subscriber that records everything it receives.

    It keeps a persistent session (clean_start False) and reconnects by itself, so with a
    broker started with persistence=True it sees what was published while it was away.
    """

    def __init__(self, url: str, topic_filter: str, *, tls_ca: Path | None = None) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        scheme, _, rest = url.partition("://")
        host, _, port = rest.rpartition(":")
        self._host, self._port = host, int(port)
        self.topic_filter = topic_filter
        self.messages: list[Received] = []
        self._lock = threading.Lock()
        self.subscribed = threading.Event()
        self._client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=f"test-sub-{uuid.uuid4().hex[:8]}",
            protocol=mqtt.MQTTv5,
        )
        if scheme == "mqtts":
            self._client.tls_set(ca_certs=str(tls_ca) if tls_ca else None)
        self._client.reconnect_delay_set(min_delay=0.05, max_delay=0.3)
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = lambda *args: self.subscribed.set()
        self._client.on_message = self._on_message
        self._connect_properties = Properties(PacketTypes.CONNECT)
        self._connect_properties.SessionExpiryInterval = 600

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:  # type: ignore[no-untyped-def]
        if not reason_code.is_failure:
            client.subscribe(self.topic_filter, qos=1)

    def _on_message(self, client, userdata, message) -> None:  # type: ignore[no-untyped-def]
        with self._lock:
            expiry = getattr(message.properties, "MessageExpiryInterval", None)
            received = Received(
                message.topic, bytes(message.payload), message.retain, expiry, time.time()
            )
            self.messages.append(received)

    def start(self, timeout_s: float = 5.0) -> None:
        """Connect, subscribe, and return once the subscription is acknowledged."""
        self._client.connect(
            self._host, self._port, clean_start=False, properties=self._connect_properties
        )
        self._client.loop_start()
        if not self.subscribed.wait(timeout_s):
            raise RuntimeError(f"subscriber could not subscribe to {self._host}:{self._port}")

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def snapshot(self) -> list[Received]:
        with self._lock:
            return list(self.messages)

    def wait_for(self, condition: Callable[[list[Received]], bool], timeout_s: float) -> bool:
        """Wait until `condition(messages so far)` holds; return whether it did."""
        return wait_until(lambda: condition(self.snapshot()), timeout_s, interval_s=0.05)


def seq_payload(boot: str, seq: int, size_bytes: int = 200) -> bytes:
    """An opaque test payload that names its boot and sequence number ("boot:seq:" + fill)."""
    head = f"{boot}:{seq}:".encode()
    return head + b"." * max(0, size_bytes - len(head))


def seqs_received(messages: list[Received], boot: str, topic_suffix: str = "") -> list[int]:
    """Sequence numbers of `boot` among received seq_payload messages, in arrival order."""
    found = []
    prefix = f"{boot}:".encode()
    for message in messages:
        if message.payload.startswith(prefix) and message.topic.endswith(topic_suffix):
            found.append(int(message.payload.split(b":", 2)[1]))
    return found


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[MosquittoBroker]:
    """A started mosquitto with one plain listener on a free port."""
    broker = MosquittoBroker(tmp_path)
    broker.start()
    yield broker
    broker.kill()


@pytest.fixture
def mosquitto_tls(tmp_path: Path) -> Iterator[MosquittoBroker]:
    """A started mosquitto with a plain and a mutual-TLS listener (see `broker.pki`)."""
    broker = MosquittoBroker(tmp_path, tls=True)
    broker.start()
    yield broker
    broker.kill()
