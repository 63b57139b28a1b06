"""Stable device ids: the same on every ingest instance, for ever.

A device is one MAC within a site, or one address for a host seen only behind a router
(its MAC is the router's). The id hashes (site, kind, identity), so two instances that
meet a new device at the same moment insert the same row, and the API's ids survive a
rebuild of the database from the same sensors.
"""

from __future__ import annotations

import hashlib
import ipaddress


def device_id(site: str, kind: str, identity: str) -> str:
    digest = hashlib.sha256(f"{site}\0{kind}\0{identity}".encode()).hexdigest()
    return f"d{digest[:15]}"


def mac_device_id(site: str, mac: str) -> str:
    return device_id(site, "mac", mac.lower())


def address_device_id(site: str, address: str) -> str:
    return device_id(site, "address", address)


_BROADCAST = ipaddress.IPv4Address("255.255.255.255")


def is_local_host_address(address: str) -> bool:
    """An address that names one host of the hospital: private, not multicast,
    broadcast, loopback, link-local or unspecified. Internet peers stay peers."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if ip.is_multicast or ip.is_loopback or ip.is_link_local or ip.is_unspecified:
        return False
    if ip == _BROADCAST or (ip.version == 4 and address.endswith(".255")):
        return False
    return ip.is_private
