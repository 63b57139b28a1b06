"""The sd_notify protocol against a real datagram socket standing in for systemd."""

from __future__ import annotations

import socket

from agent.sdnotify import SystemdNotifier


def test_notifier_sends_ready_watchdog_and_stopping(tmp_path):
    path = str(tmp_path / "notify.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(path)
    server.settimeout(2)
    notifier = SystemdNotifier(path)
    try:
        notifier.ready("capturing eth1")
        notifier.watchdog()
        notifier.stopping()
        received = [server.recv(4096).decode() for _ in range(3)]
    finally:
        notifier.close()
        server.close()
    assert received == ["READY=1\nSTATUS=capturing eth1", "WATCHDOG=1", "STOPPING=1"]


def test_notifier_without_systemd_does_nothing(monkeypatch):
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    notifier = SystemdNotifier()
    assert not notifier.enabled
    notifier.ready("x")  # must not raise


def test_watchdog_interval_is_half_of_watchdog_usec(monkeypatch):
    monkeypatch.setenv("WATCHDOG_USEC", "20000000")
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    assert SystemdNotifier("").watchdog_interval_s() == 10.0
    monkeypatch.setenv("WATCHDOG_PID", "1")  # meant for another process
    assert SystemdNotifier("").watchdog_interval_s() is None


def test_a_notify_socket_nobody_reads_never_blocks_the_agent(tmp_path):
    path = str(tmp_path / "notify.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(path)
    notifier = SystemdNotifier(path)
    try:
        for _ in range(1000):  # far more than the socket's queue holds
            notifier.watchdog()
        assert server.recv(64) == b"WATCHDOG=1"
    finally:
        notifier.close()
        server.close()
