"""The C engine and the pure-Python reference agree, record for record and counter for
counter, on random (seeded) captures of thousands of packets.

The captures (tests/support/trafficgen.py) mix every protocol and corner of
docs/flow-semantics.md, with short timeouts and a small flow table so idle, active,
end, forced and resources records all occur many times. Every field of every record is
compared except `service` and `server_name` (payload extraction is not the flow
engine's business; tests/test_golden_server_names.py checks names);
the uid derives from the serial, which is compared.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import pytest

from tests.support import pcapgen
from tests.support.capturefile import CaptureFormatError, read_capture
from tests.support.summarizers import (
    Summary,
    readable,
    run_engine,
    run_reference,
)
from tests.support.trafficgen import mutated, random_frames

# Short timeouts: a generated capture spans minutes, not hours.
BUSY_SETTINGS = dict(
    max_flows=48,
    udp_idle_s=5,
    icmp_idle_s=4,
    other_idle_s=6,
    tcp_idle_s=20,
    tcp_syn_idle_s=3,
    tcp_linger_s=1,
    active_s=15,
)

# (name, seed, packets, link, file format, settings)
CASES = [
    ("ethernet-pcap", 1, 6000, "ethernet", "pcap", BUSY_SETTINGS),
    (
        "ethernet-pcapng-tiny-table",
        2,
        5000,
        "ethernet",
        "pcapng",
        {**BUSY_SETTINGS, "max_flows": 8},
    ),
    ("sll2-pcapng", 3, 4000, "sll2", "pcapng", BUSY_SETTINGS),
    ("raw-ip-pcap", 4, 4000, "raw", "pcap", BUSY_SETTINGS),
    ("sll-pcap", 7, 2500, "sll", "pcap", BUSY_SETTINGS),
    ("null-pcapng", 8, 2500, "null", "pcapng", BUSY_SETTINGS),
    ("ethernet-default-settings", 5, 4000, "ethernet", "pcap", {}),
    # A 16-record output ring: expiry bursts overflow it and frames are deferred; the
    # records must not depend on that.
    (
        "ethernet-small-ring",
        9,
        5000,
        "ethernet",
        "pcap",
        {**BUSY_SETTINGS, "max_flows": 2000, "batch_records": 16},
    ),
]
LINKTYPES = {
    "ethernet": pcapgen.LINKTYPE_ETHERNET,
    "sll2": pcapgen.LINKTYPE_LINUX_SLL2,
    "raw": pcapgen.LINKTYPE_RAW,
    "sll": pcapgen.LINKTYPE_LINUX_SLL,
    "null": pcapgen.LINKTYPE_NULL,
}


def comparable(summary: Summary) -> list[dict[str, Any]]:
    records = sorted(summary.records, key=lambda r: (r.serial, r.ts_us, r.end_reason))
    out = []
    for record in records:
        fields = readable(record)
        del fields["service"]
        del fields["server_name"]  # payload extraction too (the reference does none)
        out.append(fields)
    return out


def summarize_both(tmp_path, seed, packets, link, file_format, settings, disorder=0.0, mutate=0.0):
    frames = random_frames(seed, packets, link, disorder=disorder)
    if mutate:
        frames = mutated(frames, seed, share=mutate)
    path = tmp_path / f"random.{file_format}"
    write = pcapgen.write_pcap if file_format == "pcap" else pcapgen.write_pcapng
    write(path, frames, linktype=LINKTYPES[link])
    return run_engine(path, **settings), run_reference(path, **settings)


@pytest.mark.parametrize(
    "seed, packets, link, file_format, settings",
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_engine_and_reference_agree_on_random_traffic(
    tmp_path, seed, packets, link, file_format, settings
):
    assert_same(*summarize_both(tmp_path, seed, packets, link, file_format, settings))


def assert_same(engine: Summary, reference: Summary) -> None:
    """Same counters, and the same records field for field (the first difference named)."""
    assert engine.counters == reference.counters
    engine_records, reference_records = comparable(engine), comparable(reference)
    for index, (ours, theirs) in enumerate(zip(engine_records, reference_records, strict=False)):
        differing = {
            name: (ours[name], theirs[name]) for name in ours if ours[name] != theirs[name]
        }
        assert not differing, f"record {index}: (engine, reference) {differing}; engine {ours}"
    assert len(engine_records) == len(reference_records)


@pytest.mark.parametrize("link", ["ethernet", "raw", "sll2"])
def test_engine_and_reference_agree_on_mutated_headers(tmp_path, link):
    # A third of the frames have bytes changed in their headers: every parse decision
    # (non-IP, malformed, truncated, which protocol, which ports) must still agree.
    seed = {"ethernet": 21, "raw": 22, "sll2": 23}[link]
    engine, reference = summarize_both(
        tmp_path, seed, 3000, link, "pcap", BUSY_SETTINGS, mutate=0.3
    )
    assert reference.counters["malformed"] > 100
    assert_same(engine, reference)


def test_engine_and_reference_agree_when_timestamps_go_backwards(tmp_path):
    engine, reference = summarize_both(
        tmp_path, 6, 4000, "ethernet", "pcap", {**BUSY_SETTINGS, "max_flows": 16}, disorder=0.05
    )
    assert_same(engine, reference)


def test_engine_and_reference_agree_with_everything_at_once(tmp_path):
    # Disorder, lying headers, a tiny table and a tiny output ring, on a NULL link.
    settings = {**BUSY_SETTINGS, "max_flows": 32, "batch_records": 16}
    engine, reference = summarize_both(
        tmp_path, 31, 4000, "null", "pcapng", settings, disorder=0.1, mutate=0.2
    )
    assert_same(engine, reference)


def with_time_jumps(frames: list[pcapgen.Frame], seed: int) -> list[pcapgen.Frame]:
    """Lone frames from the far future (a day, a year, near 2^64 us) and real gaps of
    11-90 s (every later frame shifted); at the end two future frames in a row (a clock
    set right), then the last frames at their old times, now in the past."""
    import dataclasses
    import random

    rng = random.Random(seed)
    out, shift_us = [], 0
    for frame in frames[:-20]:
        roll = rng.random()
        if roll < 0.004:
            shift_us += rng.randint(11, 90) * 1_000_000  # a quiet spell: time moved on
        ts_us = frame.ts_us + shift_us
        if roll > 0.99:  # one frame from the future
            ts_us = rng.choice([ts_us + 86_400_000_000, ts_us + 31_536_000_000_000, 2**64 - 1])
        out.append(dataclasses.replace(frame, ts_us=ts_us))
    step_us = out[-1].ts_us + 86_400_000_000
    out += [dataclasses.replace(frame, ts_us=step_us) for frame in frames[-20:-18]]
    out += [dataclasses.replace(frame, ts_us=frame.ts_us + shift_us) for frame in frames[-18:]]
    return out


def test_engine_and_reference_agree_when_times_jump_ahead(tmp_path):
    frames = with_time_jumps(random_frames(41, 4000, "ethernet"), seed=41)
    path = pcapgen.write_pcapng(tmp_path / "jumps.pcapng", frames)
    engine, reference = run_engine(path, **BUSY_SETTINGS), run_reference(path, **BUSY_SETTINGS)
    assert reference.counters["clock_steps_held"] > 20
    assert_same(engine, reference)


def test_random_traffic_reaches_every_corner(tmp_path):
    """The generator is only worth something if the busy captures hit every case."""
    _, reference = summarize_both(tmp_path, *CASES[0][1:])
    counters = reference.counters
    for name in (
        "non_ip",
        "malformed",
        "truncated",
        "fragments_unmatched",
        "flows_ended_idle",
        "flows_ended_active",
        "flows_ended_end",
        "flows_ended_forced",
        "flows_ended_resources",
    ):
        assert counters[name] > 0, name
    records = reference.records
    assert {r.proto for r in records} >= {1, 6, 17, 58, 132, 47}
    assert {r.conn_state for r in records} >= {"SF", "S0", "S1", "REJ", "RSTO", "RSTR", "OTH"}
    assert any(r.history.startswith("^") for r in records)
    assert any(r.inner_vlan is not None for r in records)
    assert any(len(r.orig_addr) == 16 for r in records)
    assert len({r.serial for r in records}) < len(records)  # active splits share serials


# Real captures from tcpdump's test suite (odd, broken and fuzzed files among them),
# kept next to the repository; only those of a link type the spec decodes.
SAMPLE_CAPTURES = Path(__file__).resolve().parents[2] / "shared" / "pcaps" / "tcpdump"
DECODED_LINKTYPES = {0, 1, 12, 101, 113, 228, 229, 276}


def sample_captures() -> list[Any]:
    params = []
    for path in sorted(SAMPLE_CAPTURES.glob("*")) if SAMPLE_CAPTURES.is_dir() else []:
        try:
            linktype, _ = read_capture(path)
        except (CaptureFormatError, OSError, struct.error, IndexError):
            continue  # not a capture the reference reads; the engine's tests cover refusal
        if linktype not in DECODED_LINKTYPES:
            continue
        params.append(pytest.param(path, id=path.name))
    return params or [
        pytest.param(None, marks=pytest.mark.skip(reason=f"{SAMPLE_CAPTURES} absent"))
    ]


@pytest.mark.parametrize("path", sample_captures())
def test_engine_and_reference_agree_on_sample_captures(path):
    assert_same(run_engine(path), run_reference(path))
