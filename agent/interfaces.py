"""Capture interfaces through pyroute2: existence, link state, promiscuous mode, changes.

The daemon sets IFF_PROMISC on its SPAN ports for the run and clears it afterwards (only
where it set it), and watches rtnetlink for link down/up and address changes so it can
log them, report them in health, and resume capture when a link returns.
"""

from __future__ import annotations

import contextlib
import select
from dataclasses import dataclass

from pyroute2 import IPRoute
from pyroute2.netlink.rtnl import RTMGRP_IPV4_IFADDR, RTMGRP_IPV6_IFADDR, RTMGRP_LINK

IFF_UP = 0x1
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


def _state_from_message(msg: dict) -> LinkState:  # type: ignore[type-arg]
    flags = msg["flags"]
    return LinkState(
        name=msg.get_attr("IFLA_IFNAME"),  # type: ignore[attr-defined]
        index=msg["index"],
        admin_up=bool(flags & IFF_UP),
        carrier=bool(flags & IFF_LOWER_UP),
        oper_state=msg.get_attr("IFLA_OPERSTATE") or "UNKNOWN",  # type: ignore[attr-defined]
        promiscuous=bool(flags & IFF_PROMISC),
    )


def link_state(name: str) -> LinkState | None:
    """The interface's state, or None when no interface has that name."""
    with IPRoute() as ipr:
        indexes = ipr.link_lookup(ifname=name)
        if not indexes:
            return None
        return _state_from_message(ipr.get_links(indexes[0])[0])


class PromiscuousMode:
    """Sets IFF_PROMISC on interfaces for the run; `restore()` undoes only what it did."""

    def __init__(self) -> None:
        self._set_by_us: list[int] = []

    def enable(self, names: list[str]) -> None:
        """Raises OSError (from netlink) when an interface is missing or not ours to change."""
        with IPRoute() as ipr:
            for name in names:
                indexes = ipr.link_lookup(ifname=name)
                if not indexes:
                    raise OSError(f"no interface named {name!r}")
                state = _state_from_message(ipr.get_links(indexes[0])[0])
                if not state.promiscuous:
                    ipr.link("set", index=state.index, flags=IFF_PROMISC, change=IFF_PROMISC)
                    self._set_by_us.append(state.index)

    def restore(self) -> None:
        with IPRoute() as ipr:
            for index in self._set_by_us:
                # The interface may be gone by now: then there is nothing to undo.
                with contextlib.suppress(Exception):
                    ipr.link("set", index=index, flags=0, change=IFF_PROMISC)
        self._set_by_us.clear()


class LinkMonitor:
    """Watches rtnetlink for link and address changes on the named interfaces."""

    def __init__(self, names: list[str]) -> None:
        self._names = set(names)
        self._last: dict[str, bool] = {}
        self._name_by_index: dict[int, str] = {}
        for name in names:
            state = link_state(name)
            self._last[name] = bool(state and state.admin_up and state.carrier)
            if state is not None:
                self._name_by_index[state.index] = name
        self._socket = IPRoute()
        self._socket.bind(groups=RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR)

    def is_up(self, name: str) -> bool:
        return self._last.get(name, False)

    def poll(self, timeout_s: float = 0.0) -> list[LinkEvent]:
        """Events since the last call; waits at most timeout_s for the first one."""
        events: list[LinkEvent] = []
        wait = timeout_s
        while select.select([self._socket], [], [], wait)[0]:
            wait = 0.0
            for msg in self._socket.get():
                event = self._event_from_message(msg)
                if event is not None:
                    events.append(event)
        return events

    def _event_from_message(self, msg: dict) -> LinkEvent | None:  # type: ignore[type-arg]
        kind = msg["event"]
        if kind in ("RTM_NEWLINK", "RTM_DELLINK"):
            name = msg.get_attr("IFLA_IFNAME")  # type: ignore[attr-defined]
            if name not in self._names:
                return None
            if kind == "RTM_DELLINK":
                self._last[name] = False
                return LinkEvent(name, "removed")
            state = _state_from_message(msg)
            self._name_by_index[state.index] = name
            up = state.admin_up and state.carrier
            if up == self._last.get(name):
                return None
            self._last[name] = up
            return LinkEvent(name, "up" if up else "down", state.summary)
        if kind in ("RTM_NEWADDR", "RTM_DELADDR"):
            # IPv6 addresses carry no label: the interface index names the link.
            address_name = self._name_by_index.get(msg["index"])
            if address_name is None:
                return None
            change = "added" if kind == "RTM_NEWADDR" else "removed"
            address = msg.get_attr("IFA_ADDRESS")  # type: ignore[attr-defined]
            return LinkEvent(address_name, "address", f"{address} {change}")
        return None

    def close(self) -> None:
        self._socket.close()
