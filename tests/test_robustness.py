"""Hostile input through the whole engine: the public tcpdump corpus, and damaged copies.

Every capture either summarizes with counters that add up, or is refused with one
clean agent error (unknown link type, truncated file, not a capture). Never a crash,
never a Python exception of another kind. tools/sanitize.sh runs this file again against
an AddressSanitizer/UBSan build of the extension, where a stray read is a failure too.
"""

from __future__ import annotations

import random
import struct
from dataclasses import dataclass
from pathlib import Path

import pytest

from agent.errors import AgentError, CaptureError, UsageError
from agent.flowrecord import FlowRecord
from tests import reference
from tests.support.agent_setup import run_agent

CORPUS = Path(__file__).resolve().parents[2] / "shared/pcaps/tcpdump"
DECODED_LINKTYPES = frozenset({0, 1, 12, 101, 113, 228, 229, 276})
CAPTURE_SUFFIXES = (".pcap", ".pcapng")

engine_module = pytest.importorskip("agent.engine", reason="agent.engine has not landed yet")


def corpus_files() -> list[Path]:
    if not CORPUS.is_dir():
        pytest.skip(f"public capture corpus absent ({CORPUS}); it is present in CI")
    files = sorted(p for p in CORPUS.iterdir() if p.suffix in CAPTURE_SUFFIXES)
    assert len(files) > 400, "the corpus should hold the tcpdump project's 442 captures"
    return files


@dataclass
class Outcome:
    """What the engine made of one file: records and counters, and the error, if any."""

    records: list[FlowRecord]
    counters: object | None
    error: AgentError | None


def run_engine(path: Path, max_flows: int = 65536) -> Outcome:
    """The engine over a file, the way `summarize_file` drives it, keeping the counters."""
    settings = engine_module.EngineSettings(max_flows=max_flows)
    records: list[FlowRecord] = []
    try:
        with engine_module.Engine(settings) as engine:
            engine.open_file(path)
            error: AgentError | None = None
            while not engine.exhausted:
                try:
                    records.extend(engine.poll())
                except CaptureError as exc:
                    error = exc
                    break
            records.extend(engine.flush())
            return Outcome(records, engine.counters(), error)
    except UsageError as exc:
        return Outcome([], None, exc)


def assert_consistent(outcome: Outcome, where: str) -> None:
    """The counters add up, and the flushed records account for every packet in flows."""
    c = outcome.counters
    assert c is not None
    accounted = c.packets_in_flows + c.non_ip + c.malformed + c.truncated
    assert c.packets_seen == accounted + c.fragments_unmatched, where
    assert c.packets_in_flows == sum(r.orig_pkts + r.resp_pkts for r in outcome.records), where
    ended = (
        c.flows_ended_idle
        + c.flows_ended_active
        + c.flows_ended_end
        + c.flows_ended_forced
        + c.flows_ended_resources
    )
    assert ended == len(outcome.records), where
    assert c.flows_created == len({r.serial for r in outcome.records}), where
    assert c.flows_active == 0 and c.records_lost == 0, where
    for r in outcome.records:
        assert r.orig_pkts + r.resp_pkts > 0, where
        assert r.orig_ip_bytes >= r.orig_bytes and r.resp_ip_bytes >= r.resp_bytes, where
        assert r.duration_us >= 0 and len(r.history) <= 16, where
        assert r.end_reason in ("idle", "active", "end", "forced", "resources"), where


def assert_clean_error(error: AgentError, where: str) -> None:
    message = str(error)
    assert isinstance(error, UsageError | CaptureError), f"{where}: {error!r}"
    assert message and "\n" not in message and "Traceback" not in message, where


def test_every_public_capture_is_summarized_or_refused_cleanly():
    summarized = refused_linktype = 0
    for path in corpus_files():
        linktype, frames = reference.read_capture(path)
        outcome = run_engine(path)
        if linktype not in DECODED_LINKTYPES:
            # The engine must refuse what it cannot decode, naming the link type.
            assert isinstance(outcome.error, UsageError), path.name
            assert "link" in str(outcome.error).lower(), f"{path.name}: {outcome.error}"
            refused_linktype += 1
            continue
        assert outcome.error is None, f"{path.name}: {outcome.error}"
        assert_consistent(outcome, path.name)
        c = outcome.counters
        assert c is not None
        # libpcap and the reference's own reader see the same frames...
        assert c.packets_seen == len(frames), path.name
        assert c.bytes_seen == sum(f.wire_len for f in frames), path.name
        # ...and the engine counts each one as the reference parser judges it.
        verdicts = [reference.parse_frame(linktype, f.data, f.wire_len).kind for f in frames]
        assert c.non_ip == verdicts.count(reference.NON_IP), path.name
        assert c.malformed == verdicts.count(reference.MALFORMED), path.name
        assert c.truncated == verdicts.count(reference.TRUNCATED), path.name
        summarized += 1
    assert summarized > 250 and refused_linktype > 100


# ---------------------------------------------------------------- damaged captures

PCAP_MAGICS = {b"\xd4\xc3\xb2\xa1": "<", b"\x4d\x3c\xb2\xa1": "<"}
PCAP_MAGICS |= {b"\xa1\xb2\xc3\xd4": ">", b"\xa1\xb2\x3c\x4d": ">"}


def pcap_records(blob: bytes) -> tuple[str, list[int]] | None:
    """(byte order, offsets of every record header) of a classic pcap file, else None."""
    endian = PCAP_MAGICS.get(blob[:4])
    if endian is None:
        return None
    offsets, pos = [], 24
    while pos + 16 <= len(blob):
        offsets.append(pos)
        caplen = struct.unpack_from(endian + "I", blob, pos + 8)[0]
        pos += 16 + caplen
    return endian, offsets


def damage(rng: random.Random, blob: bytes) -> tuple[str, bytes]:
    """One kind of damage to a capture file: (what was done, the damaged bytes)."""
    data = bytearray(blob)
    parsed = pcap_records(blob)
    kinds = ["bit flips", "cut short"]
    if parsed and parsed[1]:
        kinds += ["caplen lies", "wire length lies", "other link type", "tiny snaplen"]
    kind = rng.choice(kinds)
    if kind == "bit flips":
        for _ in range(rng.randint(1, 20)):
            position = rng.randrange(24, len(data)) if len(data) > 24 else 0
            data[position] ^= 1 << rng.randrange(8)
    elif kind == "cut short":
        data = data[: rng.randrange(len(data))]
    else:
        assert parsed is not None
        endian, offsets = parsed
        record = rng.choice(offsets)
        if kind == "caplen lies":
            lie = rng.choice([0, 1, 0x10000, 0xFFFFFFF0, len(data)])
            struct.pack_into(endian + "I", data, record + 8, lie)
        elif kind == "wire length lies":
            lie = rng.choice([0, 1, 0xFFFFFFFF, rng.randrange(1, 100)])
            struct.pack_into(endian + "I", data, record + 12, lie)
        elif kind == "other link type":
            struct.pack_into(endian + "I", data, 20, rng.choice(sorted(DECODED_LINKTYPES)))
        else:
            struct.pack_into(endian + "I", data, 16, rng.choice([0, 1, 14, 34]))
    return kind, bytes(data)


def test_damaged_captures_never_crash_the_engine(tmp_path):
    rng = random.Random(4242)
    decodable = [p for p in corpus_files() if reference.read_capture(p)[0] in DECODED_LINKTYPES]
    kinds_seen: dict[str, int] = {}
    for i in range(300):
        source = rng.choice(decodable)
        kind, damaged = damage(rng, source.read_bytes())
        path = tmp_path / f"damaged-{i}{source.suffix}"
        path.write_bytes(damaged)
        where = f"{kind} of {source.name} (seed 4242, case {i})"
        # A small table too, so eviction runs on garbage as well.
        outcome = run_engine(path, max_flows=rng.choice([8, 65536]))
        if outcome.error is not None:
            assert_clean_error(outcome.error, where)
        if outcome.counters is not None:
            assert_consistent(outcome, where)
        kinds_seen[kind] = kinds_seen.get(kind, 0) + 1
        path.unlink()
    assert len(kinds_seen) == 6, kinds_seen


def test_truncated_capture_file_is_a_capture_error_after_its_flows(tmp_path):
    # The first Ethernet pcap of the corpus with a few records.
    for source in corpus_files():
        blob = source.read_bytes()
        _endian, offsets = pcap_records(blob) or ("<", [])
        if len(offsets) > 3 and reference.read_capture(source)[0] == 1:
            break
    else:
        pytest.fail("no Ethernet pcap with more than three records in the corpus")
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(blob[: offsets[2] + 20])  # the third record ends early
    outcome = run_engine(cut)
    assert isinstance(outcome.error, CaptureError)
    assert "truncated" in str(outcome.error)
    assert outcome.counters is not None and outcome.counters.packets_seen == 2
    assert_consistent(outcome, "cut after two records")


# ---------------------------------------------------------------- the command line


def test_flows_command_never_shows_a_traceback(tmp_path):
    pytest.importorskip("agent.commands.flows", reason="the flows command has not landed yet")
    rng = random.Random(7)
    samples = rng.sample(corpus_files(), 12)
    for i in range(6):
        source = rng.choice(samples)
        damaged = tmp_path / f"damaged-{i}{source.suffix}"
        damaged.write_bytes(damage(rng, source.read_bytes())[1])
        samples.append(damaged)
    not_a_capture = tmp_path / "notes.txt"
    not_a_capture.write_text("not a capture\n")
    samples += [not_a_capture, tmp_path / "missing.pcap", tmp_path]
    for path in samples:
        for extra in ([], ["--json"]):
            result = run_agent("flows", str(path), *extra, timeout_s=60)
            where = f"flows {path.name} {extra}: exit {result.returncode}, {result.stderr!r}"
            assert "Traceback" not in result.stderr + result.stdout, where
            assert result.returncode in (0, 1, 2), where
            if result.returncode != 0:
                assert len(result.stderr.strip().splitlines()) == 1, where
    # the plainly bad inputs are usage errors
    for path in (not_a_capture, tmp_path / "missing.pcap"):
        result = run_agent("flows", str(path), timeout_s=60)
        assert result.returncode == 2, result.stderr
