"""Contract of agent.engine (and the raw agent._engine beneath it): result types, settings
validation, every end reason, fixed memory, batch-size independence, bad input, live
capture on the loopback interface.

Captures are real files written into tmp_path (tests/support/pcapgen.py, scapy packets).
The flow-by-flow semantics are the golden and differential suites' job; these tests pin
the API and the engine's guarantees.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from agent import engine as engine_module
from agent.engine import Engine, EngineCounters, EngineSettings, summarize_file
from agent.errors import CaptureError, UsageError
from agent.flowrecord import END_REASONS, FlowRecord
from tests.support.pcapgen import at, ether, tcp, udp, write_pcap, write_pcapng

A, B = "10.9.0.1", "10.9.0.2"


def c2s(flags: str, payload: bytes = b"") -> bytes:
    return ether(tcp(A, B, 40000, 104, flags, payload))


def s2c(flags: str, payload: bytes = b"") -> bytes:
    return ether(tcp(B, A, 104, 40000, flags, payload))


def udp_flow(n: int, payload: bytes = b"x") -> bytes:
    """The n-th of many distinct UDP flows (a different client port each)."""
    return ether(udp(A, B, 10000 + n, 53, payload))


CONVERSATION = [
    c2s("S"),
    s2c("SA"),
    c2s("A"),
    c2s("PA", b"C-ECHO-RQ"),
    s2c("A"),
    s2c("PA", b"C-ECHO-RSP"),
    c2s("FA"),
    s2c("FA"),
    c2s("A"),
]


def run_all(path: Path, settings: EngineSettings | None = None) -> tuple[list, EngineCounters]:
    """Every record of a file through poll() and flush(), and the final counters."""
    records: list[FlowRecord] = []
    with Engine(settings) as engine:
        engine.open_file(path)
        while not engine.exhausted:
            records.extend(engine.poll())
        records.extend(engine.flush())
        return records, engine.counters()


# ---------------------------------------------------------------- types


def test_records_are_flowrecords_of_plain_values(tmp_path):
    frames = [at(i * 0.1, p) for i, p in enumerate(CONVERSATION)]
    frames.append(at(1.0, ether(udp(A, B, 5000, 53, b"q"), vlans=[10, 20])))
    records, _ = run_all(write_pcap(tmp_path / "c.pcap", frames))
    assert len(records) == 2
    for record in records:
        assert type(record) is FlowRecord
        for field in dataclasses.fields(FlowRecord):
            value = getattr(record, field.name)
            if field.name in ("orig_addr", "resp_addr"):
                assert type(value) is bytes and len(value) == 4
            elif field.name in ("conn_state", "history", "end_reason"):
                assert type(value) is str
            elif field.name in ("vlan", "inner_vlan", "service"):
                assert value is None or type(value) is int
            elif field.name in ("orig_l2_addr", "resp_l2_addr"):
                assert value is None or (type(value) is bytes and len(value) == 6)
            elif field.name == "server_name":
                assert value is None or type(value) is str
            else:
                assert type(value) is int, field.name
        assert record.end_reason in END_REASONS
        # The JSON form works on what the engine produced.
        assert record.to_json(b"k" * 16)["end_reason"] == record.end_reason
    assert (records[1].vlan, records[1].inner_vlan) == (10, 20)
    assert (records[0].vlan, records[0].inner_vlan) == (None, None)


def test_ipv6_addresses_are_16_bytes(tmp_path):
    from tests.support.pcapgen import icmp6_echo

    frames = [
        at(0, ether(icmp6_echo("fd00::1", "fd00::2"))),
        at(0.1, ether(icmp6_echo("fd00::2", "fd00::1", reply=True))),
    ]
    (record,), _ = run_all(write_pcap(tmp_path / "v6.pcap", frames))
    assert len(record.orig_addr) == len(record.resp_addr) == 16
    assert (record.orig_port, record.resp_port) == (128, 129)
    assert record.orig_pkts == record.resp_pkts == 1


def test_raw_tuples_follow_flowrecord_field_order(tmp_path):
    path = write_pcap(tmp_path / "c.pcap", [at(i * 0.1, p) for i, p in enumerate(CONVERSATION)])
    native = engine_module._engine.Engine(max_flows=16)
    native.open_file(str(path))
    while native.run(1000) != engine_module._engine.RUN_EOF:
        pass
    assert native.flush() == 0
    (raw,) = native.take()
    native.close()
    assert len(raw) == len(dataclasses.fields(FlowRecord))
    assert type(raw[20]) is int  # the end reason crosses as its number
    from_tuple = FlowRecord(*raw[:20], END_REASONS[raw[20]], *raw[21:])
    (from_objects,), _ = run_all(path)
    assert dataclasses.replace(from_tuple, serial=0) == dataclasses.replace(from_objects, serial=0)


def test_counters_are_named_like_the_engine_header(tmp_path):
    path = write_pcap(tmp_path / "c.pcap", [at(0, c2s("S")), at(0.1, b"\x00" * 10)])
    _, counters = run_all(path)
    assert all(type(v) is int for v in dataclasses.asdict(counters).values())
    native = engine_module._engine.Engine()
    assert set(native.counters()) == {f.name for f in dataclasses.fields(EngineCounters)}
    assert counters.packets_seen == 2
    assert counters.packets_in_flows + counters.truncated == 2
    assert counters.max_flows == 65536
    assert counters.flows_active == 0  # flushed
    assert counters.records_lost == 0


def test_flow_slot_is_at_most_160_bytes_with_its_hash_bucket():
    with Engine(EngineSettings(max_flows=65536)) as engine:
        assert engine.bytes_per_slot <= 160
    with Engine(EngineSettings(max_flows=100_000)) as engine:  # buckets round up to 2^17
        assert engine.bytes_per_slot <= 160
    assert engine_module._engine.SLOT_BYTES <= 152


# ---------------------------------------------------------------- settings


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_flows", 0),
        ("max_flows", (1 << 24) + 1),
        ("max_flows", 1.5),
        ("batch_records", 8),
        ("tcp_idle_timeout_s", 0),
        ("udp_idle_timeout_s", -1),
        ("tcp_linger_s", "5"),
        ("active_timeout_s", 0.5),
        ("active_timeout_s", 3601),
    ],
)
def test_bad_settings_are_usage_errors_naming_the_setting(field, value):
    with pytest.raises(UsageError, match=field):
        EngineSettings(**{field: value})


def test_native_engine_refuses_settings_python_would_refuse():
    with pytest.raises(ValueError, match="active timeout"):
        engine_module._engine.Engine(active_us=3601 * 1_000_000)
    with pytest.raises(ValueError, match="max_flows"):
        engine_module._engine.Engine(max_flows=0)


def test_defaults_match_the_spec():
    s = EngineSettings()
    assert (s.max_flows, s.tcp_idle_timeout_s, s.tcp_syn_idle_timeout_s) == (65536, 300, 30)
    assert (s.udp_idle_timeout_s, s.icmp_idle_timeout_s, s.other_idle_timeout_s) == (60, 60, 60)
    assert (s.tcp_linger_s, s.active_timeout_s, s.batch_records) == (5, 300, 4096)


# ---------------------------------------------------------------- end reasons


def test_handshake_data_and_close_is_sf_with_zeek_history(tmp_path):
    frames = [at(i * 0.1, p) for i, p in enumerate(CONVERSATION)]
    (record,), counters = run_all(write_pcap(tmp_path / "c.pcap", frames))
    assert record.conn_state == "SF"
    assert record.history == "ShADadFf"
    assert (record.orig_pkts, record.resp_pkts) == (5, 4)
    assert (record.orig_bytes, record.resp_bytes) == (9, 10)
    assert record.duration_us == 800_000
    assert record.end_reason == "forced"  # the file ends inside the linger
    assert counters.flows_ended_forced == 1


def test_closed_connection_ends_after_the_linger(tmp_path):
    frames = [at(i * 0.1, p) for i, p in enumerate(CONVERSATION)]
    frames.append(at(0.8 + 5.001, udp_flow(1)))  # later traffic moves the clock past 5 s
    records, counters = run_all(write_pcap(tmp_path / "c.pcap", frames))
    assert [r.end_reason for r in records] == ["end", "forced"]
    assert counters.flows_ended_end == 1


def test_packet_within_the_linger_still_counts(tmp_path):
    frames = [at(i * 0.1, p) for i, p in enumerate(CONVERSATION)]
    frames.append(at(0.8 + 4.9, c2s("A")))  # inside the 5 s linger: same flow
    frames.append(at(0.8 + 4.9 + 5.001, udp_flow(1)))
    records, _ = run_all(write_pcap(tmp_path / "c.pcap", frames))
    assert records[0].end_reason == "end"
    assert records[0].orig_pkts == 6


def test_clock_follows_the_largest_packet_time(tmp_path):
    from tests.support.pcapgen import T0_US

    frames = [at(0, udp_flow(1)), at(2.5, udp_flow(2)), at(1.0, udp_flow(3))]
    with Engine() as engine:
        assert engine.clock_us == 0
        engine.open_file(write_pcap(tmp_path / "c.pcap", frames))
        while not engine.exhausted:
            engine.poll()
        assert engine.clock_us == T0_US + 2_500_000


def test_idle_udp_flow_ends_after_its_timeout(tmp_path):
    frames = [at(0, udp_flow(1)), at(60.0, udp_flow(2)), at(60.000002, udp_flow(3))]
    records, counters = run_all(write_pcap(tmp_path / "u.pcap", frames))
    # At 60 s exactly the first flow is not yet idle (strictly greater), 2 us later it is.
    assert [(r.orig_port, r.end_reason) for r in records] == [
        (10001, "idle"),
        (10002, "forced"),
        (10003, "forced"),
    ]
    assert counters.flows_ended_idle == 1


def test_syn_only_flow_uses_the_short_timeout(tmp_path):
    frames = [at(0, c2s("S")), at(30.5, udp_flow(1))]
    records, _ = run_all(write_pcap(tmp_path / "s.pcap", frames))
    assert (records[0].conn_state, records[0].end_reason) == ("S0", "idle")


def test_long_flow_is_reported_periodically_with_one_serial(tmp_path):
    frames = [at(t, udp_flow(1)) for t in (0, 4, 9.9, 10, 15, 21)]
    settings = EngineSettings(active_timeout_s=10)
    records, counters = run_all(write_pcap(tmp_path / "a.pcap", frames), settings)
    assert [(r.end_reason, r.orig_pkts) for r in records] == [
        ("active", 3),
        ("active", 2),
        ("forced", 1),
    ]
    assert len({r.serial for r in records}) == 1
    assert records[1].ts_us - records[0].ts_us == 10_000_000
    assert records[0].duration_us == 9_900_000
    assert counters.flows_ended_active == 2
    assert counters.flows_created == 1


def test_full_table_ends_the_stalest_flow_as_resources(tmp_path):
    frames = [at(0, udp_flow(1)), at(1, udp_flow(2)), at(2, udp_flow(1)), at(3, udp_flow(3))]
    settings = EngineSettings(max_flows=2)
    records, counters = run_all(write_pcap(tmp_path / "r.pcap", frames), settings)
    # Flow 2 was the stalest when flow 3 needed a slot (flow 1 was touched at 2 s).
    assert (records[0].orig_port, records[0].end_reason) == (10002, "resources")
    assert counters.flows_ended_resources == 1
    assert counters.flows_created == 3


def test_memory_is_fixed_flows_never_exceed_max_flows(tmp_path):
    frames = [at(i * 0.001, udp_flow(i)) for i in range(300)]
    path = write_pcap(tmp_path / "many.pcap", frames)
    settings = EngineSettings(max_flows=8, batch_records=16)
    most_active = 0
    with Engine(settings) as engine:
        engine.open_file(path)
        while not engine.exhausted:
            engine.poll()
            most_active = max(most_active, engine.counters().flows_active)
        engine.flush()
        counters = engine.counters()
    assert most_active == 8
    assert counters.flows_created == 300
    assert counters.flows_ended_resources == 292
    assert counters.flows_ended_forced == 8


def test_results_do_not_depend_on_the_batch_size(tmp_path):
    # Evictions (200 flows into 120 slots), one long flow reported as active, a closed
    # connection, then at 100 s one expiry burst far larger than the smallest ring.
    frames = [at(i * 0.01, udp_flow(i)) for i in range(200)]
    frames += [at(1 + i * 0.1, p) for i, p in enumerate(CONVERSATION)]
    frames += [at(t, ether(udp(B, A, 7000, 7000, b"long"))) for t in range(3, 100, 5)]
    frames += [at(100 + i * 0.01, udp_flow(1000 + i)) for i in range(150)]
    frames.sort(key=lambda frame: frame.ts_us)
    path = write_pcap(tmp_path / "burst.pcap", frames)
    outcomes = []
    for batch in (16, 17, 4096):
        settings = EngineSettings(batch_records=batch, max_flows=120, active_timeout_s=50)
        records, counters = run_all(path, settings)
        outcomes.append((sorted(records, key=lambda r: (r.serial, r.ts_us)), counters))
    assert outcomes[0] == outcomes[1] == outcomes[2]
    counters = outcomes[0][1]
    assert counters.flows_ended_resources > 0
    assert counters.flows_ended_idle > 16  # the burst did not fit the smallest ring
    assert counters.flows_ended_active == 1
    assert counters.records_lost == 0


# ---------------------------------------------------------------- files


def test_pcapng_files_are_read(tmp_path):
    frames = [at(i * 0.1, p) for i, p in enumerate(CONVERSATION)]
    (record,), _ = run_all(write_pcapng(tmp_path / "c.pcapng", frames))
    assert record.conn_state == "SF"


def test_truncated_file_yields_what_was_read_then_fails(tmp_path):
    frames = [at(i * 0.1, p) for i, p in enumerate(CONVERSATION)]
    whole = write_pcap(tmp_path / "whole.pcap", frames).read_bytes()
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(whole[:-10])  # the last frame loses its tail
    got: list[FlowRecord] = []
    with pytest.raises(CaptureError, match=r"truncated.*8 packets were read"):
        for record in summarize_file(cut):
            got.append(record)
    assert len(got) == 1
    assert got[0].orig_pkts + got[0].resp_pkts == 8


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.pcap", None, "no such file"),
        ("empty.pcap", b"", "empty file"),
        ("text.pcap", b"hello, this is not a capture\n" * 4, "not a readable pcap"),
        ("short.pcap", b"\xd4\xc3\xb2\xa1\x02\x00", "not a readable pcap"),
    ],
)
def test_unreadable_files_are_usage_errors(tmp_path, name, content, message):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(UsageError, match=message), Engine() as engine:
        engine.open_file(path)


def test_directory_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="directory"), Engine() as engine:
        engine.open_file(tmp_path)


def test_unknown_link_type_is_named_in_the_error(tmp_path):
    path = write_pcap(tmp_path / "usb.pcap", [at(0, b"\x00" * 64)], linktype=189)
    with pytest.raises(UsageError, match=r"link type 189 \(USB_LINUX\) is not supported"):
        list(summarize_file(path))


def test_several_files_feed_one_flow_table(tmp_path):
    first = write_pcap(
        tmp_path / "1.pcap", [at(i * 0.1, p) for i, p in enumerate(CONVERSATION[:3])]
    )
    second = write_pcap(
        tmp_path / "2.pcap", [at(1 + i * 0.1, p) for i, p in enumerate(CONVERSATION[3:])]
    )
    with Engine() as engine:
        engine.open_file(first)
        engine.open_file(second)
        while not engine.exhausted:
            engine.poll()
        (record,) = engine.flush()
    assert (record.conn_state, record.orig_pkts + record.resp_pkts) == ("SF", 9)


def test_engine_so_environment_variable_loads_that_build(tmp_path):
    built = Path(engine_module._engine.__file__)
    copy = tmp_path / built.name
    copy.write_bytes(built.read_bytes())
    code = "from agent import engine; print(engine._engine.__file__)"
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "IOMT_ENGINE_SO": str(copy)},
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == str(copy)


# ---------------------------------------------------------------- live capture


def _can_capture_on_loopback() -> bool:
    try:
        with Engine() as engine:
            engine.open_live("lo", bpf_filter="udp port 9")
        return True
    except CaptureError:
        return False


live = pytest.mark.skipif(
    not _can_capture_on_loopback(), reason="no permission to capture on lo (needs CAP_NET_RAW)"
)


@live
def test_live_loopback_capture_counts_sent_datagrams():
    port = 40000 + os.getpid() % 20000
    with Engine() as engine:
        engine.open_live("lo", bpf_filter=f"udp and port {port}")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            for _ in range(5):
                sock.sendto(b"ping", ("127.0.0.1", port))
        records: list[FlowRecord] = []
        deadline = time.monotonic() + 5
        while engine.counters().packets_seen < 5 and time.monotonic() < deadline:
            records.extend(engine.poll(100))
        records.extend(engine.flush())
    (record,) = records
    assert record.resp_port == port
    assert record.orig_pkts == 5  # the filter kept everything else out
    assert record.orig_bytes == 5 * 4


@live
def test_live_capture_with_a_small_ring_loses_no_flow():
    # 60 flows (one per destination port) through 4 slots: evictions fill the 16-record
    # ring again and again while packets keep coming.
    first = 20000 + os.getpid() % 10000
    settings = EngineSettings(max_flows=4, batch_records=16)
    records: list[FlowRecord] = []
    with Engine(settings) as engine:
        engine.open_live("lo", bpf_filter=f"udp and dst portrange {first}-{first + 59}")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            for port in range(first, first + 60):
                sock.sendto(b"ping", ("127.0.0.1", port))
        deadline = time.monotonic() + 5
        while engine.counters().packets_seen < 60 and time.monotonic() < deadline:
            records.extend(engine.poll(100))
        records.extend(engine.flush())
        counters = engine.counters()
    assert counters.packets_seen == 60
    assert sorted(r.resp_port for r in records) == list(range(first, first + 60))
    assert counters.flows_ended_resources == 56
    assert counters.records_lost == 0


@live
def test_kernel_drops_are_counted_not_silent():
    # A burst larger than a minimal capture buffer while nobody reads it.
    port = 46000 + os.getpid() % 5000
    with Engine() as engine:
        engine.open_live("lo", buffer_bytes=65536, bpf_filter=f"udp and port {port}")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            for _ in range(2000):
                sock.sendto(b"x" * 1000, ("127.0.0.1", port))
        engine.poll(100)
        counters = engine.counters()
    assert counters.packets_seen < 2000
    assert counters.kernel_drops > 0


@live
def test_stop_from_another_thread_ends_a_long_poll():
    with Engine() as engine:
        engine.open_live("lo", bpf_filter="udp port 9")
        timer = threading.Timer(0.3, engine.stop)
        started = time.monotonic()
        timer.start()
        engine.poll(20_000)
        elapsed = time.monotonic() - started
        timer.join()
    assert elapsed < 5


@live
def test_idle_live_capture_expires_flows_by_the_wall_clock():
    settings = EngineSettings(udp_idle_timeout_s=0.2)
    port = 30000 + os.getpid() % 10000
    with Engine(settings) as engine:
        engine.open_live("lo", bpf_filter=f"udp and port {port}")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.sendto(b"x", ("127.0.0.1", port))
        records: list[FlowRecord] = []
        deadline = time.monotonic() + 5
        while not records and time.monotonic() < deadline:
            records.extend(engine.poll(200))  # no traffic at all: only time passes
    assert [r.end_reason for r in records] == ["idle"]


_VANISHING_INTERFACE = """
import subprocess, sys
from agent.engine import Engine
from agent.errors import CaptureError
engine = Engine()
engine.open_live("v0")
engine.poll(50)
subprocess.run(["ip", "link", "del", "v0"], check=True)
try:
    for _ in range(50):
        engine.poll(50)
except CaptureError as exc:
    print("error:", exc)
engine.open_live("v2")  # the failed source left its place: another can be opened
print("reopened")
"""


# Another thread calls stop() over and over while a source fails and is removed: stop()
# used to walk the sources (pcap_breakloop on each) while the loop closed one and shifted
# the array; under tools/sanitize.sh that is a use-after-free.
_STOP_WHILE_A_SOURCE_FAILS = """
import subprocess, threading, time
from agent.engine import Engine
from agent.errors import CaptureError
engine = Engine()
engine.open_live("v2")
engine.open_live("v0")
done = threading.Event()
stops = 0
def keep_stopping():
    global stops
    while not done.is_set():
        engine.stop()
        stops += 1
stopper = threading.Thread(target=keep_stopping)
stopper.start()
engine.poll(20)
subprocess.run(["ip", "link", "del", "v0"], check=True)
errors = 0
for _ in range(300):
    try:
        engine.poll(5)
    except CaptureError:
        errors += 1
done.set()
stopper.join()
# A stop wins every race with the failing source while the stopper runs; on a loaded
# machine all 300 polls may end that way, so the error must still come once after.
deadline = time.monotonic() + 10
while not errors and time.monotonic() < deadline:
    try:
        engine.poll(5)
    except CaptureError:
        errors += 1
engine.close()
print(errors, stops > 100)
"""


@pytest.fixture
def namespace():
    """A network namespace of our own with two veth pairs (v0/v1, v2/v3), all up."""
    name = f"iomt-engine-{os.getpid()}"
    try:
        subprocess.run(["ip", "netns", "add", name], check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"cannot create a network namespace here: {exc}")
    try:
        for a, b in (("v0", "v1"), ("v2", "v3")):
            ip = ["ip", "-n", name, "link"]
            subprocess.run([*ip, "add", a, "type", "veth", "peer", "name", b], check=True)
            subprocess.run([*ip, "set", a, "up"], check=True)
            subprocess.run([*ip, "set", b, "up"], check=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


_TWO_SPAN_PORTS = """
import time
from scapy.all import Ether, IP, UDP, sendp
from agent.engine import Engine
with Engine() as engine:
    engine.open_live("v0", bpf_filter="udp and port 2575")
    engine.open_live("v2", bpf_filter="udp and port 2575")
    engine.poll(50)
    # One conversation, each direction mirrored to a different port (v1 -> v0, v3 -> v2).
    to_server = Ether() / IP(src="10.7.0.1", dst="10.7.0.2") / UDP(sport=40001, dport=2575)
    to_client = Ether() / IP(src="10.7.0.2", dst="10.7.0.1") / UDP(sport=2575, dport=40001)
    sendp(to_server / b"MSH|", iface="v1", count=3, verbose=False)
    sendp(to_client / b"MSA|", iface="v3", count=2, verbose=False)
    deadline = time.monotonic() + 5
    while engine.counters().packets_seen < 5 and time.monotonic() < deadline:
        engine.poll(50)
    for r in engine.flush():
        print(r.orig_port, r.resp_port, r.orig_pkts, r.resp_pkts, r.conn_state)
"""


def run_in_namespace(namespace: str, program: str) -> subprocess.CompletedProcess[str]:
    """A Python program run inside the namespace (where its veth pairs are)."""
    return subprocess.run(
        ["ip", "netns", "exec", namespace, sys.executable, "-c", program],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_two_span_ports_feed_one_flow_table(namespace):
    result = run_in_namespace(namespace, _TWO_SPAN_PORTS)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["40001", "2575", "3", "2", "SF"]


def test_vanished_interface_is_reported_once_naming_it(namespace):
    result = run_in_namespace(namespace, _VANISHING_INTERFACE)
    assert result.returncode == 0, result.stderr
    error, reopened = result.stdout.splitlines()
    assert error.startswith("error: capture failed: v0: ")
    assert reopened == "reopened"


def test_stop_from_another_thread_while_a_source_fails_is_safe(namespace):
    result = run_in_namespace(namespace, _STOP_WHILE_A_SOURCE_FAILS)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["1", "True"]


@live
def test_bad_bpf_filter_is_a_usage_error():
    with pytest.raises(UsageError, match=r"lo: bad capture filter \"port banana\""), Engine() as e:
        e.open_live("lo", bpf_filter="port banana")


def test_missing_interface_is_a_capture_error_naming_it():
    with pytest.raises(CaptureError, match="nosuchif0"), Engine() as engine:
        engine.open_live("nosuchif0")


def test_at_most_eight_sources(tmp_path):
    path = write_pcap(tmp_path / "one.pcap", [at(0, udp_flow(1))])
    with Engine() as engine:
        for _ in range(8):
            engine.open_file(path)
        with pytest.raises(UsageError, match="at most 8"):
            engine.open_file(path)


# ---------------------------------------------------------------- hash keys


GETRANDOM_FAILS = r"""
#include <errno.h>
#include <stddef.h>
#include <sys/types.h>
ssize_t getrandom(void *buf, size_t len, unsigned flags)
{
    (void)buf; (void)len; (void)flags;
    errno = ENOSYS;
    return -1;
}
"""


def test_a_failed_getrandom_is_counted_as_hash_keys_from_the_clock(tmp_path):
    import shutil

    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        pytest.skip("no C compiler on the PATH (build.sh installs gcc)")
    source = tmp_path / "getrandom_fails.c"
    source.write_text(GETRANDOM_FAILS)
    shim = tmp_path / "getrandom_fails.so"
    subprocess.run([compiler, "-shared", "-fPIC", str(source), "-o", str(shim)], check=True)
    probe = "from agent.engine import Engine; print(Engine().hash_keys_from_clock)"
    # After any preloaded sanitizer runtime (tools/sanitize.sh): ASan must come first.
    preload = ":".join(filter(None, [os.environ.get("LD_PRELOAD"), str(shim)]))
    failing = subprocess.run(
        [sys.executable, "-c", probe],
        env={**os.environ, "LD_PRELOAD": preload},
        capture_output=True,
        text=True,
        check=True,
    )
    # The flow table's key, the fragment memory's and the device table's.
    assert int(failing.stdout) >= 2
    healthy = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert int(healthy.stdout) == 0


# ---------------------------------------------------------------- allocation failures


def test_every_failed_allocation_in_devices_is_a_memory_error(tmp_path):
    # Each allocation of one devices() call fails in turn (only that one): the call
    # raises MemoryError, or (past its last allocation) returns the full answer; never a
    # SystemError or a half-built tuple. (PyTuple_SetItem takes a NULL item and reports
    # success; the binding used to go on building with MemoryError set. That path did
    # not surface here before the fix either: the caller checked PyErr_Occurred.)
    _testcapi = pytest.importorskip("_testcapi")
    from tests.support import medical as m

    cap = m.CaptureBuilder()
    router = m.ROUTER_MAC
    for i in range(4):  # one device with four IPv4 addresses and services
        host = m.Host(router, f"172.16.0.{i + 1}")
        cap.udp(m.Host("00:1a:5c:00:00:38", "10.4.2.38"), host, 40000 + i, 161, b"get")
        cap.udp(host, m.Host("00:1a:5c:00:00:38", "10.4.2.38"), 161, 40000 + i, b"re")
    path = cap.write(tmp_path / "devices.pcap")
    with Engine(EngineSettings(max_devices=16)) as engine:
        engine.open_file(path)
        while not engine.exhausted:
            engine.poll()
        native = engine._native
        expected = native.devices(False)
        failures = 0
        for nth in range(1, 120):
            _testcapi.set_nomemory(nth, nth + 1)
            try:
                result = native.devices(False)
            except MemoryError:
                failures += 1
                continue
            finally:
                _testcapi.remove_mem_hooks()
            assert result == expected
        assert failures > 10  # the failures did land inside the call
