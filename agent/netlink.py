"""A small rtnetlink client: our own socket, pyroute2's message classes.

The agent needs four things from rtnetlink: list links, list a link's addresses, flip
IFF_PROMISC, and hear about changes. pyroute2's `IPRoute` does all of it, but importing
the pyroute2 package imports every netlink family it knows (conntrack, nftables,
wireguard, NDB with asyncio, ...): about 18 MB of a 64 MB budget, measured with VmHWM.
So the agent keeps pyroute2 for what it is good at, encoding and decoding rtnetlink
messages, and does the socket work itself, which is a send and a loop over replies.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import struct
import sys
from collections.abc import Iterator
from typing import Any


def _bare_pyroute2() -> None:
    """Register the pyroute2 package without running its `__init__`, so importing one of
    its submodules loads that submodule only. The first name asked of the package itself
    that is not a submodule (`from pyroute2 import NetNS`) runs the real `__init__` then,
    so any other user of pyroute2 in the process sees the whole package."""
    if "pyroute2" in sys.modules:
        return
    spec = importlib.util.find_spec("pyroute2")
    if spec is None or spec.loader is None:
        raise ImportError("pyroute2 is not installed")
    package = importlib.util.module_from_spec(spec)
    loaded = False

    def complete(name: str) -> Any:
        nonlocal loaded
        if importlib.util.find_spec(f"pyroute2.{name}") is not None:
            return importlib.import_module(f"pyroute2.{name}")  # `from pyroute2 import config`
        if loaded:
            raise AttributeError(f"module 'pyroute2' has no attribute {name!r}")
        loaded = True
        assert spec.loader is not None
        spec.loader.exec_module(package)
        return getattr(package, name)

    package.__getattr__ = complete  # type: ignore[method-assign]
    sys.modules["pyroute2"] = package


_bare_pyroute2()

from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg  # noqa: E402
from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg  # noqa: E402

# From linux/netlink.h and linux/rtnetlink.h (stable kernel ABI).
NLMSG_ERROR = 2
NLMSG_DONE = 3
NLM_F_REQUEST = 0x1
NLM_F_ACK = 0x4
NLM_F_DUMP = 0x300
RTM_NEWLINK = 16
RTM_GETLINK = 18
RTM_NEWADDR = 20
RTM_GETADDR = 22
RTMGRP_LINK = 0x1
RTMGRP_IPV4_IFADDR = 0x10
RTMGRP_IPV6_IFADDR = 0x100

_HEADER = struct.Struct("=IHHII")  # struct nlmsghdr: length, type, flags, seq, pid
_ERROR_CODE = struct.Struct("=i")  # struct nlmsgerr starts with a negative errno
_RECV_BYTES = 1 << 16
_DECODERS = {RTM_NEWLINK: ifinfmsg, RTM_NEWADDR: ifaddrmsg}


class RtNetlink:
    """One NETLINK_ROUTE socket. With `groups`, it also receives change notifications."""

    def __init__(self, groups: int = 0) -> None:
        self._socket = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
        self._socket.bind((0, groups))
        self._sequence = 0

    def fileno(self) -> int:
        return self._socket.fileno()

    def close(self) -> None:
        self._socket.close()

    def __enter__(self) -> RtNetlink:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def links(self) -> list[Any]:
        """Every link in this network namespace, as decoded ifinfmsg."""
        return self._request(ifinfmsg(), RTM_GETLINK, NLM_F_DUMP)

    def addresses(self, index: int) -> list[str]:
        """The addresses (IPv4 and IPv6) on the link with this index."""
        replies = self._request(ifaddrmsg(), RTM_GETADDR, NLM_F_DUMP)
        return [msg.get_attr("IFA_ADDRESS") for msg in replies if msg["index"] == index]

    def change_flags(self, index: int, flags: int, mask: int) -> None:
        """Set the link's flags under `mask` to `flags`; OSError when the kernel refuses."""
        request = ifinfmsg()
        request["index"] = index
        request["flags"] = flags
        request["change"] = mask
        self._request(request, RTM_NEWLINK, NLM_F_ACK)

    def drain(self) -> bool:
        """Read and discard every notification waiting; whether there was any."""
        seen = False
        while True:
            try:
                self._socket.recv(_RECV_BYTES, socket.MSG_DONTWAIT)
            except BlockingIOError:
                return seen
            seen = True

    def _request(self, msg: Any, msg_type: int, flags: int) -> list[Any]:
        self._sequence += 1
        msg["header"]["type"] = msg_type
        msg["header"]["flags"] = NLM_F_REQUEST | flags
        msg["header"]["sequence_number"] = self._sequence
        msg.encode()
        self._socket.send(msg.data)
        replies: list[Any] = []
        while True:
            data = self._socket.recv(_RECV_BYTES)
            for msg_type, sequence, body in _messages(data):
                if sequence != self._sequence:
                    continue  # a notification, or a late reply to an earlier request
                if msg_type == NLMSG_DONE:
                    return replies
                if msg_type == NLMSG_ERROR:
                    (error,) = _ERROR_CODE.unpack_from(body, _HEADER.size)
                    if error:
                        raise OSError(-error, os.strerror(-error))
                    return replies  # the acknowledgement of a change
                decoder = _DECODERS.get(msg_type)
                if decoder is not None:
                    reply = decoder(body)
                    reply.decode()
                    replies.append(reply)


def _messages(data: bytes) -> Iterator[tuple[int, int, bytes]]:
    """(type, sequence, whole message) of each netlink message in one datagram."""
    offset = 0
    while offset + _HEADER.size <= len(data):
        length, msg_type, _flags, sequence, _pid = _HEADER.unpack_from(data, offset)
        if length < _HEADER.size or offset + length > len(data):
            return  # the kernel does not send these; stop rather than misread
        yield msg_type, sequence, data[offset : offset + length]
        offset += (length + 3) & ~3
