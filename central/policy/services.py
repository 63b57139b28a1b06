"""Service specifications in policy rules: an application label or a protocol and ports.

    "hl7"             the flow's `service` label (what the sensor recognised by content)
    "tcp/2575"        a responder port
    "tcp/8000-8080"   a port range
    "icmp"            a whole protocol

nftables cannot see labels, so a label is enforced through the ports it usually runs on
(LABEL_PORTS); the generated ruleset says so in a comment at each such rule.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PROTOCOLS = {"tcp": 6, "udp": 17, "icmp": 1, "icmpv6": 58, "sctp": 132}

# The usual ports of the labels a policy may name (IANA assignments and vendor defaults).
LABEL_PORTS: dict[str, tuple[tuple[str, int], ...]] = {
    "hl7": (("tcp", 2575),),
    "dicom": (("tcp", 104), ("tcp", 11112)),
    "poct1": (("tcp", 5555),),
    "intellivue": (("udp", 24005), ("udp", 24105)),
    "dns": (("udp", 53), ("tcp", 53)),
    "dhcp": (("udp", 67), ("udp", 68)),
    "ntp": (("udp", 123),),
    "http": (("tcp", 80), ("tcp", 8080)),
    "ssl": (("tcp", 443),),
    "tls": (("tcp", 443),),
    "ssh": (("tcp", 22),),
    "telnet": (("tcp", 23),),
    "ftp": (("tcp", 21),),
    "snmp": (("udp", 161), ("udp", 162)),
    "smb": (("tcp", 445), ("tcp", 139)),
    "rdp": (("tcp", 3389),),
    "vnc": (("tcp", 5900),),
    "syslog": (("udp", 514),),
    "ldap": (("tcp", 389),),
    "sip": (("udp", 5060), ("tcp", 5060)),
    "rtsp": (("tcp", 554),),
    "mqtt": (("tcp", 1883), ("tcp", 8883)),
    "ipp": (("tcp", 631),),
    "jetdirect": (("tcp", 9100),),
    "mdns": (("udp", 5353),),
    "ssdp": (("udp", 1900),),
}

_SPEC_RE = re.compile(r"(?P<proto>[a-z0-9]+)(?:/(?P<low>\d{1,5})(?:-(?P<high>\d{1,5}))?)?")
_LABEL_RE = re.compile(r"[a-z][a-z0-9_.+-]{0,31}")


@dataclass(frozen=True)
class ServiceSpec:
    """A label, or a protocol with an optional inclusive port range."""

    text: str
    label: str | None = None
    proto: str | None = None
    low: int | None = None
    high: int | None = None

    def matches(self, proto: str, port: int, service: str | None) -> bool:
        if self.label is not None:
            return service == self.label
        if proto != self.proto:
            return False
        if self.low is None or self.high is None:
            return True
        return self.low <= port <= self.high

    def port_matches(self) -> list[tuple[str, int | None, int | None]]:
        """(proto, low, high) triples a packet filter can enforce; ports None = any."""
        if self.label is not None:
            return [(proto, port, port) for proto, port in LABEL_PORTS.get(self.label, ())]
        assert self.proto is not None
        return [(self.proto, self.low, self.high)]


def parse_service(text: str) -> ServiceSpec:
    """Parse one entry of a rule's `services`. Raises ValueError saying what is wrong."""
    if not isinstance(text, str) or not text:
        raise ValueError('a service must be a non-empty string such as "hl7" or "tcp/2575"')
    if "/" not in text:
        if text in PROTOCOLS:
            return ServiceSpec(text, proto=text)
        if _LABEL_RE.fullmatch(text):
            return ServiceSpec(text, label=text)
        raise ValueError(f'"{text}" is neither a service label (e.g. "hl7") nor "proto/port"')
    match = _SPEC_RE.fullmatch(text)
    if match is None or match["proto"] not in PROTOCOLS or match["low"] is None:
        raise ValueError(
            f'"{text}" is not "proto/port" or "proto/low-high" with proto one of '
            f'{", ".join(PROTOCOLS)} (e.g. "tcp/2575", "udp/1000-2000")'
        )
    low = int(match["low"])
    high = int(match["high"]) if match["high"] is not None else low
    if not (0 <= low <= high <= 65535):
        raise ValueError(f'"{text}": ports must be 0-65535 with low <= high')
    return ServiceSpec(text, proto=match["proto"], low=low, high=high)
