"""systemd's notify protocol: READY, STOPPING, STATUS and watchdog pings.

The protocol is one datagram per message to the socket named by $NOTIFY_SOCKET, so no
library is needed. Outside systemd (no $NOTIFY_SOCKET) every call does nothing.
"""

from __future__ import annotations

import contextlib
import os
import socket


class SystemdNotifier:
    """Sends state lines to systemd. Thread-safe: each call is one sendto."""

    def __init__(self, socket_path: str | None = None) -> None:
        path = socket_path if socket_path is not None else os.environ.get("NOTIFY_SOCKET", "")
        # "@name" is an abstract socket: the leading NUL byte is the real address.
        self._address = "\0" + path[1:] if path.startswith("@") else path
        self._sock: socket.socket | None = None
        if self._address:
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            # Never block the capture loop on systemd: a full queue drops the message.
            self._sock.setblocking(False)

    @property
    def enabled(self) -> bool:
        return self._sock is not None

    def watchdog_interval_s(self) -> float | None:
        """Half of systemd's WatchdogSec (the recommended ping period), or None."""
        usec = os.environ.get("WATCHDOG_USEC", "")
        pid = os.environ.get("WATCHDOG_PID", "")
        if not usec.isdigit() or (pid and pid != str(os.getpid())):
            return None
        return int(usec) / 2e6

    def notify(self, *lines: str) -> None:
        """Send sd_notify lines ("READY=1", ...); nothing outside systemd, never raises."""
        if self._sock is None:
            return
        # systemd gone, busy or unreachable: the service keeps running.
        with contextlib.suppress(OSError):
            self._sock.sendto("\n".join(lines).encode(), self._address)

    def ready(self, status: str) -> None:
        self.notify("READY=1", f"STATUS={status}")

    def reloading(self) -> None:
        self.notify("RELOADING=1")

    def stopping(self) -> None:
        self.notify("STOPPING=1")

    def status(self, status: str) -> None:
        self.notify(f"STATUS={status}")

    def watchdog(self) -> None:
        self.notify("WATCHDOG=1")

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
