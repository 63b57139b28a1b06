"""Figures about the box and the agent process for the periodic `health` message.

The pipeline adds the capture, flow-table, spool and broker figures it owns; this module
only reads the system: CPU, memory, temperature, disk, and whether the clock can be
trusted (a Raspberry Pi has no real-time clock: until NTP syncs, timestamps are wrong).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import shutil
import time
from dataclasses import dataclass

import psutil

# adjtimex(2) returns TIME_ERROR (5) while the kernel considers the clock unsynchronized.
_TIME_ERROR = 5


class _Timex(ctypes.Structure):
    # struct timex from <sys/timex.h>: we only read the return value, but the kernel
    # writes the whole struct, so it must be its full size (glibc pads to 208 bytes).
    _fields_ = [("modes", ctypes.c_uint), ("_rest", ctypes.c_byte * 204)]


@dataclass(frozen=True, slots=True)
class SystemFigures:
    """One sample; percentages are of one core (process) or of the whole box."""

    agent_cpu_percent: float
    agent_rss_bytes: int
    box_cpu_percent: float
    box_memory_percent: float
    box_load_1m: float
    temperature_c: float | None
    spool_disk_free_bytes: int | None
    clock_synchronized: bool | None
    agent_uptime_s: float  # since this agent process started
    box_uptime_s: float  # since the machine booted


class SystemSampler:
    """Samples system figures; CPU percentages cover the time since the previous sample."""

    def __init__(self, spool_dir: str | None = None) -> None:
        self._process = psutil.Process(os.getpid())
        self._process.cpu_percent(None)  # prime: the first reading is always 0
        self._started_at = self._process.create_time()
        psutil.cpu_percent(None)
        self._spool_dir = spool_dir
        libc_name = ctypes.util.find_library("c")
        self._libc = ctypes.CDLL(libc_name, use_errno=True) if libc_name else None

    def sample(self) -> SystemFigures:
        """The figures now (CPU since the previous call); a figure the box lacks is None."""
        return SystemFigures(
            agent_cpu_percent=self._process.cpu_percent(None),
            agent_rss_bytes=self._process.memory_info().rss,
            box_cpu_percent=psutil.cpu_percent(None),
            box_memory_percent=psutil.virtual_memory().percent,
            box_load_1m=os.getloadavg()[0],
            temperature_c=_board_temperature_c(),
            spool_disk_free_bytes=self._disk_free(),
            clock_synchronized=self._clock_synchronized(),
            agent_uptime_s=max(0.0, time.time() - self._started_at),
            box_uptime_s=max(0.0, time.time() - psutil.boot_time()),
        )

    def _disk_free(self) -> int | None:
        if not self._spool_dir:
            return None
        try:
            return shutil.disk_usage(self._spool_dir).free
        except OSError:
            return None

    def _clock_synchronized(self) -> bool | None:
        if self._libc is None:
            return None
        timex = _Timex()
        state = self._libc.adjtimex(ctypes.byref(timex))
        if state < 0:
            return None
        return state != _TIME_ERROR


def _board_temperature_c() -> float | None:
    """The hottest sensor psutil knows (a Pi's SoC is `cpu_thermal`); None without any."""
    try:
        sensors = psutil.sensors_temperatures()
    except (AttributeError, OSError):
        return None
    readings = [entry.current for entries in sensors.values() for entry in entries]
    return max(readings) if readings else None
