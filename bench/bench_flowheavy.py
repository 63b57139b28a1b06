"""Benchmark: the per-flow path on flow-heavy captures, against softflowd, one run (issue 17).

    .venv/bin/python -m bench.bench_flowheavy [--flows 300000] [--callgrind-flows 30000]
        [--wing-packets 200000] [--repeat 3] [--label NAME] [--write]

Two kinds of capture, each generated once and cached in bench/out/:

  flow-heavy  bench/flowgen.py: 65 % SYN sweep of a /16 (most probes unanswered, some
              RST, a few SYN-ACK), 27 % DNS query/answer pairs, 4 % NTP, 4 % ICMP echo:
              about 1.4 packets per flow
  wing mix    tools/wingcap.py (seed 4), as bench/bench_flows.py: about 17 packets per
              flow record

Three commands run on each, whole processes:

  softflowd   softflowd -r FILE -n 127.0.0.1:PORT -v 10 (IPFIX, to a UDP socket the
              bench reads; plus -b -6 -T vlan -m 262144 -c none -d as bench_flows runs it)
  flows-json  iomt-agent flows FILE --json > /dev/null
  replay      iomt-agent replay FILE -c CONFIG: engine -> batch -> CBOR -> sign -> spool
              -> MQTT into a mosquitto the bench starts on a free loopback port (key from
              `iomt-agent keygen`, a fresh spool per run); checked: "all delivered", and
              as many flows shipped as the engine makes

Measured:
- instructions (valgrind --tool=callgrind, every thread of the process): each command on
  the capture and on a tiny capture of the same kind (10 flows; the wing's 1,000-frame
  cut), the difference divided by the difference in flow records and in packets, so
  interpreter start-up, imports and key loading drop out. valgrind runs ~50x slower than
  the machine, so the flow-heavy capture under callgrind is the --callgrind-flows one
  (same generator settings, fewer flows); the wing capture is the same file for both.
- CPU time: user + sys of the process (wait4), median of --repeat runs, not under
  valgrind, on the full-size captures; flows per CPU second, whole process and with the
  tiny capture's CPU time subtracted.
- peak RSS: ru_maxrss of the process (via GNU time, so the bench's own memory is not
  counted), the largest of the runs.

Per flow means per flow record the engine emits (`agent.engine.summarize_file` on the
same file; on the flow-heavy capture every flow is one record). `--write` puts the
tables into docs/PERFORMANCE.md under "Flow-heavy captures (issue 17)", in the block of
`--label` (one block per label, so a before and an after run stand side by side).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import flowgen
from bench.bench_flows import UdpSink, ensure_capture, machine, warm_page_cache

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "bench" / "out"
DOC = REPO / "docs" / "PERFORMANCE.md"
SECTION = "## Flow-heavy captures (issue 17)"
ALL_TOOLS = ("softflowd", "flows-json", "replay")
TOOLS = ALL_TOOLS  # the ones this run measures (--tools)
TINY_FLOWS = 10
TINY_WING_PACKETS = 1000  # tools/wingcap's least
SEED = 4
MIX = (("sweep", 0.65), ("dns_pairs", 0.27), ("ntp_pairs", 0.04))  # the rest: ICMP echo

# Issue 17 goals.
GOAL_REPLAY_VS_SOFTFLOWD = 1.0
GOAL_JSON_VS_SOFTFLOWD = 2.0
GOAL_REPLAY_FLOWS_PER_CPU_S = 1_000_000


@dataclass
class Capture:
    kind: str  # "flow-heavy" or "wing mix"
    pcap: Path
    packets: int
    records: int


@dataclass
class Result:
    instructions: dict[str, int] = field(default_factory=dict)  # tool -> on the capture
    tiny_instructions: dict[str, int] = field(default_factory=dict)
    cpu_s: dict[str, list[float]] = field(default_factory=dict)
    tiny_cpu_s: dict[str, list[float]] = field(default_factory=dict)
    rss_kb: dict[str, list[int]] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)


# ---- captures ----


def flowgen_settings(flows: int) -> flowgen.Settings:
    counts = {name: round(flows * share) for name, share in MIX}
    icmp = flows - sum(counts.values())
    return flowgen.Settings(**counts, icmp_pairs=icmp, seed=SEED)


def engine_records(pcap: Path) -> int:
    from agent.engine import summarize_file

    return sum(1 for _ in summarize_file(pcap))


def flowheavy_capture(flows: int) -> Capture:
    """The cached flow-heavy capture of `flows` flows, generated when missing or stale."""
    settings = flowgen_settings(flows)
    pcap = OUT / f"flowheavy-{flows}-s{SEED}.pcap"
    fresh = False
    if pcap.exists() and flowgen.summary_path_for(pcap).exists():
        summary = flowgen.load_summary(pcap)
        fresh = summary["settings"] == dataclasses.asdict(settings)
        fresh = fresh and summary["generator_version"] == flowgen.GENERATOR_VERSION
    if not fresh:
        print(f"generating {pcap.name} ...", file=sys.stderr)
        flowgen.generate(pcap, settings)
    summary = flowgen.load_summary(pcap)
    records = engine_records(pcap)
    if records != summary["flows"]:
        raise SystemExit(f"{pcap}: the engine made {records} records of {summary['flows']} flows")
    return Capture("flow-heavy", pcap, summary["packets"], records)


def wing_capture(packets: int) -> Capture:
    made = ensure_capture(packets, SEED, 65535, "wing mix")
    return Capture("wing mix", made.pcap, made.packets, engine_records(made.pcap))


# ---- the commands ----


class Replayer:
    """A mosquitto on a free port, a key from `iomt-agent keygen` and a config per run."""

    def __init__(self, workdir: Path, agent_cmd: list[str]) -> None:
        from tests.support.broker import MosquittoBroker

        self.workdir = workdir
        self.broker = MosquittoBroker(workdir)
        self.broker.start()
        keys = workdir / "keys"
        subprocess.run([*agent_cmd, "keygen", "--out", str(keys)], check=True, capture_output=True)
        self.key = keys / "sensor.key"
        self.runs = 0

    def config(self) -> Path:
        """A new agent.toml with a spool of its own (nothing left from the previous run)."""
        self.runs += 1
        run_dir = self.workdir / f"run{self.runs}"
        run_dir.mkdir()
        config = run_dir / "agent.toml"
        config.write_text(
            f"""[sensor]
id = "bench4b-01"
site = "st-anne"
wing = "4b"
[capture]
interfaces = ["lo"]
allow_management_interfaces = true
[mqtt]
url = "{self.broker.url}"
topic_prefix = "iomt"
[signing]
key = "{self.key}"
[spool]
dir = "{run_dir / "spool"}"
max_bytes = 268435456
"""
        )
        return config

    def close(self) -> None:
        self.broker.kill()


def command(
    tool: str, pcap: Path, agent_cmd: list[str], sink: UdpSink, replayer: Replayer, tmp: Path
) -> list[str]:
    if tool == "softflowd":
        cmd = ["softflowd", "-r", str(pcap), "-n", f"127.0.0.1:{sink.port}", "-v", "10", "-b"]
        return [
            *cmd,
            "-6",
            "-T",
            "vlan",
            "-m",
            "262144",
            "-c",
            "none",
            "-d",
            "-p",
            str(tmp / "pid"),
        ]
    if tool == "flows-json":
        return [*agent_cmd, "flows", str(pcap), "--json"]
    if tool == "replay":
        config = replayer.config()
        return [*agent_cmd, "replay", str(pcap), "-c", str(config), "--drain-timeout", "900"]
    raise ValueError(tool)


def check_output(tool: str, err: str, records: int) -> None:
    """A replay that did not deliver every flow it made does not count."""
    if tool != "replay":
        return
    shipped = re.search(r"into (\d+) flows in (\d+) messages; all delivered", err)
    if shipped is None or int(shipped.group(1)) != records:
        raise SystemExit(f"replay: expected {records} flows all delivered; it said: {err[-600:]}")


def run_timed(cmd: list[str]) -> tuple[float, int, str]:
    """(user + sys CPU seconds, peak RSS kB, stderr) of one run of `cmd`, stdout discarded.

    GNU time wraps the command so that ru_maxrss is the command's own (a child forked from
    this Python process would carry the parent's resident size as its peak); wait4 on GNU
    time gives the CPU time of it and its child in microseconds (time's own is ~1 ms).
    """
    with tempfile.NamedTemporaryFile("r") as rss_file, tempfile.TemporaryFile("w+") as err:
        wrapped = ["/usr/bin/time", "-f", "%M", "-o", rss_file.name, *cmd]
        process = subprocess.Popen(wrapped, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        text = err.read()
        if process.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} exited {process.returncode}: {text[-600:]}")
        rss_kb = int(rss_file.read().split()[-1])
    return usage.ru_utime + usage.ru_stime, rss_kb, text


def run_callgrind(cmd: list[str], workdir: Path) -> tuple[int, str]:
    """(instructions executed by every thread of the process, stderr) under callgrind."""
    out = workdir / f"callgrind.{time.monotonic_ns()}"
    wrapped = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *cmd]
    done = subprocess.run(wrapped, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if done.returncode != 0:
        raise RuntimeError(
            f"callgrind {' '.join(cmd)} exited {done.returncode}: {done.stderr[-600:]}"
        )
    collected = re.search(r"Collected : (\d+)", done.stderr)
    if collected is None:
        raise RuntimeError(f"no instruction count from callgrind: {done.stderr[-600:]}")
    out.unlink(missing_ok=True)
    return int(collected.group(1)), done.stderr


# ---- report ----


def per(result: Result, tool: str, big: Capture, tiny: Capture, unit: str) -> float:
    """Instructions per flow record or per packet, tiny capture subtracted."""
    extra = result.instructions[tool] - result.tiny_instructions[tool]
    if unit == "flow":
        return extra / (big.records - tiny.records)
    return extra / (big.packets - tiny.packets)


def render(
    results: dict[str, Result],
    callgrind_captures: dict[str, tuple[Capture, Capture]],
    cpu_captures: dict[str, tuple[Capture, Capture]],
    info: dict[str, str],
    command_line: str,
    label: str,
    commit: str,
    load: tuple[tuple[float, ...], tuple[float, ...]],
    repeat: int,
) -> str:
    lines = [
        f"**{label}** ({commit}). Measured {info['date']} on {info['cpu']}; {info['os']}; "
        f"softflowd {info['softflowd'].rstrip('.')}. Load average before / after: "
        f"{' '.join(f'{x:.2f}' for x in load[0])} / {' '.join(f'{x:.2f}' for x in load[1])}.",
        "",
        f"Command: `{command_line}`",
        "",
    ]
    for kind, result in results.items():
        big, tiny = callgrind_captures[kind]
        full, tiny_cpu = cpu_captures[kind]
        soft_flow = per(result, "softflowd", big, tiny, "flow")
        lines += [
            f"{kind}: instructions on {big.pcap.name} ({big.records:,} flow records, "
            f"{big.packets:,} packets) minus {tiny.pcap.name} ({tiny.records:,} records, "
            f"{tiny.packets:,} packets); CPU on {full.pcap.name} ({full.records:,} records, "
            f"{full.packets:,} packets), median of {repeat}.",
            "",
            "| command | instructions / flow | / packet | x softflowd | CPU s | flows / CPU s "
            "| flows / CPU s, start-up out | peak RSS MB |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for tool in TOOLS:
            per_flow = per(result, tool, big, tiny, "flow")
            cpu = statistics.median(result.cpu_s[tool])
            startup = statistics.median(result.tiny_cpu_s[tool])
            net = cpu - startup
            net_rate = f"{(full.records - tiny_cpu.records) / net:,.0f}" if net > 0 else "-"
            per_packet = per(result, tool, big, tiny, "packet")
            rss_mb = max(result.rss_kb[tool]) / 1024
            lines.append(
                f"| {tool} | {per_flow / 1000:,.1f} k | {per_packet:,.0f} "
                f"| {per_flow / soft_flow:.2f} | {cpu:.2f} | {full.records / cpu:,.0f} "
                f"| {net_rate} | {rss_mb:.1f} |"
            )
        notes = result.notes
        lines += [
            "",
            "Start-up (the tiny capture) under callgrind: "
            + ", ".join(f"{t} {result.tiny_instructions[t] / 1e6:,.0f} M" for t in TOOLS)
            + "; CPU: "
            + ", ".join(f"{t} {statistics.median(result.tiny_cpu_s[t]):.2f} s" for t in TOOLS)
            + f". softflowd exported {notes.get('softflowd_datagrams', 0):,} IPFIX datagrams "
            f"in the last timed run; every replay delivered all its flows.",
            "",
        ]
    return "\n".join(lines)


def goals(results: dict[str, Result], callgrind_captures: dict[str, tuple[Capture, Capture]],
          cpu_captures: dict[str, tuple[Capture, Capture]]) -> str:  # fmt: skip
    result = results["flow-heavy"]
    big, tiny = callgrind_captures["flow-heavy"]
    full, tiny_cpu = cpu_captures["flow-heavy"]
    soft = per(result, "softflowd", big, tiny, "flow")
    replay = per(result, "replay", big, tiny, "flow") / soft
    json_ratio = per(result, "flows-json", big, tiny, "flow") / soft
    net = statistics.median(result.cpu_s["replay"]) - statistics.median(result.tiny_cpu_s["replay"])
    rate = (full.records - tiny_cpu.records) / net if net > 0 else 0.0
    return "\n".join(
        [
            "| goal (issue 17, flow-heavy capture) | measured | met |",
            "|---|---|---|",
            f"| replay <= softflowd's instructions per flow | {replay:.2f}x | "
            f"{'yes' if replay <= GOAL_REPLAY_VS_SOFTFLOWD else 'no'} |",
            f"| replay >= 1 M flows per CPU second (start-up out) | {rate / 1e6:.2f} M | "
            f"{'yes' if rate >= GOAL_REPLAY_FLOWS_PER_CPU_S else 'no'} |",
            f"| `flows --json` <= 2x softflowd's instructions per flow | {json_ratio:.2f}x | "
            f"{'yes' if json_ratio <= GOAL_JSON_VS_SOFTFLOWD else 'no'} |",
        ]
    )


def write_doc(label: str, block: str) -> None:
    """Replace (or add) the block of `label` in the flow-heavy section of the doc."""
    begin, end = f"<!-- flowheavy:{label}:begin -->", f"<!-- flowheavy:{label}:end -->"
    text = DOC.read_text(encoding="utf-8")
    body = f"{begin}\n{block}\n{end}"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        text = head + body + rest.split(end, 1)[1]
    else:
        if SECTION not in text:
            text = text.rstrip("\n") + f"\n\n{SECTION}\n"
        head, rest = text.split(SECTION, 1)
        following = rest.find("\n## ")
        section, tail = (rest, "") if following < 0 else (rest[:following], rest[following:])
        text = f"{head}{SECTION}{section.rstrip()}\n\n{body}\n{tail}"
    DOC.write_text(text, encoding="utf-8")


def git_commit() -> str:
    head = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        capture_output=True,
        text=True,
        cwd=REPO,
    ).stdout.strip()
    return f"tree at {head}" + (", with uncommitted changes" if dirty else "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--flows", type=int, default=300_000, help="flow-heavy size for CPU time")
    parser.add_argument(
        "--callgrind-flows", type=int, default=30_000, help="flow-heavy size under callgrind"
    )
    parser.add_argument("--wing-packets", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per command")
    parser.add_argument(
        "--kinds",
        default="flow-heavy,wing mix",
        help="the captures to run, comma-separated (default: %(default)s)",
    )
    parser.add_argument(
        "--tools",
        default=",".join(ALL_TOOLS),
        help="the commands to run, comma-separated; softflowd always (default: %(default)s)",
    )
    parser.add_argument("--label", default="latest", help="the block to write (before/after)")
    parser.add_argument("--write", action="store_true", help="update docs/PERFORMANCE.md")
    args = parser.parse_args(argv)
    for program, package in (
        ("softflowd", "softflowd"),
        ("/usr/bin/time", "time"),
        ("valgrind", "valgrind"),
        ("/usr/sbin/mosquitto", "mosquitto"),
    ):
        if shutil.which(program) is None:
            print(f"bench: {program} is missing (apt-get install {package})", file=sys.stderr)
            return 1
    OUT.mkdir(parents=True, exist_ok=True)
    agent_script = Path(sys.executable).parent / "iomt-agent"
    agent_cmd = [str(agent_script)] if agent_script.exists() else [sys.executable, "-m", "agent"]
    global TOOLS
    TOOLS = tuple(t for t in ALL_TOOLS if t == "softflowd" or t in args.tools.split(","))
    kinds = [kind.strip() for kind in args.kinds.split(",")]
    if not kinds or not set(kinds) <= {"flow-heavy", "wing mix"}:
        parser.error("--kinds takes flow-heavy and/or wing mix")
    callgrind_captures: dict[str, tuple[Capture, Capture]] = {}
    cpu_captures: dict[str, tuple[Capture, Capture]] = {}
    if "flow-heavy" in kinds:
        tiny = flowheavy_capture(TINY_FLOWS)
        callgrind_captures["flow-heavy"] = (flowheavy_capture(args.callgrind_flows), tiny)
        cpu_captures["flow-heavy"] = (flowheavy_capture(args.flows), tiny)
    if "wing mix" in kinds:
        both = (wing_capture(args.wing_packets), wing_capture(TINY_WING_PACKETS))
        callgrind_captures["wing mix"] = cpu_captures["wing mix"] = both
    info = machine()
    load_before = os.getloadavg()
    results = {kind: Result() for kind in callgrind_captures}
    with tempfile.TemporaryDirectory(prefix="bench-flowheavy-") as tmp_name:
        tmp = Path(tmp_name)
        replayer = Replayer(tmp, agent_cmd)
        sink = UdpSink()
        try:
            for kind, result in results.items():
                big, tiny = callgrind_captures[kind]
                full, tiny_cpu = cpu_captures[kind]
                for tool in TOOLS:
                    for capture, store in (
                        (big, result.instructions),
                        (tiny, result.tiny_instructions),
                    ):
                        cmd = command(tool, capture.pcap, agent_cmd, sink, replayer, tmp)
                        store[tool], err = run_callgrind(cmd, tmp)
                        check_output(tool, err, capture.records)
                        print(
                            f"{kind} {tool} {capture.pcap.name}: {store[tool]:,} instructions",
                            file=sys.stderr,
                        )
                warm_page_cache(full.pcap)
                for round_number in range(args.repeat):
                    for tool in TOOLS:
                        for capture, store_cpu in (
                            (full, result.cpu_s),
                            (tiny_cpu, result.tiny_cpu_s),
                        ):
                            before = sink.datagrams
                            cmd = command(tool, capture.pcap, agent_cmd, sink, replayer, tmp)
                            cpu, rss, err = run_timed(cmd)
                            check_output(tool, err, capture.records)
                            store_cpu.setdefault(tool, []).append(cpu)
                            if capture is full:
                                result.rss_kb.setdefault(tool, []).append(rss)
                                if tool == "softflowd":
                                    time.sleep(0.3)
                                    result.notes["softflowd_datagrams"] = sink.datagrams - before
                    print(f"{kind}: timed round {round_number + 1}/{args.repeat}", file=sys.stderr)
        finally:
            sink.close()
            replayer.close()
    load_after = os.getloadavg()
    command_line = (
        f".venv/bin/python -m bench.bench_flowheavy --flows {args.flows} --callgrind-flows "
        f"{args.callgrind_flows} --wing-packets {args.wing_packets} --repeat {args.repeat}"
    )
    if len(kinds) < 2:
        command_line += f" --kinds '{args.kinds}'"
    if TOOLS != ALL_TOOLS:
        command_line += f" --tools {','.join(TOOLS)}"
    block = render(
        results,
        callgrind_captures,
        cpu_captures,
        info,
        command_line,
        args.label,
        git_commit(),
        (load_before, load_after),
        args.repeat,
    )
    if "flow-heavy" in results and TOOLS == ALL_TOOLS:
        block += "\n" + goals(results, callgrind_captures, cpu_captures) + "\n"
    print(block)
    if args.write:
        write_doc(args.label, block)
        print(f"wrote {DOC}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
