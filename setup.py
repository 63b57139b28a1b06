"""Builds the C flow engine (agent._engine) from native/ against libpcap.

A failed compile fails the install: production never falls back to Python.
"""

import glob
import shlex
import subprocess

from setuptools import Extension, setup


def pcap_flags() -> tuple[list[str], list[str]]:
    """Compiler and linker flags for libpcap, from pkg-config when it knows libpcap."""
    try:
        cflags = subprocess.run(
            ["pkg-config", "--cflags", "libpcap"], check=True, capture_output=True, text=True
        ).stdout
        libs = subprocess.run(
            ["pkg-config", "--libs", "libpcap"], check=True, capture_output=True, text=True
        ).stdout
        return shlex.split(cflags), shlex.split(libs)
    except (OSError, subprocess.CalledProcessError):
        return [], ["-lpcap"]


pcap_cflags, pcap_libs = pcap_flags()

engine = Extension(
    "agent._engine",
    sources=sorted(glob.glob("native/*.c")),
    depends=sorted(glob.glob("native/*.h")),
    extra_compile_args=[
        "-std=c11",
        "-O3",  # with LTO: parse, flow table, devices and capture inline into one loop
        "-flto",
        "-fvisibility=hidden",  # only PyInit__engine is exported: no PLT calls inside
        "-Wall",
        "-Wextra",
        "-Werror",
        "-Wno-missing-field-initializers",
        "-D_GNU_SOURCE",
        *pcap_cflags,
    ],
    extra_link_args=["-O3", "-flto", *pcap_libs],
)

setup(ext_modules=[engine])
