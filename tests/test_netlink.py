"""The small rtnetlink client: real kernel replies, and pyroute2 loaded only in part."""

from __future__ import annotations

import errno
import subprocess
import sys

import pytest

from agent.netlink import RtNetlink


def run_python(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    return done.stdout.strip()


def test_links_include_loopback_with_its_addresses():
    with RtNetlink() as netlink:
        loopback = [msg for msg in netlink.links() if msg.get_attr("IFLA_IFNAME") == "lo"]
        assert len(loopback) == 1
        assert "127.0.0.1" in netlink.addresses(loopback[0]["index"])


def test_a_refused_change_raises_the_kernels_errno():
    unused_index = 2**31 - 1
    with RtNetlink() as netlink, pytest.raises(OSError) as refused:
        netlink.change_flags(unused_index, 0, 0x100)
    assert refused.value.errno == errno.ENODEV


def test_the_agent_loads_only_pyroute2s_message_classes():
    # The whole package (NDB, conntrack, asyncio ...) costs about 18 MB of resident memory.
    loaded = run_python(
        "import sys, agent.daemon, agent.interfaces\n"
        "print(sorted({m.split('.')[1] for m in sys.modules if m.startswith('pyroute2.')}))"
    )
    assert loaded == "['common', 'config', 'netlink']"  # not ndb, ipdb, iproute, conntrack


def test_pyroute2_stays_whole_for_any_other_user_in_the_process():
    names = run_python(
        "import agent.netlink\nfrom pyroute2 import IPRoute, NetNS\n"
        "print(IPRoute.__name__, NetNS.__name__)"
    )
    assert names == "IPRoute NetNS"
