"""The two summarizers under test, behind one call: the C engine and tests/reference.py.

Golden tests take the `summarize` fixture, which runs each test once per summarizer
(the cbor2 habit: one suite, two implementations). Both return a `Summary`: every
record of the capture (flushed at the end of the file) and the engine counters.
Settings are given in seconds with the names below; each side converts them.
"""

from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from agent.flowrecord import FlowRecord, format_addr
from tests.reference import COUNTER_NAMES, ReferenceSettings, summarize_file

# Setting name (seconds, or a count) -> the reference's microsecond field.
SETTINGS_S = {
    "tcp_idle_s": "tcp_idle_us",
    "tcp_syn_idle_s": "tcp_syn_idle_us",
    "udp_idle_s": "udp_idle_us",
    "icmp_idle_s": "icmp_idle_us",
    "other_idle_s": "other_idle_us",
    "tcp_linger_s": "tcp_linger_us",
    "active_s": "active_us",
}


@dataclass
class Summary:
    records: list[FlowRecord]
    counters: dict[str, int]


def run_reference(path: Path, **settings: float) -> Summary:
    """tests/reference.py over a file, with settings in seconds (and max_flows)."""
    fields: dict[str, int] = {}
    for name, value in settings.items():
        if name == "batch_records":
            continue
        if name == "max_flows":
            fields["max_flows"] = int(value)
        else:
            fields[SETTINGS_S[name]] = round(value * 1_000_000)
    result = summarize_file(path, ReferenceSettings(**fields))
    return Summary(result.records, result.counters)


def _engine_module() -> Any:
    try:
        return importlib.import_module("agent.engine")
    except ImportError as exc:
        pytest.skip(f"agent.engine is not available yet: {exc}")


# Our setting names -> agent.engine.EngineSettings field names.
ENGINE_SETTINGS = {
    "max_flows": "max_flows",
    "tcp_idle_s": "tcp_idle_timeout_s",
    "tcp_syn_idle_s": "tcp_syn_idle_timeout_s",
    "udp_idle_s": "udp_idle_timeout_s",
    "icmp_idle_s": "icmp_idle_timeout_s",
    "other_idle_s": "other_idle_timeout_s",
    "tcp_linger_s": "tcp_linger_s",
    "active_s": "active_timeout_s",
    "batch_records": "batch_records",  # the engine's output ring; no meaning to the reference
}


def run_engine(path: Path, **settings: float) -> Summary:
    """The C engine (through agent.engine) over a file, same settings as the reference.

    Counters are those the reference keeps too (the engine has a few more: gauges).
    """
    engine_module = _engine_module()
    engine_settings = engine_module.EngineSettings(
        **{ENGINE_SETTINGS[name]: value for name, value in settings.items()}
    )
    records: list[FlowRecord] = []
    with engine_module.Engine(engine_settings) as engine:
        engine.open_file(path)
        while not engine.exhausted:
            records.extend(engine.poll())
        records.extend(engine.flush())
        counters = dataclasses.asdict(engine.counters())
    # The engine's own gauges: after the flush no flow is left and no record was lost.
    assert counters["flows_active"] == 0, counters
    assert counters["records_lost"] == 0, counters
    return Summary(records, {name: counters[name] for name in COUNTER_NAMES})


# Golden test modules run every test with both: `pytestmark = BOTH_SUMMARIZERS`, and
# each test takes a `summarize` argument (the engine side skips while it is absent).
BOTH_SUMMARIZERS = pytest.mark.parametrize(
    "summarize",
    [pytest.param(run_engine, id="engine"), pytest.param(run_reference, id="reference")],
)


# ---------------------------------------------------------------- checking records


def readable(record: FlowRecord) -> dict[str, Any]:
    """The record as a dict, addresses as text, so expectations read like conn.log."""
    out = dataclasses.asdict(record)
    out["orig_addr"] = format_addr(record.orig_addr)
    out["resp_addr"] = format_addr(record.resp_addr)
    return out


def assert_record(record: FlowRecord, **expected: Any) -> None:
    """Every named field of `record` has the expected value (addresses as text)."""
    actual = readable(record)
    got = {name: actual[name] for name in expected}
    assert got == expected, f"record differs:\n got      {got}\n expected {expected}"


def assert_counters(summary: Summary, **expected: int) -> None:
    """The named counters have these values; the frame counters add up, always."""
    counters = summary.counters
    got = {name: counters[name] for name in expected}
    assert got == expected, f"counters differ:\n got      {got}\n expected {expected}"
    landed = ("packets_in_flows", "non_ip", "malformed", "truncated", "fragments_unmatched")
    assert counters["packets_seen"] == sum(counters[name] for name in landed)
    emitted = sum(value for name, value in counters.items() if name.startswith("flows_ended_"))
    assert emitted == len(summary.records)


def only_record(summary: Summary) -> FlowRecord:
    """The single record of a capture that must make exactly one."""
    assert len(summary.records) == 1, [readable(r) for r in summary.records]
    return summary.records[0]


def records_by_serial(summary: Summary) -> list[FlowRecord]:
    """Records in flow creation order; the records of one flow in time order."""
    return sorted(summary.records, key=lambda r: (r.serial, r.ts_us))
