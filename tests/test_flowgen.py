"""The flow-heavy capture generator (bench/flowgen.py) against the engine: the engine finds
exactly the flows and frames the generator says it wrote, and the same arguments give the
same bytes."""

from __future__ import annotations

import collections
import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from agent.engine import Engine, summarize_file
from bench import flowgen

REPO = Path(__file__).resolve().parent.parent
FLOWGEN = (sys.executable, "-m", "bench.flowgen")
WINGS = ("--wing", "10.41.1.0/24,10.41.2.0/24", "--live", "1", "--ports", "200")
SETTINGS = flowgen.Settings(sweep=3000, dns_pairs=1500, ntp_pairs=300, icmp_pairs=200, seed=3)


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, flowgen.Summary]:
    pcap = tmp_path_factory.mktemp("flowgen") / "flows.pcap"
    return pcap, flowgen.generate(pcap, SETTINGS)


def test_the_engine_finds_every_flow_the_generator_wrote(written):
    pcap, summary = written
    records = list(summarize_file(pcap))
    assert summary.flows == 5000
    assert len(records) == summary.flows
    # Each kind is what the engine makes of it (docs/flow-semantics.md).
    by_state = collections.Counter(
        (r.proto, r.conn_state, r.orig_pkts + r.resp_pkts) for r in records
    )
    kinds = summary.flows_by_kind
    assert by_state == {
        (6, "S0", 1): kinds["sweep-silent"],
        (6, "REJ", 2): kinds["sweep-rst"],
        (6, "RSTO", 3): kinds["sweep-synack"],
        (17, "SF", 2): kinds["dns"] + kinds["ntp"],
        (1, "OTH", 2): kinds["icmp"],
    }
    assert kinds["sweep-silent"] > kinds["sweep-rst"] > kinds["sweep-synack"] > 0
    # Off-wing ends (scanner, resolvers, monitors) carry the gateway's MAC, wing hosts their own.
    gateway = flowgen.GATEWAY_MAC
    assert all(r.orig_l2_addr == gateway for r in records if r.proto in (1, 6))
    assert all(r.resp_l2_addr == gateway for r in records if r.proto == 17)
    answered = {(r.resp_addr, r.resp_l2_addr) for r in records if r.proto == 6 and r.resp_pkts}
    assert len({mac for _, mac in answered}) == len({addr for addr, _ in answered}) == len(answered)
    assert gateway not in {mac for _, mac in answered}


def test_every_frame_is_counted_and_none_is_malformed(written):
    pcap, summary = written
    with Engine() as engine:
        engine.open_file(pcap)
        while not engine.exhausted:
            engine.poll()
        engine.flush()
        counters = engine.counters()
    assert counters.packets_seen == summary.packets
    assert counters.malformed == 0 and counters.truncated == 0 and counters.non_ip == 0


def test_same_arguments_same_bytes_and_another_seed_other_bytes(written, tmp_path):
    pcap, summary = written
    again = flowgen.generate(tmp_path / "again.pcap", SETTINGS)
    assert again == summary
    assert (tmp_path / "again.pcap").read_bytes() == pcap.read_bytes()
    flowgen.generate(tmp_path / "other.pcap", dataclasses.replace(SETTINGS, seed=4))
    assert (tmp_path / "other.pcap").read_bytes() != pcap.read_bytes()


def test_command_line_writes_the_capture_and_its_summary(tmp_path):
    pcap = tmp_path / "cli.pcap"
    result = subprocess.run(
        [*FLOWGEN, str(pcap), "--sweep", "400", "--dns-pairs", "100", "--seed", "9", *WINGS],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=True,
    )
    printed = json.loads(result.stdout)
    assert printed == flowgen.load_summary(pcap)
    assert printed["flows"] == 500 == sum(1 for _ in summarize_file(pcap))
    # Too many probes for the wing is refused, naming the way out.
    refused = subprocess.run(
        [*FLOWGEN, str(tmp_path / "x.pcap"), "--sweep", "100000", "--wing", "10.41.1.0/24"],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert refused.returncode == 2 and "widen --wing" in refused.stderr
