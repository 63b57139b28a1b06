"""The generated nftables ruleset, loaded into a router namespace the test makes, blocks
what the policy denies and passes what it allows: real TCP connections across veth.

    client ns (pumps 10.20.0.11, monitor 10.20.0.21)
        veth ── router ns (forwarding, the ruleset) ── veth
    server ns (HL7 engine 10.10.0.6, printer 10.40.0.9, an internet host 52.1.2.3)
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from central.policy.nftables import nftables_ruleset, zone_networks
from tests.central.containment_data import HOSTS, wing_policy

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root"),
    pytest.mark.skipif(shutil.which("nft") is None, reason="nft is not installed (build.sh)"),
]

LISTEN_PORTS = (2575, 443, 9100, 23)
SERVER = textwrap.dedent(
    """
    import selectors, socket, sys
    sel = selectors.DefaultSelector()
    for port in map(int, sys.argv[1:]):
        s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("0.0.0.0", port)); s.listen(16); sel.register(s, selectors.EVENT_READ)
    print("ready", flush=True)
    while True:
        for key, _ in sel.select():
            conn, _ = key.fileobj.accept(); conn.sendall(b"ok"); conn.close()
    """
)
CONNECT = textwrap.dedent(
    """
    import socket, sys
    s = socket.socket(); s.settimeout(1.5); s.bind((sys.argv[1], 0))
    try:
        s.connect((sys.argv[2], int(sys.argv[3]))); print(s.recv(2).decode() or "closed")
    except OSError as exc:
        print(type(exc).__name__)
    """
)


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, check=True, capture_output=True, text=True)


class Wing:
    def __init__(self) -> None:
        tag = uuid.uuid4().hex[:6]
        self.client, self.router, self.server = (f"hr-{tag}-{n}" for n in ("c", "r", "s"))
        self.server_process: subprocess.Popen[str] | None = None

    def build(self) -> None:
        c, r, s = self.client, self.router, self.server
        for ns in (c, r, s):
            run("ip", "netns", "add", ns)
            run("ip", "-n", ns, "link", "set", "lo", "up")
        run("ip", "link", "add", "hrc0", "netns", c, "type", "veth", "peer", "hrc1", "netns", r)
        run("ip", "link", "add", "hrs0", "netns", s, "type", "veth", "peer", "hrs1", "netns", r)
        for ns, dev, addrs in (
            (c, "hrc0", ("10.20.0.11/24", "10.20.0.21/24")),
            (r, "hrc1", ("10.20.0.1/24",)),
            (r, "hrs1", ("10.10.0.1/24",)),
            (s, "hrs0", ("10.10.0.6/24", "10.40.0.9/24", "52.1.2.3/32")),
        ):
            for addr in addrs:
                run("ip", "-n", ns, "addr", "add", addr, "dev", dev)
            run("ip", "-n", ns, "link", "set", dev, "up")
        run("ip", "-n", c, "route", "add", "default", "via", "10.20.0.1")
        run("ip", "-n", s, "route", "add", "default", "via", "10.10.0.1")
        run("ip", "-n", r, "route", "add", "10.40.0.0/24", "dev", "hrs1")
        run("ip", "-n", r, "route", "add", "52.1.2.3/32", "dev", "hrs1")
        run("ip", "netns", "exec", r, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        self.server_process = subprocess.Popen(
            ["ip", "netns", "exec", s, sys.executable, "-c", SERVER, *map(str, LISTEN_PORTS)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.server_process.stdout is not None
        assert self.server_process.stdout.readline().strip() == "ready"

    def connect(self, source: str, address: str, port: int) -> str:
        return run(
            "ip",
            "netns",
            "exec",
            self.client,
            sys.executable,
            "-c",
            CONNECT,
            source,
            address,
            str(port),
        ).stdout.strip()

    def load(self, ruleset: Path) -> None:
        run("ip", "netns", "exec", self.router, "nft", "-f", str(ruleset))

    def teardown(self) -> None:
        if self.server_process is not None:
            self.server_process.kill()
            self.server_process.wait()
        for ns in (self.client, self.router, self.server):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


@pytest.fixture
def wing() -> Iterator[Wing]:
    wing = Wing()
    try:
        wing.build()
        yield wing
    finally:
        wing.teardown()


@pytest.fixture
def ruleset(tmp_path: Path) -> Path:
    policy = wing_policy()
    path = tmp_path / "containment.nft"
    path.write_text(nftables_ruleset(policy, zone_networks(policy.zone_map, HOSTS)))
    return path


def test_generated_ruleset_passes_nft_check(ruleset: Path) -> None:
    result = subprocess.run(["nft", "-c", "-f", str(ruleset)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_ruleset_in_a_router_namespace_blocks_denied_flows_and_passes_allowed(
    wing: Wing, ruleset: Path
) -> None:
    # Before: everything passes the router.
    assert wing.connect("10.20.0.11", "52.1.2.3", 443) == "ok"
    assert wing.connect("10.20.0.21", "10.40.0.9", 9100) == "ok"
    wing.load(ruleset)
    # Allowed by rule "bedside to the HL7 engine" (hl7 enforced as tcp/2575).
    assert wing.connect("10.20.0.11", "10.10.0.6", 2575) == "ok"
    # A medical zone to the internet: dropped.
    assert wing.connect("10.20.0.11", "52.1.2.3", 443) == "TimeoutError"
    # The monitor printing labels across zones: default deny.
    assert wing.connect("10.20.0.21", "10.40.0.9", 9100) == "TimeoutError"
    # Telnet to the HL7 engine: no rule allows it.
    assert wing.connect("10.20.0.11", "10.10.0.6", 23) == "TimeoutError"
    # And the allowed flow still passes after the drops.
    assert wing.connect("10.20.0.21", "10.10.0.6", 2575) == "ok"
