"""Interfaces through pyroute2, on a real veth pair made by the test."""

from __future__ import annotations

import os
import subprocess
import time
import uuid

import pytest

from agent.interfaces import LinkMonitor, PromiscuousMode, link_state

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="creating a veth pair needs root")


@pytest.fixture
def veth():
    """A veth pair in this namespace, named uniquely, removed afterwards."""
    name = "it" + uuid.uuid4().hex[:8]
    peer = name + "p"
    subprocess.run(["ip", "link", "add", name, "type", "veth", "peer", "name", peer], check=True)
    try:
        yield name, peer
    finally:
        subprocess.run(["ip", "link", "del", name], check=False)


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True)


def events_until(monitor, done, timeout_s=3.0):
    """Poll the monitor until done(events) holds or the time runs out; returns the events."""
    deadline = time.monotonic() + timeout_s
    events = []
    while not done(events) and time.monotonic() < deadline:
        events += monitor.poll(0.2)
    return events


def test_link_state_of_a_missing_interface_is_none():
    assert link_state("nosuch" + uuid.uuid4().hex[:6]) is None


def test_link_state_follows_admin_and_carrier(veth):
    name, peer = veth
    assert link_state(name).admin_up is False
    ip("link", "set", name, "up")
    state = link_state(name)
    assert state.admin_up and not state.carrier  # the peer is still down
    ip("link", "set", peer, "up")
    assert link_state(name).carrier


def test_promiscuous_mode_is_restored_only_where_we_set_it(veth):
    name, peer = veth
    ip("link", "set", peer, "promisc", "on")
    mode = PromiscuousMode()
    mode.enable([name, peer])
    assert link_state(name).promiscuous and link_state(peer).promiscuous
    mode.restore()
    assert not link_state(name).promiscuous
    assert link_state(peer).promiscuous  # it was on before us: left as found


def test_promiscuous_mode_on_a_missing_interface_raises():
    with pytest.raises(OSError, match="no interface named"):
        PromiscuousMode().enable(["nosuch" + uuid.uuid4().hex[:6]])


def test_link_monitor_reports_down_up_and_addresses(veth):
    name, peer = veth
    ip("link", "set", name, "up")
    ip("link", "set", peer, "up")
    monitor = LinkMonitor([name])
    try:
        assert monitor.is_up(name)
        ip("link", "set", peer, "down")
        events = events_until(monitor, lambda evs: any(e.kind == "down" for e in evs))
        assert [(e.name, e.kind) for e in events if e.kind != "address"] == [(name, "down")]
        assert not monitor.is_up(name)
        ip("link", "set", peer, "up")
        ip("addr", "add", "192.0.2.77/32", "dev", name)
        events = events_until(monitor, lambda evs: {"up", "address"} <= {e.kind for e in evs})
        kinds = [(e.name, e.kind) for e in events]
        assert (name, "up") in kinds
        assert any(e.kind == "address" and "192.0.2.77" in e.detail for e in events)
    finally:
        monitor.close()
