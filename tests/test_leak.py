"""Leak test (the psutil habit): every entry point of the C engine, thousands of times,
with resident memory flat. A leaked record tuple, bytes object, pcap handle or table
would grow RSS by far more than the tolerance over these iterations."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from agent import engine as engine_module
from agent.engine import Engine, EngineSettings
from agent.errors import AgentError
from agent.flowrecord import END_REASONS, FlowRecord
from tests.support.pcapgen import at, ether, tcp, udp, write_pcap

ITERATIONS = 2000
WARMUP = 200
TOLERANCE_BYTES = 2 * 1024 * 1024
SMALL = EngineSettings(max_flows=256, batch_records=64)


def rss_growth(call: Callable[[], object]) -> int:
    """RSS after ITERATIONS calls minus RSS after a warm-up (allocator pools settle)."""
    process = psutil.Process()
    for _ in range(WARMUP):
        call()
    gc.collect()
    before = process.memory_info().rss
    for _ in range(ITERATIONS):
        call()
    gc.collect()
    return process.memory_info().rss - before


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    a, b = "10.30.0.1", "10.30.0.2"
    packets = [
        ether(tcp(a, b, 40000, 104, "S")),
        ether(tcp(b, a, 104, 40000, "SA")),
        ether(tcp(a, b, 40000, 104, "PA", b"x" * 100)),
        ether(tcp(a, b, 40000, 104, "R")),
        *(ether(udp(a, b, 5000 + i, 53, b"q"), vlans=[i + 1]) for i in range(20)),
        b"\x00" * 20,  # truncated frame
    ]
    path = tmp_path_factory.mktemp("leak") / "leak.pcap"
    return write_pcap(path, [at(i * 0.01, p) for i, p in enumerate(packets)])


def test_full_engine_life_cycle_does_not_leak(capture):
    def life() -> None:
        with Engine(SMALL) as engine:
            engine.open_file(capture)
            while not engine.exhausted:
                engine.poll()
            assert len(engine.flush()) == 21
            engine.counters()

    assert rss_growth(life) < TOLERANCE_BYTES


def test_raw_entry_points_do_not_leak(capture):
    native_engine = engine_module._engine

    def raw(as_objects: bool) -> None:
        native = native_engine.Engine(max_flows=256, ring_records=64)
        native.bind_record_type(FlowRecord, END_REASONS)
        native.open_file(str(capture))
        while native.run(1000) != native_engine.RUN_EOF:
            pass
        assert native.flush() == 0
        records = native.take_records() if as_objects else native.take()
        assert len(records) == 21
        assert native.counters()["packets_seen"] == 25
        assert native.bytes_per_slot > 0
        native.stop()
        native.close()

    assert rss_growth(lambda: raw(as_objects=False)) < TOLERANCE_BYTES
    assert rss_growth(lambda: raw(as_objects=True)) < TOLERANCE_BYTES


def test_error_paths_do_not_leak(tmp_path):
    not_capture = tmp_path / "text.pcap"
    not_capture.write_text("no capture here\n")
    usb = write_pcap(tmp_path / "usb.pcap", [at(0, b"\x00" * 40)], linktype=189)

    def failures() -> None:
        for path in (not_capture, usb):
            with contextlib.suppress(AgentError), Engine(SMALL) as engine:
                engine.open_file(path)
        with contextlib.suppress(ValueError):
            engine_module._engine.Engine(max_flows=0)

    assert rss_growth(failures) < TOLERANCE_BYTES
