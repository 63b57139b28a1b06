"""Benchmark: the flow engine against softflowd and the bare libpcap read loop, one run.

    .venv/bin/python -m bench.bench_flows [--packets 1000000] [--repeat 5] [--write]

Generates (once, cached in bench/out/) the hospital-wing capture with tools/wingcap.py,
full frames and the same traffic cut to 128-byte frames (headers only), and its ground
truth. Then, file in page cache, the tools take turns, `--repeat` rounds, medians:

  floor       bench/pcap_floor.c: pcap_open_offline + pcap_dispatch counting frames
  softflowd   softflowd -r FILE, exporting IPFIX biflows to a local UDP socket we read
  flows       the whole `iomt-agent flows FILE` command, output to /dev/null
  flows-json  the same with --json
  startup     `iomt-agent --version`: interpreter and CLI start-up, to split the above
  engine      agent.engine in-process (bench/engine_alone.py), time around the poll loop

Processes are timed by wall clock from spawn to exit; peak RSS comes from wait4().
Also checked once per capture, outside the timing: the engine's records and counters,
and `flows --json`, against the generator's ground truth (exact match, or the diff).
`--write` puts the result into docs/PERFORMANCE.md between its bench markers.
"""

from __future__ import annotations

import argparse
import collections
import datetime
import json
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "bench" / "out"
DOC = REPO / "docs" / "PERFORMANCE.md"
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"
HEADERS_ONLY_SNAPLEN = 128
TOOLS = ("floor", "softflowd", "flows", "flows-json", "engine", "startup")

# Issue 2 targets.
TARGET_ENGINE_PPS = 3_000_000
TARGET_FLOOR_RATIO = 2.0
TARGET_BYTES_PER_SLOT = 160
TARGET_FLOWS_RSS_MB = 64


@dataclass
class Capture:
    label: str
    pcap: Path
    truth: Path
    packets: int
    file_bytes: int


@dataclass
class Runs:
    seconds: list[float] = field(default_factory=list)
    rss_kb: list[int] = field(default_factory=list)
    notes: dict[str, Any] = field(default_factory=dict)


# ---- preparing ----


def ensure_capture(packets: int, seed: int, snaplen: int, label: str) -> Capture:
    """The cached capture for these parameters, generated when missing or stale."""
    from tools import wingcap

    name = f"wing-{packets}-s{seed}" + (f"-snap{snaplen}" if snaplen < 65535 else "")
    pcap = OUT / f"{name}.pcap"
    truth = wingcap.truth_path_for(pcap)
    fresh = False
    # generate() writes the truth after the capture: a truth newer than its capture,
    # made with these parameters, means the capture was written completely.
    if pcap.exists() and truth.exists() and truth.stat().st_mtime >= pcap.stat().st_mtime:
        _, summary = wingcap.load_truth(truth)
        made_with = (summary.get("generator_version"), summary.get("snaplen"), summary.get("seed"))
        fresh = made_with == (wingcap.GENERATOR_VERSION, snaplen, seed)
        fresh = fresh and summary.get("packets_requested") == packets
    if not fresh:
        print(f"generating {pcap.name} ...", file=sys.stderr)
        wingcap.generate(pcap, packets, seed, snaplen=snaplen)
    _, summary = wingcap.load_truth(truth)
    return Capture(label, pcap, truth, summary["counters"]["packets_seen"], pcap.stat().st_size)


def build_floor() -> Path:
    """Compile bench/pcap_floor.c with gcc -O2 (when the source is newer)."""
    source = REPO / "bench" / "pcap_floor.c"
    binary = OUT / "pcap_floor"
    if not binary.exists() or binary.stat().st_mtime < source.stat().st_mtime:
        subprocess.run(
            ["gcc", "-O2", "-Wall", "-Wextra", "-Werror", "-o", str(binary), str(source), "-lpcap"],
            check=True,
        )
    return binary


def warm_page_cache(path: Path) -> None:
    with open(path, "rb") as source:
        while source.read(1 << 22):
            pass


# ---- running one measurement ----


def run_process(cmd: list[str], stdout: Any = subprocess.PIPE) -> tuple[float, int, str]:
    """(wall seconds from spawn to exit, peak RSS in kB, stdout + stderr) of one command.

    The peak RSS comes from GNU time wrapping the command: a child forked straight from
    this (large) Python process would report the parent's memory as its own peak.
    """
    with tempfile.NamedTemporaryFile("r") as rss_file:
        wrapped = ["/usr/bin/time", "-f", "%M", "-o", rss_file.name, *cmd]
        started = time.perf_counter()
        process = subprocess.Popen(wrapped, stdout=stdout, stderr=subprocess.PIPE, text=True)
        out, err = process.communicate()
        seconds = time.perf_counter() - started
        if process.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} exited {process.returncode}: {err.strip()[-400:]}")
        rss_kb = int(rss_file.read().split()[-1])
    return seconds, rss_kb, (out or "") + err


class UdpSink:
    """A local UDP socket that counts the datagrams softflowd exports to it."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 << 20)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.datagrams = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._drain, daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        while not self._stop.is_set():
            try:
                self.sock.recv(65536)
                self.datagrams += 1
            except TimeoutError:
                continue

    def close(self) -> int:
        time.sleep(0.3)  # let the last datagrams land
        self._stop.set()
        self._thread.join()
        self.sock.close()
        return self.datagrams


def measure(tool: str, capture: Capture, floor: Path, agent_cmd: list[str], runs: Runs) -> None:
    """Run `tool` once on the capture and append its time and peak RSS to `runs`."""
    path = str(capture.pcap)
    if tool == "floor":
        seconds, rss, out = run_process([str(floor), path])
        runs.notes["packets"] = int(out.split()[1])
    elif tool == "softflowd":
        sink = UdpSink()
        with tempfile.TemporaryDirectory() as tmp:
            cmd = ["softflowd", "-r", path, "-n", f"127.0.0.1:{sink.port}", "-v", "10", "-b"]
            cmd += ["-6", "-T", "vlan", "-m", "262144", "-c", "none", "-d"]
            cmd += ["-p", str(Path(tmp) / "softflowd.pid")]
            seconds, rss, out = run_process(cmd)
        runs.notes["datagrams_received"] = sink.close()
        for key, pattern in (
            ("packets_processed", r"Packets processed: (\d+)"),
            ("packets_ignored", r"Ignored packets: (\d+)"),
            ("flows_exported", r"Flows exported: (\d+)"),
            ("export_datagrams", r"Flows exported: \d+ \(\d+ records\) in (\d+) packets"),
        ):
            match = re.search(pattern, out)
            runs.notes[key] = int(match.group(1)) if match else None
    elif tool == "startup":
        seconds, rss, _ = run_process([*agent_cmd, "--version"])
    elif tool in ("flows", "flows-json"):
        extra = ["--json"] if tool == "flows-json" else []
        with open(os.devnull, "w") as devnull:
            seconds, rss, _ = run_process([*agent_cmd, "flows", path, *extra], stdout=devnull)
    elif tool == "engine":
        _, rss, out = run_process([sys.executable, "-m", "bench.engine_alone", path])
        figures = json.loads(out.splitlines()[0])
        seconds = figures["seconds"]
        runs.notes.update(figures)
    else:
        raise ValueError(tool)
    runs.seconds.append(seconds)
    runs.rss_kb.append(rss)


# ---- correctness against the ground truth ----


def check_truth(capture: Capture, agent_cmd: list[str]) -> dict[str, Any]:
    """Engine records/counters and `flows --json` against the truth: mismatches counted."""
    from agent.engine import Engine
    from tools.wingcap import compare_with_truth, json_truth_key, load_truth, truth_json_key

    expected, summary = load_truth(capture.truth)
    with Engine() as engine:
        engine.open_file(capture.pcap)
        records = []
        while not engine.exhausted:
            records.extend(engine.poll())
        records.extend(engine.flush())
        counters = engine.counters()
    comparison = compare_with_truth(records, counters, capture.truth)
    json_got: collections.Counter[tuple[Any, ...]] = collections.Counter()
    with tempfile.TemporaryFile("w+") as out:
        subprocess.run(
            [*agent_cmd, "flows", str(capture.pcap), "--json"],
            stdout=out,
            stderr=subprocess.DEVNULL,
            check=True,
        )
        out.seek(0)
        json_got.update(json_truth_key(json.loads(line)) for line in out)
    json_want = collections.Counter(truth_json_key(record) for record in expected)
    return {
        "records": len(expected),
        "flows": summary["flows"],
        "missing": sum(comparison.missing.values()),
        "unexpected": sum(comparison.extra.values()),
        "examples": [list(x) for x in list(comparison.missing)[:2] + list(comparison.extra)[:2]],
        "counter_diff": comparison.counter_diff,
        "json_mismatch": sum((json_want - json_got).values())
        + sum((json_got - json_want).values()),
        "exact": comparison.exact and json_got == json_want,
    }


# ---- report ----


def machine() -> dict[str, str]:
    model = "unknown CPU"
    with open("/proc/cpuinfo", encoding="ascii", errors="replace") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    softflowd = subprocess.run(["softflowd", "-h"], capture_output=True, text=True).stderr
    version = re.search(r"softflowd version ([\d.]+)", softflowd + "")
    libpcap = subprocess.run(
        ["pkg-config", "--modversion", "libpcap"], capture_output=True, text=True
    ).stdout.strip()
    mem_kb = 0
    with open("/proc/meminfo", encoding="ascii") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": f"{model}, {os.cpu_count()} cores (nproc), {mem_kb // 1024} MiB RAM",
        "os": f"{platform.system()} {platform.release()}, Python {platform.python_version()}",
        "libpcap": libpcap or "unknown",
        "softflowd": version.group(1) if version else "unknown",
    }


def render(
    results: dict[str, dict[str, Runs]],
    captures: list[Capture],
    truth: dict[str, dict[str, Any]],
    info: dict[str, str],
    command: str,
    load: tuple[tuple[float, ...], tuple[float, ...]],
    repeat: int,
) -> str:
    lines = [
        f"Measured {info['date']} on {info['cpu']}; {info['os']}; libpcap {info['libpcap']}, "
        f"softflowd {info['softflowd']}",
        f"Load average before / after: {' '.join(f'{x:.2f}' for x in load[0])} / "
        f"{' '.join(f'{x:.2f}' for x in load[1])} (the machine is shared).",
        "",
        f"Command: `{command}` (median of {repeat} rounds; file in page cache).",
        "",
    ]
    for capture in captures:
        runs = results[capture.label]
        floor_s = statistics.median(runs["floor"].seconds)
        engine_s = statistics.median(runs["engine"].seconds)
        soft = runs["softflowd"].notes
        check = truth[capture.label]
        lines += [
            f"### {capture.label}: {capture.packets:,} frames, "
            f"{capture.file_bytes / 1e6:,.0f} MB file, {check['flows']:,} flows",
            "",
            "| tool | median s | Mpps | time / floor | time / engine | peak RSS MB |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for tool in TOOLS:
            seconds = statistics.median(runs[tool].seconds)
            rss = max(runs[tool].rss_kb) / 1024
            if tool == "startup":  # reads no packets: only its time and memory mean something
                lines.append(f"| {tool} | {seconds:.3f} | - | - | - | {rss:.1f} |")
                continue
            lines.append(
                f"| {tool} | {seconds:.3f} | {capture.packets / seconds / 1e6:.2f} | "
                f"{seconds / floor_s:.2f} | {seconds / engine_s:.2f} | {rss:.1f} |"
            )
        lines += [
            "",
            f"- engine (in-process) vs bare loop: {engine_s / floor_s:.2f}x the floor's time; "
            f"softflowd takes {statistics.median(runs['softflowd'].seconds) / engine_s:.2f}x "
            "the engine's time.",
            f"- softflowd processed {soft.get('packets_processed'):,} packets and ignored "
            f"{soft.get('packets_ignored'):,} (it does not decode QinQ 0x88a8 frames, nor ARP); "
            f"exported {soft.get('flows_exported'):,} flows in {soft.get('export_datagrams'):,} "
            f"datagrams, {soft.get('datagrams_received'):,} received by the bench.",
            f"- Python's share of the command, per flow record (command - engine alone - "
            f"start-up, / {check['records']:,} records): table "
            f"{_per_record_us(runs, 'flows', check['records']):.1f} us, JSON "
            f"{_per_record_us(runs, 'flows-json', check['records']):.1f} us.",
            f"- engine: {runs['engine'].notes['bytes_per_slot']:.0f} bytes per flow slot "
            f"({runs['engine'].notes['max_flows']:,} slots).",
            "- ground truth: "
            + (
                f"**exact match** ({check['records']:,} records, every counter, and "
                "`flows --json`)."
                if check["exact"]
                else f"**MISMATCH**: {check['missing']} records missing, {check['unexpected']} "
                f"unexpected, counters {check['counter_diff']}, JSON lines off "
                f"{check['json_mismatch']}; e.g. {check['examples']}"
            ),
            "",
        ]
    return "\n".join(lines)


def _per_record_us(runs: dict[str, Runs], tool: str, records: int) -> float:
    overhead = statistics.median(runs[tool].seconds) - statistics.median(runs["engine"].seconds)
    overhead -= statistics.median(runs["startup"].seconds)
    return overhead / records * 1e6


def targets(results: dict[str, dict[str, Runs]], captures: list[Capture]) -> str:
    lines = ["| target (issue 2) | measured | met |", "|---|---|---|"]
    for capture in captures:
        runs = results[capture.label]
        engine_s = statistics.median(runs["engine"].seconds)
        pps = capture.packets / engine_s
        ratio = engine_s / statistics.median(runs["floor"].seconds)
        soft = statistics.median(runs["softflowd"].seconds)
        lines += [
            f"| >= 3 Mpps through the engine ({capture.label}) | {pps / 1e6:.2f} Mpps | "
            f"{'yes' if pps >= TARGET_ENGINE_PPS else 'no'} |",
            f"| faster than softflowd ({capture.label}) | {soft / engine_s:.2f}x faster | "
            f"{'yes' if soft > engine_s else 'no'} |",
            f"| within 2x of the bare loop ({capture.label}) | {ratio:.2f}x | "
            f"{'yes' if ratio <= TARGET_FLOOR_RATIO else 'no'} |",
        ]
    capture = captures[0]
    runs = results[capture.label]
    per_slot = runs["engine"].notes["bytes_per_slot"]
    rss = max(max(results[c.label][t].rss_kb) for c in captures for t in ("flows", "flows-json"))
    lines += [
        f"| <= 160 bytes per flow slot | {per_slot:.0f} | "
        f"{'yes' if per_slot <= TARGET_BYTES_PER_SLOT else 'no'} |",
        f"| peak RSS of `flows` <= 64 MB | {rss / 1024:.1f} MB | "
        f"{'yes' if rss / 1024 <= TARGET_FLOWS_RSS_MB else 'no'} |",
    ]
    return "\n".join(lines)


def write_doc(section: str) -> None:
    text = DOC.read_text(encoding="utf-8")
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{DOC}: markers {BEGIN} / {END} not found")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    DOC.write_text(f"{head}{BEGIN}\n{section}\n{END}{tail}", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--packets", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--write", action="store_true", help="update docs/PERFORMANCE.md")
    args = parser.parse_args(argv)
    for program, package in (("softflowd", "softflowd"), ("/usr/bin/time", "time"), ("gcc", "gcc")):
        if shutil.which(program) is None:
            print(f"bench: {program} is missing (apt-get install {package})", file=sys.stderr)
            return 1
    OUT.mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(REPO))
    agent_script = Path(sys.executable).parent / "iomt-agent"
    agent_cmd = [str(agent_script)] if agent_script.exists() else [sys.executable, "-m", "agent"]
    captures = [
        ensure_capture(args.packets, args.seed, 65535, "full frames"),
        ensure_capture(
            args.packets,
            args.seed,
            HEADERS_ONLY_SNAPLEN,
            f"headers only (snaplen {HEADERS_ONLY_SNAPLEN})",
        ),
    ]
    floor = build_floor()
    info = machine()
    load_before = os.getloadavg()
    truth = {}
    results: dict[str, dict[str, Runs]] = {}
    for capture in captures:
        warm_page_cache(capture.pcap)
        truth[capture.label] = check_truth(capture, agent_cmd)
        results[capture.label] = {tool: Runs() for tool in TOOLS}
        for round_number in range(args.repeat):
            warm_page_cache(capture.pcap)
            for tool in TOOLS:
                measure(tool, capture, floor, agent_cmd, results[capture.label][tool])
            print(f"{capture.label}: round {round_number + 1}/{args.repeat} done", file=sys.stderr)
    load_after = os.getloadavg()
    command = (
        f".venv/bin/python -m bench.bench_flows --packets {args.packets} --repeat {args.repeat}"
    )
    section = render(
        results, captures, truth, info, command, (load_before, load_after), args.repeat
    )
    section += "\n#### Against the targets\n\n" + targets(results, captures) + "\n"
    print(section)
    if args.write:
        write_doc(section)
        print(f"wrote {DOC}", file=sys.stderr)
    return 0 if all(check["exact"] for check in truth.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
