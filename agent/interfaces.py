"""Capture interfaces through rtnetlink: existence, link state, promiscuous mode, changes.

The daemon sets IFF_PROMISC on its SPAN ports for the run and clears it afterwards (only
where it set it), and watches rtnetlink for link down/up and address changes so it can
log them, report them in health, and resume capture when a link returns.
"""

from __future__ import annotations

import contextlib
import ipaddress
import select
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.netlink import RTMGRP_IPV4_IFADDR, RTMGRP_IPV6_IFADDR, RTMGRP_LINK, RtNetlink

IFF_UP = 0x1
IFF_LOOPBACK = 0x8
IFF_PROMISC = 0x100
IFF_LOWER_UP = 0x10000


@dataclass(frozen=True, slots=True)
class LinkState:
    """What the kernel says about one interface right now."""

    name: str
    index: int
    admin_up: bool
    carrier: bool
    oper_state: str
    promiscuous: bool

    @property
    def summary(self) -> str:
        if not self.admin_up:
            return "down (administratively)"
        return "up" if self.carrier else f"no carrier ({self.oper_state.lower()})"


@dataclass(frozen=True, slots=True)
class LinkEvent:
    """A change on a watched interface: kind is `up`, `down`, `address` or `removed`."""

    name: str
    kind: str
    detail: str = ""


def _state_from_message(msg: Any) -> LinkState:
    flags = msg["flags"]
    return LinkState(
        name=msg.get_attr("IFLA_IFNAME"),
        index=msg["index"],
        admin_up=bool(flags & IFF_UP),
        carrier=bool(flags & IFF_LOWER_UP),
        oper_state=msg.get_attr("IFLA_OPERSTATE") or "UNKNOWN",
        promiscuous=bool(flags & IFF_PROMISC),
    )


def _find(netlink: RtNetlink, name: str) -> LinkState | None:
    for msg in netlink.links():
        if msg.get_attr("IFLA_IFNAME") == name:
            return _state_from_message(msg)
    return None


def link_state(name: str) -> LinkState | None:
    """The interface's state, or None when no interface has that name."""
    with RtNetlink() as netlink:
        return _find(netlink, name)


def present_interfaces() -> list[str]:
    """Names of the network interfaces in this process's network namespace."""
    # Netlink, not /sys: /sys/class/net shows the namespace sysfs was mounted in.
    with RtNetlink() as netlink:
        return sorted(msg.get_attr("IFLA_IFNAME") for msg in netlink.links())


def _default_route_interfaces(proc_net: Path = Path("/proc/net")) -> set[str]:
    """Interfaces that carry a default route (IPv4 or IPv6), from this process's network
    namespace's routing tables."""
    names: set[str] = set()
    with contextlib.suppress(OSError):
        for line in (proc_net / "route").read_text().splitlines()[1:]:
            fields = line.split()
            if len(fields) > 7 and fields[1] == "00000000" and fields[7] == "00000000":
                names.add(fields[0])
    with contextlib.suppress(OSError):
        for line in (proc_net / "ipv6_route").read_text().splitlines():
            fields = line.split()
            # ::/0 (the kernel's own unreachable default sits on lo: not a route out)
            if len(fields) == 10 and fields[:2] == ["0" * 32, "00"] and fields[9] != "lo":
                names.add(fields[9])
    return names


def management_interfaces() -> dict[str, str]:
    """Interfaces that are not a SPAN port, each with why: the loopback, any interface with
    an address (other than an IPv6 link-local one, which every link gets) and any that
    carries a default route. A SPAN port only listens: it has none of these."""
    reasons: dict[str, str] = {}
    default_route = _default_route_interfaces()
    with RtNetlink() as netlink:
        for msg in netlink.links():
            name = msg.get_attr("IFLA_IFNAME")
            if msg["flags"] & IFF_LOOPBACK:
                reasons[name] = "the loopback interface"
                continue
            routable = [
                address
                for address in netlink.addresses(msg["index"])
                if not ipaddress.ip_address(address).is_link_local
            ]
            if routable:
                reasons[name] = f"it has the address {routable[0]}"
            elif name in default_route:
                reasons[name] = "it carries the default route"
    return reasons


class PromiscuousMode:
    """Sets IFF_PROMISC on interfaces for the run; `restore()` undoes only what it did."""

    def __init__(self) -> None:
        self._set_by_us: list[int] = []

    def enable(self, names: list[str]) -> None:
        """Raises OSError (from netlink) when an interface is missing or not ours to change."""
        with RtNetlink() as netlink:
            for name in names:
                state = _find(netlink, name)
                if state is None:
                    raise OSError(f"no interface named {name!r}")
                if not state.promiscuous:
                    netlink.change_flags(state.index, IFF_PROMISC, IFF_PROMISC)
                    self._set_by_us.append(state.index)

    def restore(self) -> None:
        with RtNetlink() as netlink:
            for index in self._set_by_us:
                # The interface may be gone by now: then there is nothing to undo.
                with contextlib.suppress(OSError):
                    netlink.change_flags(index, 0, IFF_PROMISC)
        self._set_by_us.clear()


def _is_up(state: LinkState | None) -> bool:
    return state is not None and state.admin_up and state.carrier


class LinkMonitor:
    """Watches rtnetlink for link and address changes on the named interfaces.

    A netlink message only says that something changed; the monitor then asks the
    kernel for the current state of each watched interface and reports the
    differences, so a lost or coalesced message cannot leave it with a stale view.
    """

    def __init__(self, names: list[str]) -> None:
        self._names = list(names)
        self._socket = RtNetlink(groups=RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR)
        self._up: dict[str, bool] = {}
        self._addresses: dict[str, set[str]] = {}
        for name in self._names:
            state, self._addresses[name] = self._read(name)
            self._up[name] = _is_up(state)

    def is_up(self, name: str) -> bool:
        """Whether the interface was up when last read (at start or by `poll`); False for
        one it does not watch."""
        return self._up.get(name, False)

    def poll(self, timeout_s: float = 0.0) -> list[LinkEvent]:
        """Changes since the last call; waits at most timeout_s for the first one."""
        if not select.select([self._socket], [], [], timeout_s)[0]:
            return []
        self._socket.drain()  # the notifications only say "changed": read afresh below
        events: list[LinkEvent] = []
        for name in self._names:
            state, addresses = self._read(name)
            up = _is_up(state)
            if up != self._up[name]:
                detail = state.summary if state else "interface removed"
                events.append(LinkEvent(name, "up" if up else "down", detail))
            for address in sorted(addresses - self._addresses[name]):
                events.append(LinkEvent(name, "address", f"{address} added"))
            for address in sorted(self._addresses[name] - addresses):
                events.append(LinkEvent(name, "address", f"{address} removed"))
            self._up[name], self._addresses[name] = up, addresses
        return events

    @staticmethod
    def _read(name: str) -> tuple[LinkState | None, set[str]]:
        """The interface's state (None: it does not exist) and its addresses."""
        with RtNetlink() as netlink:
            state = _find(netlink, name)
            if state is None:
                return None, set()
            return state, set(netlink.addresses(state.index))

    def close(self) -> None:
        self._socket.close()
