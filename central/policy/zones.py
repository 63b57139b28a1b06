"""Zones: named groups of devices and addresses, and which zone an endpoint belongs to.

A zone selects by site, wing, VLAN, CIDR and category. Within one selector the listed
values are alternatives; across selectors all must hold ("wing 4b AND category
infusion_pump"). An endpoint belongs to the first zone in file order that selects it;
zones whose CIDRs overlap are refused by the configuration check, so file order only
decides between a CIDR zone and a zone of other selectors. Two zones are implicit:
`internet` (a global address no zone selects) and `unzoned` (any other address).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

INTERNET = "internet"
UNZONED = "unzoned"
ANY = "any"
RESERVED_ZONE_NAMES = (INTERNET, UNZONED, ANY)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Endpoint:
    """One side of a flow as zoning sees it; device fields are None for unknown hosts."""

    address: str
    site: str | None = None
    wings: tuple[str, ...] = ()
    vlans: tuple[int, ...] = ()
    category: str | None = None


@dataclass(frozen=True)
class Zone:
    name: str
    medical: bool = False
    sites: tuple[str, ...] = ()
    wings: tuple[str, ...] = ()
    vlans: tuple[int, ...] = ()
    cidrs: tuple[Network, ...] = ()
    categories: tuple[str, ...] = ()
    description: str = ""

    @property
    def address_only(self) -> bool:
        """True when CIDRs alone decide membership (hosts without a device can match)."""
        return bool(self.cidrs) and not (self.wings or self.vlans or self.categories)

    def selects(self, endpoint: Endpoint, address: Any) -> bool:
        if self.sites and endpoint.site is not None and endpoint.site not in self.sites:
            return False
        if self.cidrs and (address is None or not any(address in net for net in self.cidrs)):
            return False
        if self.wings and not set(self.wings) & set(endpoint.wings):
            return False
        if self.vlans and not set(self.vlans) & set(endpoint.vlans):
            return False
        return not (self.categories and endpoint.category not in self.categories)


def parse_address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def is_internet(text: str) -> bool:
    """A global unicast address (not private, loopback, link-local, multicast, reserved)."""
    address = parse_address(text)
    return address is not None and address.is_global and not address.is_multicast


@dataclass
class ZoneMap:
    """Resolves endpoints to zone names; results are cached per endpoint."""

    zones: Sequence[Zone] = ()
    _cache: dict[Endpoint, str] = field(default_factory=dict, repr=False)

    def by_name(self, name: str) -> Zone | None:
        for zone in self.zones:
            if zone.name == name:
                return zone
        return None

    def names(self) -> list[str]:
        return [zone.name for zone in self.zones]

    def zone_of(self, endpoint: Endpoint) -> str:
        cached = self._cache.get(endpoint)
        if cached is not None:
            return cached
        address = parse_address(endpoint.address)
        name = next((z.name for z in self.zones if z.selects(endpoint, address)), None)
        if name is None:
            name = INTERNET if is_internet(endpoint.address) else UNZONED
        self._cache[endpoint] = name
        return name

    def is_medical(self, zone_name: str) -> bool:
        zone = self.by_name(zone_name)
        return zone is not None and zone.medical


def overlapping(zones: Iterable[Zone]) -> list[tuple[Zone, Network, Zone, Network]]:
    """Every pair of CIDRs of two different zones that share an address."""
    found = []
    listed = [(zone, net) for zone in zones for net in zone.cidrs]
    for i, (zone_a, net_a) in enumerate(listed):
        for zone_b, net_b in listed[i + 1 :]:
            same_family = net_a.version == net_b.version
            if zone_a.name != zone_b.name and same_family and net_a.overlaps(net_b):
                found.append((zone_a, net_a, zone_b, net_b))
    return found
