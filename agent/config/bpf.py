"""Compile a BPF capture filter without capturing: libpcap's own compiler, through ctypes.

check-config must reject a filter the capture would reject, before the agent starts, and
without privileges or an interface; pcap_open_dead gives libpcap a handle for exactly that.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from functools import cache

DLT_EN10MB = 1
PCAP_NETMASK_UNKNOWN = 0xFFFFFFFF


class _BpfProgram(ctypes.Structure):
    _fields_ = (("bf_len", ctypes.c_uint), ("bf_insns", ctypes.c_void_p))


@cache
def _libpcap() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("pcap")
    if name is None:
        return None
    lib = ctypes.CDLL(name)
    lib.pcap_open_dead.restype = ctypes.c_void_p
    lib.pcap_open_dead.argtypes = (ctypes.c_int, ctypes.c_int)
    lib.pcap_compile.restype = ctypes.c_int
    lib.pcap_compile.argtypes = (
        ctypes.c_void_p,
        ctypes.POINTER(_BpfProgram),
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.c_uint32,
    )
    lib.pcap_geterr.restype = ctypes.c_char_p
    lib.pcap_geterr.argtypes = (ctypes.c_void_p,)
    lib.pcap_freecode.argtypes = (ctypes.POINTER(_BpfProgram),)
    lib.pcap_close.argtypes = (ctypes.c_void_p,)
    return lib


def filter_problem(expression: str, snaplen: int) -> str | None:
    """libpcap's complaint about `expression` (tcpdump syntax), or None when it compiles.

    Also None when libpcap cannot be found: the capture itself will then report it.
    """
    lib = _libpcap()
    if lib is None or not expression:
        return None
    handle = lib.pcap_open_dead(DLT_EN10MB, snaplen)
    if not handle:
        return None
    program = _BpfProgram()
    try:
        status = lib.pcap_compile(
            handle, ctypes.byref(program), expression.encode(), 1, PCAP_NETMASK_UNKNOWN
        )
        if status != 0:
            return (lib.pcap_geterr(handle) or b"rejected").decode(errors="replace")
        lib.pcap_freecode(ctypes.byref(program))
        return None
    finally:
        lib.pcap_close(handle)
