"""The generated hospital-wing capture against the engine: flows and counters exactly as
the generator's own bookkeeping says (tools/wingcap.py, docs/flow-semantics.md)."""

from __future__ import annotations

import collections
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tools import wingcap

PACKETS = 20_000
SEED = 7
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wing(tmp_path_factory: pytest.TempPathFactory) -> wingcap.Generated:
    return wingcap.generate(tmp_path_factory.mktemp("wing") / "wing.pcap", PACKETS, SEED)


@pytest.fixture(scope="module")
def truth(wing: wingcap.Generated) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    return wingcap.load_truth(wing.truth)


def _engine_module() -> Any:
    try:
        from agent import engine
    except ImportError as exc:  # the C extension is not built in this checkout
        pytest.skip(f"agent.engine is not importable ({exc}); build the extension first")
    return engine


@pytest.fixture(scope="module")
def engine_run(wing: wingcap.Generated) -> tuple[list[Any], Any]:
    """(records, counters) of one engine pass over the capture, default settings."""
    engine_module = _engine_module()
    with engine_module.Engine() as engine:
        engine.open_file(wing.pcap)
        records = []
        while not engine.exhausted:
            records.extend(engine.poll())
        records.extend(engine.flush())
        return records, engine.counters()


def test_engine_flows_match_generator_truth_exactly(engine_run, wing):
    records, counters = engine_run
    comparison = wingcap.compare_with_truth(records, counters, wing.truth)
    missing, extra = comparison.missing, comparison.extra
    assert not missing and not extra, (
        f"{sum(missing.values())} expected records not produced, e.g. {list(missing)[:3]}; "
        f"{sum(extra.values())} unexpected, e.g. {list(extra)[:3]}"
    )


def test_engine_counters_match_generator_truth_exactly(engine_run, truth):
    _, summary = truth
    _, counters = engine_run
    expected = wingcap.expected_counters(summary)
    got = {name: getattr(counters, name) for name in expected}
    assert got == expected


def test_records_of_one_flow_share_one_serial(engine_run, truth):
    # `active` reports of a long flow carry the flow's serial: group both sides by flow.
    expected, summary = truth
    records, _ = engine_run
    by_serial = collections.defaultdict(list)
    for record in records:
        by_serial[record.serial].append((record.ts_us, record.end_reason))
    by_flow = collections.defaultdict(list)
    for record in expected:
        by_flow[record["flow"]].append((record["ts_us"], record["end_reason"]))
    assert len(by_serial) == summary["counters"]["flows_created"]
    assert sorted(map(sorted, by_serial.values())) == sorted(map(sorted, by_flow.values()))


def test_flows_command_json_matches_truth(wing, truth):
    _engine_module()
    expected, _ = truth
    result = subprocess.run(
        [sys.executable, "-m", "agent", "flows", str(wing.pcap), "--json"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    got = collections.Counter(
        wingcap.json_truth_key(json.loads(line)) for line in result.stdout.splitlines()
    )
    want = collections.Counter(wingcap.truth_json_key(record) for record in expected)
    assert got == want


def test_capture_holds_the_wing_mix_and_every_expiry(truth):
    expected, summary = truth
    reasons = collections.Counter(r["end_reason"] for r in expected)
    assert {"idle", "active", "end", "forced"} <= set(reasons)
    states = {(r["proto"], r["conn_state"]) for r in expected}
    for state in ("SF", "S0", "S1", "S2", "S3", "REJ", "RSTO", "RSTR", "RSTOS0", "RSTRH", "OTH"):
        assert (6, state) in states, state
    assert {(17, "SF"), (17, "S0"), (1, "OTH"), (58, "OTH"), (112, "OTH")} <= states
    # Stories whose outcome the spec fixes letter by letter (worked out by hand).
    tcp = {(r["conn_state"], r["history"]) for r in expected if r["proto"] == 6}
    for story in (
        ("SF", "ShADdFf"),  # store / request, both sides close
        ("SF", "^hADdFf"),  # the capture began after the SYN: SYN-ACK seen first
        ("REJ", "Sr"),  # closed port
        ("S0", "S"),  # filtered port, SYN retransmitted
        ("RSTO", "ShR"),  # open port, the scanner resets
        ("RSTOS0", "SR"),  # the scanner abandons its probe
        ("S2", "ShADdFa"),  # client FIN acknowledged, never answered
        ("S3", "ShADdf"),  # server FIN, the device never answers
        ("RSTRH", "DdAr"),  # older than the capture, reset by the server
    ):
        assert story in tcp, story
    services = {r["resp_port"] for r in expected if r["proto"] in (6, 17)}
    assert {104, 11112, 2575, 443, 53, 67, 123} <= services
    assert any(":" in r["orig_addr"] for r in expected)  # IPv6
    assert any(r["inner_vlan"] == 20 and r["vlan"] == 300 for r in expected)  # QinQ
    assert any(r["vlan"] is None for r in expected)
    # DNSKEY answers come back as two IPv4 fragments, the second matched by IP id.
    assert any(r["resp_port"] == 53 and r["resp_pkts"] == 2 for r in expected)
    assert any(r["history"].startswith("^") for r in expected)  # SYN-ACK seen first
    long_dicom = [
        r for r in expected if r["resp_port"] in (104, 11112) and r["end_reason"] == "active"
    ]
    assert long_dicom  # a transfer longer than the active timeout
    assert summary["counters"]["non_ip"] > 0
    assert summary["counters"]["packets_seen"] >= PACKETS


def test_same_seed_writes_the_same_bytes(tmp_path):
    first = wingcap.generate(tmp_path / "a.pcap", 3000, seed=11)
    second = wingcap.generate(tmp_path / "b.pcap", 3000, seed=11)
    other = wingcap.generate(tmp_path / "c.pcap", 3000, seed=12)
    assert first.pcap.read_bytes() == second.pcap.read_bytes()
    assert first.truth.read_text() == second.truth.read_text()
    assert first.pcap.read_bytes() != other.pcap.read_bytes()


def test_bad_parameters_give_one_error_line(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "tools.wingcap", str(tmp_path / "x.pcap"), "--duration-s", "60"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "--duration-s must be at least" in result.stderr


def test_headers_only_capture_gives_the_same_flows_and_counters(tmp_path, engine_run):
    # Same traffic cut to 128 bytes per frame: the engine counts from IP headers, so
    # nothing may change (docs/flow-semantics.md, "a short snap length").
    cut = wingcap.generate(tmp_path / "cut.pcap", PACKETS, SEED, snaplen=128)
    assert cut.pcap.stat().st_size < 0.5 * (cut.packets * 16 + cut.wire_bytes)
    engine_module = _engine_module()
    with engine_module.Engine() as engine:
        engine.open_file(cut.pcap)
        records = []
        while not engine.exhausted:
            records.extend(engine.poll())
        records.extend(engine.flush())
        counters = engine.counters()
    full_records, full_counters = engine_run

    def strip(record: Any) -> tuple[Any, ...]:
        return tuple(getattr(record, name) for name in wingcap.TRUTH_FIELDS)

    assert collections.Counter(map(strip, records)) == collections.Counter(map(strip, full_records))
    assert counters == full_counters


# ---- the ground truth's own bookkeeping, on hand-made packet sequences ----


def _tcp_truth() -> Any:
    from tools.wingcap_truth import FlowIdentity, FlowTruth

    identity = FlowIdentity(6, ("10.0.0.1", "10.0.0.2"), (40000, 104), 20, None)
    return FlowTruth(0, identity)


def test_truth_of_a_closed_handshake_is_sf_and_ends_after_the_linger():
    from tools.wingcap_truth import ACK, FIN, SYN

    flow = _tcp_truth()
    for ts_us, side, flags, payload in (
        (0, 0, SYN, 0),
        (100, 1, SYN | ACK, 0),
        (200, 0, ACK, 0),
        (300, 0, ACK, 500),
        (400, 0, FIN | ACK, 0),
        (500, 1, FIN | ACK, 0),
        (600, 0, ACK, 0),
    ):
        flow.packet(ts_us, side, flags, 52 + payload, payload)
    (record,) = flow.finish(capture_end_us=6_000_600, slack_us=0)
    assert (record["conn_state"], record["history"], record["end_reason"]) == (
        "SF",
        "ShADFf",
        "end",
    )
    assert (record["orig_pkts"], record["resp_pkts"], record["orig_bytes"]) == (5, 2, 500)
    (forced,) = flow.finish(capture_end_us=5_000_600, slack_us=0)  # linger not over
    assert forced["end_reason"] == "forced"


def test_truth_splits_a_long_flow_at_the_active_timeout_keeping_its_state():
    from tools.wingcap_truth import ACK, SYN

    flow = _tcp_truth()
    flow.packet(0, 0, SYN, 60, 0)
    flow.packet(1_000, 1, SYN | ACK, 60, 0)
    flow.packet(2_000, 0, ACK, 1500, 1448)
    flow.packet(299_999_999, 0, ACK, 1500, 1448)  # still inside the first record
    flow.packet(300_000_000, 0, ACK, 1500, 1448)  # at start + 300 s: a new record
    first, second = flow.finish(capture_end_us=300_000_000, slack_us=0)
    assert first["end_reason"] == "active" and first["orig_pkts"] == 3
    assert first["duration_us"] == 299_999_999
    assert (second["ts_us"], second["orig_pkts"], second["end_reason"]) == (
        300_000_000,
        1,
        "forced",
    )
    assert second["history"] == first["history"] == "ShD"  # ACKs with data: D, not A
    assert second["conn_state"] == first["conn_state"] == "S1"


def test_truth_refuses_an_end_that_falls_just_after_a_timeout():
    from tools.wingcap_truth import SYN

    flow = _tcp_truth()
    flow.packet(0, 0, SYN, 60, 0)  # SYN only: the 30 s timeout applies
    assert flow.finish(capture_end_us=35_000_000, slack_us=10_000_000) is None
    (record,) = flow.finish(capture_end_us=45_000_000, slack_us=10_000_000)
    assert (record["conn_state"], record["end_reason"]) == ("S0", "idle")
