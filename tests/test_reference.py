"""The reference summarizer's own footing: its capture reader agrees with scapy's reader
and writer (an independent implementation of the file formats), so the oracle and our
capture writer cannot share a mistake unnoticed."""

from __future__ import annotations

import struct
from typing import Any

import pytest
from scapy.layers.l2 import Ether
from scapy.utils import PcapNgWriter, PcapWriter, RawPcapNgReader, RawPcapReader

from tests.reference import ReferenceEngine
from tests.support import pcapgen
from tests.support.capturefile import CaptureFormatError, read_capture
from tests.support.pcapgen import T0_US, at, ether, udp
from tests.support.trafficgen import random_frames

FRAMES = [
    at(0.000001, ether(udp("10.0.0.1", "10.0.0.2", 1, 2, b"a" * 10))),
    at(0.5, ether(udp("10.0.0.2", "10.0.0.1", 2, 1, b"b" * 300)), caplen=40),
    at(1.25, ether(udp("10.0.0.1", "10.0.0.2", 1, 2))),
]


def test_reader_matches_scapy_reading_our_pcap_and_pcapng(tmp_path):
    pcap = pcapgen.write_pcap(tmp_path / "x.pcap", FRAMES)
    ng = pcapgen.write_pcapng(tmp_path / "x.pcapng", FRAMES)
    expected = [(f.ts_us, f.data, f.wire_len) for f in FRAMES]
    for path, reader_class in ((pcap, RawPcapReader), (ng, RawPcapNgReader)):
        linktype, frames = read_capture(path)
        assert linktype == 1
        assert [(f.ts_us, f.data, f.wire_len) for f in frames] == expected
        with reader_class(str(path)) as reader:
            seen = []
            for data, meta_ in reader:
                meta: Any = meta_  # fields differ between the pcap and pcapng readers
                if reader_class is RawPcapReader:
                    ts_us = meta.sec * 1_000_000 + meta.usec
                else:
                    ts_us = ((meta.tshigh << 32) | meta.tslow) * 1_000_000 // meta.tsresol
                seen.append((ts_us, data, meta.wirelen))
        assert seen == expected


@pytest.mark.parametrize("writer_class", [PcapWriter, PcapNgWriter])
def test_reader_reads_files_scapy_wrote(tmp_path, writer_class):
    path = tmp_path / "scapy.cap"
    packets = []
    for frame in FRAMES:
        packet = Ether(frame.data)
        packet.time = frame.ts_us / 1_000_000
        packet.wirelen = frame.wire_len
        packets.append(packet)
    with writer_class(str(path)) as writer:
        for packet in packets:
            writer.write(packet)
    linktype, frames = read_capture(path)
    assert linktype == 1
    assert [f.data for f in frames] == [f.data for f in FRAMES]
    assert [f.wire_len for f in frames] == [f.wire_len for f in FRAMES]
    # scapy keeps time as a float: allow one microsecond of rounding.
    assert all(abs(a.ts_us - b.ts_us) <= 1 for a, b in zip(frames, FRAMES, strict=True))


def test_big_endian_pcap_reads_like_little_endian(tmp_path):
    header = struct.pack(">IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    body = b"".join(
        struct.pack(">IIII", *divmod(f.ts_us, 1_000_000), len(f.data), f.wire_len) + f.data
        for f in FRAMES
    )
    path = tmp_path / "be.pcap"
    path.write_bytes(header + body)
    _, frames = read_capture(path)
    assert [f.ts_us for f in frames] == [f.ts_us for f in FRAMES]
    assert frames[0].ts_us == T0_US + 1


@pytest.mark.parametrize(
    "content", [b"", b"hello world, not a capture", b"\x0a\x0d\x0d\x0a\x00\x00\x00\x01"]
)
def test_reader_refuses_what_is_not_a_capture(tmp_path, content):
    path = tmp_path / "junk"
    path.write_bytes(content)
    with pytest.raises(CaptureFormatError):
        read_capture(path)


def test_frame_counters_always_add_up_and_records_match_counters(tmp_path):
    engine = ReferenceEngine()
    frames = random_frames(seed=11, packets=1500)
    for frame in frames:
        engine.handle_frame(1, frame.data, frame.wire_len, frame.ts_us)
    engine.flush()
    counters = engine.counters
    landed = ("packets_in_flows", "non_ip", "malformed", "truncated", "fragments_unmatched")
    assert counters["packets_seen"] == len(frames) == sum(counters[name] for name in landed)
    ended = sum(v for k, v in counters.items() if k.startswith("flows_ended_"))
    assert ended == len(engine.records)
    assert sum(r.orig_pkts + r.resp_pkts for r in engine.records) == counters["packets_in_flows"]
    assert engine.flows == {}
