"""`flows --json` lines written by C (native/json_lines.c, issue 17) are byte for byte what
agent/flowrecord.py's FlowRecord.to_json gives through json.JSONEncoder(separators=(",",
":")), and its SHA-1 and BLAKE2b (native/sha1.c, native/blake2b.c) are hashlib's.

- the digests: known-answer vectors (native/tests/test_digests.c) and thousands of random
  messages, keys and digest sizes against hashlib;
- floats: repr(us / 1e6) for random microsecond counts over the whole range;
- made-up records no capture reaches (serials and times near 2^64, names with bytes that
  need escapes, every ICMP type) through native/tests/test_json_lines.c;
- every record of real captures through the engine's write_json_lines/flush_json_lines,
  against the Python lines of the same records in the same order: a wing capture
  (tools/wingcap), random traffic of every kind with times near 2^64 (a tiny ring, so a
  flush takes many rounds), IPv6/VLAN/ICMP/server names, a flow-heavy sweep, and tcpdump's
  sample captures (kept next to the repository, read in place);
- the descriptor: a non-blocking pipe (EAGAIN), a reader gone (BrokenPipeError), a bad
  descriptor (OSError), and `flows --json | head` ending quietly as before.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import struct
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from agent.engine import Engine, EngineSettings
from agent.errors import CaptureError, UsageError
from agent.flowrecord import FlowRecord
from tests.support import pcapgen
from tests.support.pcapgen import Frame, at, ether, icmp, icmp6_echo, sctp, tcp, udp
from tests.support.trafficgen import random_frames
from tests.test_differential import with_time_jumps

REPO = Path(__file__).resolve().parent.parent
NATIVE = REPO / "native"
TCPDUMP_CAPTURES = REPO.parent / "shared" / "pcaps" / "tcpdump"
WARNINGS = ["-std=c11", "-Wall", "-Wextra", "-Werror", "-Wno-missing-field-initializers"]
ENCODE = json.JSONEncoder(separators=(",", ":")).encode
BOOT_ID = bytes(range(16))
EXACT_US_LIMIT = 2**33 * 10**6  # json_lines.c writes times below it from the integer
BUSY = EngineSettings(
    max_flows=48,
    udp_idle_timeout_s=5,
    icmp_idle_timeout_s=4,
    other_idle_timeout_s=6,
    tcp_idle_timeout_s=20,
    tcp_syn_idle_timeout_s=3,
    tcp_linger_s=1,
    active_timeout_s=15,
    batch_records=16,  # the smallest ring: a flush takes many rounds
)


def python_line(record: FlowRecord, boot_id: bytes = BOOT_ID) -> bytes:
    return (ENCODE(record.to_json(boot_id)) + "\n").encode("ascii")


# ---------------------------------------------------------------- the C test programs


def build(tmp_path: Path, name: str, *sources: Path) -> Path:
    compiler = shutil.which("cc") or shutil.which("gcc")
    assert compiler, "no C compiler (build.sh installs gcc)"
    binary = tmp_path / name
    flags = [*WARNINGS, "-D_GNU_SOURCE", "-O2", f"-I{NATIVE}"]
    subprocess.run(
        [compiler, *flags, *map(str, sources), "-o", str(binary)],
        check=True,
        capture_output=True,
        text=True,
    )
    return binary


@pytest.fixture(scope="module")
def digests(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("digests")
    return build(
        tmp,
        "test_digests",
        NATIVE / "tests" / "test_digests.c",
        NATIVE / "sha1.c",
        NATIVE / "blake2b.c",
    )


@pytest.fixture(scope="module")
def lines_program(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("json_lines")
    extractors = sorted(NATIVE.glob("extract_*.c"))  # APP_SERVICE_NAMES lives there
    return build(
        tmp,
        "test_json_lines",
        NATIVE / "tests" / "test_json_lines.c",
        NATIVE / "json_lines.c",
        NATIVE / "sha1.c",
        NATIVE / "blake2b.c",
        NATIVE / "fingerprint.c",
        *extractors,
    )


def run_lines(program: Path, requests: list[str]) -> list[str]:
    run = subprocess.run(
        [str(program)], input="".join(r + "\n" for r in requests), capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    return run.stdout.splitlines()


# ---------------------------------------------------------------- digests


def test_digests_pass_their_known_answer_vectors(digests):
    run = subprocess.run([str(digests)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "268 passed, 0 failed"


def test_digests_match_hashlib_on_random_inputs(digests):
    import hashlib

    rng = random.Random(17)
    cases: list[tuple[str, int, bytes, bytes]] = []
    # Every message length around SHA-1's and BLAKE2b's block and padding boundaries ...
    for length in range(0, 300):
        cases.append(("sha1", 20, b"", rng.randbytes(length)))
        key = rng.randbytes(rng.choice([0, 1, 16, 63, 64]))
        cases.append(("blake2b", rng.randint(1, 64), key, rng.randbytes(length)))
    # ... then random ones, with flow_uid's and Community ID's own shapes among them.
    for _ in range(3000):
        cases.append(("sha1", 20, b"", rng.randbytes(rng.choice([16, 40, rng.randint(0, 2000)]))))
        key = rng.randbytes(rng.randint(0, 64))
        message = rng.randbytes(rng.choice([8, rng.randint(0, 1000)]))
        cases.append(("blake2b", rng.choice([13, rng.randint(1, 64)]), key, message))
    request = "".join(
        f"{alg} {size} {key.hex() or '-'} {message.hex() or '-'}\n"
        for alg, size, key, message in cases
    )
    run = subprocess.run(
        [str(digests), "diff"], input=request, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr
    got = run.stdout.splitlines()
    want = [
        hashlib.sha1(message).hexdigest()
        if alg == "sha1"
        else hashlib.blake2b(message, key=key, digest_size=size).hexdigest()
        for alg, size, key, message in cases
    ]
    assert len(got) == len(want) == 6600
    assert got == want


# ---------------------------------------------------------------- floats


def test_seconds_are_reprs_of_the_microseconds_over_1e6(lines_program):
    rng = random.Random(33)
    values = list(range(0, 2001)) + [10**k for k in range(17)] + [10**k - 1 for k in range(1, 17)]
    values += [rng.randrange(EXACT_US_LIMIT) for _ in range(20000)]
    values += [rng.randrange(10 ** rng.randint(1, 16)) for _ in range(20000)]  # every size
    values += [1_772_438_400_000_000 + rng.randrange(10**9) for _ in range(10000)]  # today
    values += [EXACT_US_LIMIT - 1 - i for i in range(2000)]  # up to the exact path's end
    values += [2**53 - 1, 2**33 * 10**6 - 1]
    got = run_lines(lines_program, [f"S {v}" for v in values])
    mismatches = [
        (v, g, repr(v / 1e6)) for v, g in zip(values, got, strict=True) if g != repr(v / 1e6)
    ]
    assert mismatches == []


def test_seconds_past_2_to_the_33_use_the_shortest_text(lines_program):
    # Beyond the exact path the binding prints with CPython's repr; the plain C fallback
    # (for the fuzz harness) reads back as the same double.
    rng = random.Random(34)
    values = [EXACT_US_LIMIT + i for i in range(200)] + [2**64 - 1 - i for i in range(200)]
    values += [rng.randrange(EXACT_US_LIMIT, 2**64) for _ in range(2000)]
    got = run_lines(lines_program, [f"S {v}" for v in values])
    assert [float(g) for g in got] == [v / 1e6 for v in values]
    assert sum(g == repr(v / 1e6) for v, g in zip(values, got, strict=True)) >= 0.99 * len(values)


# ---------------------------------------------------------------- made-up records


END_REASONS = ("idle", "active", "end", "forced", "resources")
ICMP_PROTOS = (1, 58)


def record_request(record: FlowRecord, key: bytes) -> str:
    def hexed(data: bytes | None) -> str:
        return data.hex() if data else "-"

    vlans = [v for v in (record.vlan, record.inner_vlan) if v is not None]
    mac_seen = (record.orig_l2_addr is not None) | (record.resp_l2_addr is not None) << 1
    name = record.server_name.encode("utf-8") if record.server_name is not None else b""
    fields = [
        "R",
        hexed(key),
        record.serial,
        record.ts_us,
        record.duration_us,
        record.proto,
        6 if len(record.orig_addr) == 16 else 4,
        record.orig_addr.hex(),
        record.resp_addr.hex(),
        record.orig_port,
        record.resp_port,
        len(vlans),
        *[*vlans, 0, 0][:2],
        record.orig_pkts,
        record.resp_pkts,
        record.orig_ip_bytes,
        record.resp_ip_bytes,
        record.orig_bytes,
        record.resp_bytes,
        hexed(record.conn_state.encode()),
        hexed(record.history.encode()),
        END_REASONS.index(record.end_reason),
        0,  # service: the captures below carry every label the extractors give
        mac_seen,
        hexed(record.orig_l2_addr or b"\0" * 6),
        hexed(record.resp_l2_addr or b"\0" * 6),
        hexed(name),
    ]
    return " ".join(map(str, fields))


def random_record(rng: random.Random, **fixed) -> FlowRecord:
    v6 = rng.random() < 0.4
    size = 16 if v6 else 4

    def address() -> bytes:
        roll = rng.random()
        if v6 and roll < 0.3:  # zero runs, ::1, v4-mapped and -compatible forms
            words = [rng.choice([0, 0, 0, 1, 0xFFFF, rng.randrange(65536)]) for _ in range(8)]
            return struct.pack(">8H", *words)
        return rng.randbytes(size)

    proto = rng.choice([1, 6, 17, 58, 132, 47, 0, 255])
    orig, resp = address(), address()
    if rng.random() < 0.1:
        resp = orig  # same address: the ports order the Community ID
    counter = lambda: rng.choice([0, 1, rng.randrange(2**32), rng.randrange(2**64)])  # noqa: E731
    vlan_count = rng.choice([0, 0, 1, 2])
    fields = dict(
        serial=rng.choice([0, 1, rng.randrange(2**64), 2**64 - 1, 2**63]),
        ts_us=rng.choice([0, rng.randrange(EXACT_US_LIMIT), 1_772_438_400_000_000]),
        duration_us=rng.choice([0, 1, 99, 100, rng.randrange(3_600_000_001)]),
        proto=proto,
        orig_addr=orig,
        orig_port=rng.randrange(256) if proto in ICMP_PROTOS else rng.randrange(65536),
        resp_addr=resp,
        resp_port=rng.randrange(65536),
        vlan=rng.randrange(4096) if vlan_count else None,
        inner_vlan=rng.randrange(4096) if vlan_count == 2 else None,
        orig_pkts=counter(),
        orig_ip_bytes=counter(),
        orig_bytes=counter(),
        resp_pkts=counter(),
        resp_ip_bytes=counter(),
        resp_bytes=counter(),
        orig_tcp_flags=0,
        resp_tcp_flags=0,
        conn_state=rng.choice(["S0", "SF", "REJ", "RSTOS0", "OTH"]),
        history=rng.choice(["", "S", "ShADadFf", "^hADdFfRr", "DdAaFfRrCcTtWw^S"]),
        end_reason=rng.choice(END_REASONS),
        orig_l2_addr=rng.randbytes(6) if rng.random() < 0.7 else None,
        resp_l2_addr=rng.randbytes(6) if rng.random() < 0.5 else None,
        server_name=rng.choice([None, "pacs.example.org", "x" * 253]),
    )
    fields.update(fixed)
    return FlowRecord(**fields)


def check_records(program: Path, records: list[FlowRecord], keys: list[bytes]) -> None:
    got = run_lines(program, [record_request(r, k) for r, k in zip(records, keys, strict=True)])
    want = [python_line(r, k)[:-1].decode() for r, k in zip(records, keys, strict=True)]
    assert len(got) == len(want)
    for line, expected in zip(got, want, strict=True):
        assert line == expected


def test_random_records_give_the_python_lines(lines_program):
    rng = random.Random(71)
    records = [random_record(rng) for _ in range(4000)]
    # boot ids of every length flow_uid takes: empty (unkeyed), short, 64, longer (cut)
    keys = [rng.randbytes(rng.choice([0, 1, 16, 64, 100])) for _ in records]
    check_records(lines_program, records, keys)


def test_edge_records_give_the_python_lines(lines_program):
    rng = random.Random(72)
    edges = [
        random_record(rng, serial=2**64 - 1),
        random_record(rng, serial=2**64 - 2),
        random_record(rng, serial=0),
        random_record(rng, ts_us=EXACT_US_LIMIT - 1, duration_us=0),
        random_record(rng, ts_us=0, duration_us=0),
        random_record(rng, duration_us=1),  # 1e-06
        random_record(rng, duration_us=3_600_000_000),
    ]
    # Every ICMP type one way and the other, v4 and v6: the one-way rule of Community ID.
    for proto in ICMP_PROTOS:
        for icmp_type in range(256):
            edges.append(random_record(rng, proto=proto, orig_port=icmp_type))
    # Names: every printable byte (the engine keeps '!'..'~'), '"' and '\\' among them,
    # and what json escapes: control characters, DEL, 2-, 3- and 4-byte UTF-8.
    printable = "".join(map(chr, range(0x21, 0x7F)))
    names = [printable, '"', "\\", 'a"b\\c', "\x7f", "é.example", "名前.example", "𝄞.example"]
    names += ["".join(map(chr, range(1, 0x20)))]
    names += [
        "".join(
            chr(rng.choice([rng.randrange(1, 0xD800), rng.randrange(0xE000, 0x110000)]))
            for _ in range(60)
        )
        for _ in range(50)
    ]
    for name in names:
        edges.append(random_record(rng, server_name=name))
    edges.append(random_record(rng, conn_state='S"\\', history="\t\n\r\b\f\x01"))
    check_records(lines_program, edges, [BOOT_ID] * len(edges))


# ---------------------------------------------------------------- through the engine


def c_lines(path: Path, settings: EngineSettings | None, tmp_path: Path) -> tuple[bytes, int]:
    """What flows --json writes: poll_json_lines until the end, then flush_json_lines."""
    out = tmp_path / "c.jsonl"
    written = 0
    with open(out, "wb") as file, Engine(settings) as engine:
        engine.open_file(path)
        while not engine.exhausted:
            try:
                written += engine.poll_json_lines(file.fileno(), BOOT_ID)
            except CaptureError:
                break
        written += engine.flush_json_lines(file.fileno(), BOOT_ID)
        counters = engine.counters()
    ended = sum(
        getattr(counters, f"flows_ended_{reason}")
        for reason in ("idle", "active", "end", "forced", "resources")
    )
    assert written == ended  # every record left the ring once
    return out.read_bytes(), written


def python_lines(path: Path, settings: EngineSettings | None) -> bytes:
    """The same through FlowRecord.to_json, as flows --json wrote them before issue 17."""
    lines = []
    with Engine(settings) as engine:
        engine.open_file(path)
        while not engine.exhausted:
            try:
                records = engine.poll()
            except CaptureError:
                break
            lines += map(python_line, records)
        lines += map(python_line, engine.flush())
    return b"".join(lines)


def assert_same_lines(path: Path, tmp_path: Path, settings: EngineSettings | None = None) -> int:
    got, written = c_lines(path, settings, tmp_path)
    want = python_lines(path, settings)
    if got != want:  # show the first differing line, not two megabytes
        for mine, theirs in zip(got.splitlines(), want.splitlines(), strict=False):
            assert mine == theirs
    assert got == want
    assert got.count(b"\n") == written
    return written


def test_a_wing_capture(tmp_path):
    path = tmp_path / "wing.pcap"
    subprocess.run(
        [sys.executable, "-m", "tools.wingcap", str(path), "--packets", "20000"],
        cwd=REPO,
        check=True,
        capture_output=True,
    )
    written = assert_same_lines(path, tmp_path)
    assert written > 900
    lines = [json.loads(line) for line in (tmp_path / "c.jsonl").read_text().splitlines()]
    assert any("server_name" in line for line in lines)
    assert any("service" in line for line in lines)
    assert any("vlan" in line for line in lines)
    assert any("orig_l2_addr" in line for line in lines)


@pytest.mark.parametrize("seed", [41, 42])
def test_random_traffic_with_times_near_2_to_the_64(tmp_path, seed):
    # Every protocol and flag mix, VLAN and QinQ, IPv6, fragments, evictions, frames from
    # the far future (2^64 - 1 us: CPython's repr writes those times): a 48-flow table and
    # a 16-record ring, so a flush ends its flows over many rounds.
    frames = with_time_jumps(random_frames(seed, 4000, "ethernet"), seed=seed)
    path = pcapgen.write_pcapng(tmp_path / "jumps.pcapng", frames)
    assert_same_lines(path, tmp_path, BUSY)
    lines = [json.loads(line) for line in (tmp_path / "c.jsonl").read_text().splitlines()]
    assert {line["proto"] for line in lines} >= {"tcp", "udp", "icmp", "sctp", 47}
    assert any("inner_vlan" in line for line in lines)
    assert any(line["ts"] > 2**33 for line in lines)  # past the exact path
    assert {line["end_reason"] for line in lines} == set(END_REASONS)


def test_ipv6_vlans_icmp_macs_and_server_names(tmp_path):
    from tests.test_golden_server_names import named_capture

    a6, b6 = "2001:db8::5", "2001:db8:0:1::9"
    frames = [
        at(0.0, ether(tcp(a6, b6, 40000, 443, "S"), vlans=[10, 20])),
        at(0.1, ether(tcp(b6, a6, 443, 40000, "SA"), vlans=[10, 20], src=pcapgen.MAC_B)),
        at(0.2, ether(icmp6_echo("fe80::1", "ff02::1"))),
        at(0.3, ether(icmp6_echo("::ffff:10.0.0.1", "::1", reply=True))),
        at(0.4, ether(icmp("10.0.0.1", "10.0.0.2", 3, 3), vlans=[7])),  # one-way
        at(0.5, ether(icmp("10.0.0.2", "10.0.0.1", 8))),
        at(0.6, ether(sctp("10.0.0.1", "10.0.0.2", 2905, 2905))),
        at(0.7, ether(udp("10.0.0.9", "10.0.0.3", 53, 53))),  # same ports: address order
    ]
    path = pcapgen.write_pcap(tmp_path / "mixed.pcap", frames)
    assert assert_same_lines(path, tmp_path) == 7
    assert assert_same_lines(named_capture(tmp_path), tmp_path) >= 5
    assert b'"server_name":"pacs.example.org"' in (tmp_path / "c.jsonl").read_bytes()


def flow_heavy(path: Path, flows: int) -> Path:
    """A SYN sweep (one packet per flow, some answered by RST) and DNS query/answer pairs."""
    frames: list[Frame] = []
    t = pcapgen.T0_US
    rng = random.Random(5)
    for i in range(flows):
        t += rng.randrange(1, 200)
        host = f"10.40.{i // 250 % 250}.{i % 250 + 1}"
        if i % 2:
            frames.append(Frame(t, ether(tcp("10.9.0.7", host, 40000 + i % 20000, 22, "S")), 0))
            if i % 10 == 1:
                frames.append(
                    Frame(t + 90, ether(tcp(host, "10.9.0.7", 22, 40000 + i % 20000, "RA")), 0)
                )
        else:
            query = udp(host, "10.0.0.53", 30000 + i % 30000, 53, b"q" * 30)
            frames.append(Frame(t, ether(query), 0))
            frames.append(
                Frame(t + 300, ether(udp("10.0.0.53", host, 53, 30000 + i % 30000, b"a" * 46)), 0)
            )
    frames = [Frame(f.ts_us, f.data, len(f.data)) for f in sorted(frames, key=lambda f: f.ts_us)]
    return pcapgen.write_pcap(path, frames)


def test_a_flow_heavy_sweep_with_evictions(tmp_path):
    path = flow_heavy(tmp_path / "sweep.pcap", 3000)
    settings = EngineSettings(max_flows=256, batch_records=64)  # resources evictions
    assert assert_same_lines(path, tmp_path, settings) == 3000
    assert assert_same_lines(path, tmp_path) == 3000  # defaults: all forced at the end


def tcpdump_captures() -> list[Path]:
    return sorted(TCPDUMP_CAPTURES.glob("*")) if TCPDUMP_CAPTURES.is_dir() else []


def test_the_tcpdump_sample_captures(tmp_path):
    captures = tcpdump_captures()
    assert captures, f"{TCPDUMP_CAPTURES} is missing (it sits next to the repository)"
    compared = records = 0
    for path in captures:
        try:
            written = assert_same_lines(path, tmp_path)
        except UsageError:
            continue  # not a capture the engine reads: test_robustness covers refusal
        compared += 1
        records += written
    assert compared >= 290 and records >= 400, (compared, records)


# ---------------------------------------------------------------- the descriptor


def test_a_non_blocking_pipe_gets_every_line(tmp_path):
    path = flow_heavy(tmp_path / "sweep.pcap", 2000)
    want = python_lines(path, None)
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)  # writes meet EAGAIN while the reader is slow
    chunks: list[bytes] = []

    def reader() -> None:
        import time

        while chunk := os.read(read_end, 4096):
            chunks.append(chunk)
            time.sleep(0.0005)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        with Engine() as engine:
            engine.open_file(path)
            while not engine.exhausted:
                engine.poll_json_lines(write_end, BOOT_ID)
            engine.flush_json_lines(write_end, BOOT_ID)
    finally:
        os.close(write_end)
        thread.join()
        os.close(read_end)
    assert b"".join(chunks) == want


def test_a_reader_gone_is_a_broken_pipe_and_the_records_are_taken(tmp_path):
    path = flow_heavy(tmp_path / "sweep.pcap", 500)
    read_end, write_end = os.pipe()
    os.close(read_end)
    with Engine() as engine:
        engine.open_file(path)
        while not engine.exhausted:
            engine.poll()
        with pytest.raises(BrokenPipeError):
            engine.flush_json_lines(write_end, BOOT_ID)
        assert engine.take() == []  # they left the ring, once
        assert engine.counters().flows_active == 0
    os.close(write_end)


def test_a_bad_descriptor_is_an_os_error(tmp_path):
    path = flow_heavy(tmp_path / "sweep.pcap", 10)
    read_end, write_end = os.pipe()
    os.close(read_end)
    os.close(write_end)
    with Engine() as engine:
        engine.open_file(path)
        with pytest.raises(OSError) as raised:
            while not engine.exhausted:
                engine.poll()
            engine.flush_json_lines(write_end, BOOT_ID)
        assert raised.value.errno == 9  # EBADF


def test_flows_json_into_head_ends_quietly(tmp_path):
    # `iomt-agent flows x.pcap --json | head -1`: exit 0, nothing on stderr (as before).
    path = flow_heavy(tmp_path / "sweep.pcap", 4000)  # ~1.3 MB of lines: more than a pipe
    pipeline = (
        f"{sys.executable} -m agent flows {path} --json | head -1; "
        'echo "status ${PIPESTATUS[0]}" >&2'
    )
    run = subprocess.run(
        ["bash", "-c", pipeline], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert json.loads(run.stdout)["uid"].startswith("C")
    assert run.stderr == "status 0\n"


def test_flows_json_prints_every_record_then_the_summary(tmp_path):
    path = flow_heavy(tmp_path / "sweep.pcap", 1000)
    run = subprocess.run(
        [sys.executable, "-m", "agent", "flows", str(path), "--json"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert len(lines) == 1000
    # The same records as the Python lines, up to the uid (a new boot id per run).
    want = python_lines(path, None).decode().splitlines()
    for mine, theirs in zip(lines, want, strict=True):
        got, expected = json.loads(mine), json.loads(theirs)
        assert got.pop("uid") != expected.pop("uid")
        assert got == expected
    assert run.stderr.startswith("packets seen ") and run.stderr.endswith("flows 1000\n")
