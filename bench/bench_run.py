"""Benchmark: `iomt-agent run` as a service: memory under traffic, CPU when idle.

    .venv/bin/python -m bench.bench_run [--packets 200000] [--rates 1111,20000] [--idle-s 20]
                                        [--buffer-mib 32,8,32+tls] [--seconds-per-rate 20] [--write]

Sets up what a wing box has: a SPAN port (one end of a veth pair; the other end sits in
a network namespace of the bench's own and replays the hospital-wing capture from
tools/wingcap.py frame by frame through an AF_PACKET socket), a local mosquitto started
by the bench on a free port, a signing key and a configuration. Then:

  idle   the agent captures a silent port for --idle-s: CPU time / wall time
  rate   the capture's frames sent at each rate in --rates (frames/s; the wing capture's
         own rate is about 1,111/s: 1 M frames over 900 s) while the agent runs

and reports the agent's peak RSS (VmHWM) with its parts at the end: RssAnon (the
process's own memory: Python, the flow table) and RssFile (mostly the kernel's capture
ring, which libpcap maps into the process), kernel drops, and what reached the broker.
Needs root (veth, namespaces, raw sockets).
"""

from __future__ import annotations

import argparse
import datetime
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from pathlib import Path

import psutil

from tests.support.agent_setup import REPO, agent_command, environment, make_sensor
from tests.support.broker import MosquittoBroker
from tools.wingcap import generate

OUT = REPO / "bench" / "out"
DOC = REPO / "docs" / "PERFORMANCE.md"
BEGIN, END = "<!-- bench-run:begin -->", "<!-- bench-run:end -->"

# Runs inside the namespace: replays a pcap's frames at a fixed rate, prints what it sent.
SENDER = textwrap.dedent(
    """
    import socket, struct, sys, time
    path, iface, rate, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    sock.bind((iface, 0))
    sent = 0
    started = time.monotonic()
    with open(path, "rb") as f:
        f.read(24)
        while True:
            header = f.read(16)
            if len(header) < 16:
                break
            _, _, caplen, _ = struct.unpack("<IIII", header)
            frame = f.read(caplen)
            try:
                sock.send(frame)
            except OSError:
                continue  # larger than the veth's MTU: the wire would not carry it either
            sent += 1
            if sent % 100 == 0:
                elapsed = time.monotonic() - started
                if elapsed > seconds:
                    break
                ahead = sent / rate - elapsed
                if ahead > 0:
                    time.sleep(ahead)
    print(sent, time.monotonic() - started)
    """
)


def proc_status(pid: int) -> dict[str, int]:
    """VmHWM, VmRSS, RssAnon, RssFile of a process, in KiB."""
    wanted = ("VmHWM", "VmRSS", "RssAnon", "RssFile")
    out = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            name = line.split(":")[0]
            if name in wanted:
                out[name] = int(line.split()[1])
    return out


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


def wait_for_text(path: Path, text: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while text not in path.read_text(errors="replace"):
        if time.monotonic() > deadline:
            raise SystemExit(f"bench_run: the agent did not log {text!r}:\n{path.read_text()}")
        time.sleep(0.1)


def run_bench(
    packets: int,
    rates: list[float],
    idle_s: float,
    buffer_mib: int,
    seconds_per_rate: float,
    tls: bool = False,
) -> str:
    OUT.mkdir(parents=True, exist_ok=True)
    capture = OUT / f"wing-{packets}-s4.pcap"
    if not capture.exists():
        generate(capture, packets=packets, seed=4)
    work = Path(tempfile.mkdtemp(prefix="bench-run-"))
    tag = uuid.uuid4().hex[:6]
    namespace, span, peer = f"bench{tag}", f"span{tag}", f"wire{tag}"
    ip("netns", "add", namespace)
    ip("link", "add", span, "type", "veth", "peer", "name", peer)
    ip("link", "set", peer, "netns", namespace)
    ip("link", "set", span, "up")
    ip("-n", namespace, "link", "set", peer, "up")
    broker = MosquittoBroker(work / "broker", tls=tls)
    broker.start()
    log_path = work / "agent.log"
    rows = []
    try:
        sensor = make_sensor(
            work,
            broker.tls_url if tls else broker.url,
            interfaces=[span],
            capture_toml=f'buffer_bytes = "{buffer_mib} MiB"',
        )
        if tls:  # as a hospital broker would be: mutual TLS, the CA checked
            cert, key = broker.pki.client()
            drop_in = sensor.config.parent / "agent.d" / "10-tls.toml"
            drop_in.parent.mkdir()
            drop_in.write_text(
                f'[mqtt]\nca_file = "{broker.pki.ca_cert}"\n'
                f'cert_file = "{cert}"\nkey_file = "{key}"\n'
            )
        with open(log_path, "w") as log:
            agent = subprocess.Popen(
                agent_command("run", "-c", str(sensor.config)),
                stderr=log,
                cwd=REPO,
                env=environment(),
            )
        wait_for_text(log_path, "connected to", 30)
        process = psutil.Process(agent.pid)
        time.sleep(2)  # start-up work done: measure the quiet port
        cpu_before, wall_before = process.cpu_times(), time.monotonic()
        time.sleep(idle_s)
        cpu_after, wall = process.cpu_times(), time.monotonic() - wall_before
        idle_cpu = (cpu_after.user + cpu_after.system - cpu_before.user - cpu_before.system) / wall
        rows.append(("idle", f"{idle_s:.0f} s", f"{100 * idle_cpu:.2f} %", proc_status(agent.pid)))
        for rate in rates:
            cpu_before, wall_before = process.cpu_times(), time.monotonic()
            sender = subprocess.run(
                ["ip", "netns", "exec", namespace, sys.executable, "-c", SENDER,
                 str(capture), peer, str(rate), str(seconds_per_rate)],
                capture_output=True, text=True, check=True,
            )  # fmt: skip
            sent, send_s = sender.stdout.split()
            time.sleep(1)
            cpu_after, wall = process.cpu_times(), time.monotonic() - wall_before
            cpu = (cpu_after.user + cpu_after.system - cpu_before.user - cpu_before.system) / wall
            label = f"{float(sent) / float(send_s):,.0f} frames/s"
            rows.append(
                (label, f"{int(sent):,} frames", f"{100 * cpu:.1f} %", proc_status(agent.pid))
            )
        mappings = resident_by_mapping(agent.pid)
        agent.send_signal(signal.SIGTERM)
        agent.wait(60)
    finally:
        broker.stop()
        subprocess.run(["ip", "link", "del", span], capture_output=True)
        subprocess.run(["ip", "netns", "del", namespace], capture_output=True)
    final = next((line for line in log_path.read_text().splitlines() if "captured" in line), "")
    return render(rows, final, buffer_mib, tls, mappings)


def resident_by_mapping(pid: int) -> list[tuple[str, int]]:
    """Resident kB per mapped file (or [heap], [anon], the capture ring), largest first."""
    totals: dict[str, int] = {}
    name = "[anon]"
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        fields = line.split()
        if "-" in fields[0] and len(fields) >= 5:  # a mapping's header line
            path = " ".join(fields[5:]) or "[anon]"
            # libpcap's capture ring is a mapping of the packet socket itself.
            name = "capture ring (packet socket)" if path.startswith("socket:") else path
        elif fields[0] == "Rss:":
            totals[name] = totals.get(name, 0) + int(fields[1])
    return sorted(totals.items(), key=lambda item: -item[1])


def header(packets: int, rates: list[float], idle_s: float, buffers: str, seconds: float) -> str:
    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"Measured {when}; load average at the end {load} (2 shared cores).\n\n"
        "Command: `.venv/bin/python -m bench.bench_run "
        f"--packets {packets} --rates {','.join(str(int(r)) for r in rates)} "
        f"--idle-s {idle_s:g} --buffer-mib {buffers} --seconds-per-rate {seconds:g}`"
    )


def render(
    rows: list[tuple[str, str, str, dict[str, int]]],
    final: str,
    buffer_mib: int,
    tls: bool,
    mappings: list[tuple[str, int]],
) -> str:
    broker = "broker over mutual TLS (CA, client certificate)" if tls else "plain MQTT"
    lines = [
        f"#### Capture buffer {buffer_mib} MiB (`capture.buffer_bytes`), {broker}",
        "",
        "| phase | traffic | agent CPU (one core) | peak RSS (VmHWM) | RssAnon | RssFile |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for phase, traffic, cpu, status in rows:
        lines.append(
            f"| {phase} | {traffic} | {cpu} | {status['VmHWM'] / 1024:.1f} MB "
            f"| {status['RssAnon'] / 1024:.1f} MB | {status['RssFile'] / 1024:.1f} MB |"
        )
    lines += ["", f"Agent's own summary at SIGTERM: `{final.split(': ', 1)[-1]}`", ""]
    lines += ["Resident at the end, by mapping (the eight largest):", ""]
    lines += ["| mapping | resident |", "|---|---:|"]
    for mapping, kb in mappings[:8]:
        lines.append(f"| `{Path(mapping).name if mapping.startswith('/') else mapping}` "
                     f"| {kb / 1024:.1f} MB |")  # fmt: skip
    rest = sum(kb for _, kb in mappings[8:])
    lines.append(f"| {len(mappings) - 8} others | {rest / 1024:.1f} MB |")
    return "\n".join(lines)


def write_doc(section: str) -> None:
    text = DOC.read_text()
    block = f"{BEGIN}\n{section}\n{END}"
    if BEGIN in text:
        head, rest = text.split(BEGIN, 1)
        text = head + block + rest.split(END, 1)[1]
    else:
        text += f"\n## The agent as a service (issue 5)\n\n{block}\n"
    DOC.write_text(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packets", type=int, default=200_000)
    parser.add_argument("--rates", default="1111,20000")
    parser.add_argument("--idle-s", type=float, default=20)
    parser.add_argument(
        "--buffer-mib",
        default="32,8,32+tls",
        help="runs: capture buffer in MiB each, +tls for a broker over mutual TLS",
    )
    parser.add_argument("--seconds-per-rate", type=float, default=20)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("bench_run: needs root (veth pairs, namespaces, raw sockets)", file=sys.stderr)
        return 2
    rates = [float(r) for r in args.rates.split(",")]
    tables = [
        run_bench(
            args.packets,
            rates,
            args.idle_s,
            int(run.removesuffix("+tls")),
            args.seconds_per_rate,
            tls=run.endswith("+tls"),
        )
        for run in args.buffer_mib.split(",")
    ]
    top = header(args.packets, rates, args.idle_s, args.buffer_mib, args.seconds_per_rate)
    section = "\n\n".join([top, *tables])
    print(section)
    if args.write:
        write_doc(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
