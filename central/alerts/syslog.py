"""Syslog delivery: RFC 5424 messages with a CEF payload, over UDP or TCP.

    <PRI>1 TIMESTAMP HOSTNAME iomt-central PROCID alert - CEF:0|iomt|iomt-central|...

PRI = facility local4 (20) x 8 + severity (critical 2, high 3, medium 4, low 5). Over
TCP each message is framed by octet counting (RFC 6587 3.4.1: "LEN SP MSG").
"""

from __future__ import annotations

import logging
import os
import socket
from datetime import UTC, datetime
from urllib.parse import urlsplit

from agent.errors import UsageError
from central.alerts.book import AlertEvent
from central.alerts.message import cef

log = logging.getLogger(__name__)
FACILITY_LOCAL4 = 20
SYSLOG_SEVERITY = {"critical": 2, "high": 3, "medium": 4, "low": 5}


def parse_syslog_url(url: str) -> tuple[str, str, int]:
    """("udp"|"tcp", host, port) from udp://host[:514] or tcp://host[:601]. UsageError else."""
    parts = urlsplit(url)
    if parts.scheme not in ("udp", "tcp") or not parts.hostname:
        raise UsageError(f"syslog target {url!r}: use udp://host[:port] or tcp://host[:port]")
    return parts.scheme, parts.hostname, parts.port or (514 if parts.scheme == "udp" else 601)


def rfc5424(event: AlertEvent, hostname: str, now: datetime | None = None) -> str:
    alert = event.alert
    pri = FACILITY_LOCAL4 * 8 + SYSLOG_SEVERITY.get(alert["severity"], 4)
    stamp = (now or datetime.now(UTC)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return (
        f"<{pri}>1 {stamp} {hostname} iomt-central {os.getpid()} alert - {cef(event.kind, alert)}"
    )


class SyslogChannel:
    def __init__(self, url: str, hostname: str | None = None, timeout_s: float = 5.0) -> None:
        self.transport, self.host, self.port = parse_syslog_url(url)
        self.hostname = hostname or socket.gethostname() or "-"
        self.timeout_s = timeout_s
        self.failures = 0
        self._tcp: socket.socket | None = None

    def deliver(self, event: AlertEvent) -> bool:
        data = rfc5424(event, self.hostname).encode("utf-8")
        try:
            if self.transport == "udp":
                with socket.socket(_family(self.host), socket.SOCK_DGRAM) as sock:
                    sock.sendto(data, (self.host, self.port))
                return True
            self._send_tcp(b"%d " % len(data) + data)
            return True
        except OSError as exc:
            self.failures += 1
            self.close()
            log.warning(
                "syslog %s:%s: alert %s not delivered: %s",
                self.host,
                self.port,
                event.alert["id"],
                exc,
            )
            return False

    def _send_tcp(self, frame: bytes) -> None:
        if self._tcp is None:
            self._tcp = socket.create_connection((self.host, self.port), timeout=self.timeout_s)
        try:
            self._tcp.sendall(frame)
        except OSError:
            # One reconnect: the receiver may have restarted since the last alert.
            self.close()
            self._tcp = socket.create_connection((self.host, self.port), timeout=self.timeout_s)
            self._tcp.sendall(frame)

    def close(self) -> None:
        if self._tcp is not None:
            self._tcp.close()
            self._tcp = None


def _family(host: str) -> int:
    return socket.AF_INET6 if ":" in host else socket.AF_INET
