"""`python -m agent flows CAPTURE [--json]`, run as a technician would: a subprocess on
real capture files. JSON fields are the contract's (docs/architecture.md); bad input gives
one clear stderr line and the contract's exit code, never a traceback."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.support.agent_setup import run_agent
from tests.support.pcapgen import MAC_A, at, ether, tcp, udp, write_pcap

A, B = "10.20.0.5", "10.20.0.9"
HANDSHAKE_AND_CLOSE = [
    ether(tcp(A, B, 51000, 2575, "S")),
    ether(tcp(B, A, 2575, 51000, "SA")),
    ether(tcp(A, B, 51000, 2575, "PA", b"MSH|^~\\&|")),
    ether(tcp(B, A, 2575, 51000, "PA", b"MSA|AA|")),
    ether(tcp(A, B, 51000, 2575, "FA")),
    ether(tcp(B, A, 2575, 51000, "FA")),
]
CONTRACT_FIELDS = {
    "ts",
    "uid",
    "id.orig_h",
    "id.orig_p",
    "id.resp_h",
    "id.resp_p",
    "proto",
    "duration",
    "orig_pkts",
    "orig_ip_bytes",
    "resp_pkts",
    "resp_ip_bytes",
    "orig_bytes",
    "resp_bytes",
    "conn_state",
    "history",
    "community_id",
    "end_reason",
}


def flows(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return run_agent("flows", *map(str, args), timeout_s=60)


@pytest.fixture
def capture(tmp_path: Path) -> Path:
    frames = [at(i * 0.05, p) for i, p in enumerate(HANDSHAKE_AND_CLOSE)]
    frames.append(at(1.0, ether(udp(A, "10.20.0.1", 5353, 53, b"query"), vlans=[30])))
    return write_pcap(tmp_path / "wing.pcap", frames)


def test_json_lines_carry_exactly_the_contract_fields(capture):
    result = flows(capture, "--json")
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == 2
    tcp_flow, udp_flow = lines
    both_macs = {"orig_l2_addr", "resp_l2_addr"}
    assert set(tcp_flow) == CONTRACT_FIELDS | {"service"} | both_macs  # untagged: no vlan key
    assert tcp_flow["service"] == "hl7"  # labelled from its MSH (issue 6), not the port
    # The responder never sent: no resp_l2_addr.
    assert set(udp_flow) == CONTRACT_FIELDS | {"vlan", "orig_l2_addr"}
    assert tcp_flow["orig_l2_addr"] == udp_flow["orig_l2_addr"] == MAC_A
    assert tcp_flow["id.orig_h"] == A and tcp_flow["id.resp_p"] == 2575
    assert (tcp_flow["proto"], tcp_flow["conn_state"], tcp_flow["history"]) == (
        "tcp",
        "SF",
        "ShDdFf",
    )
    assert (tcp_flow["orig_bytes"], tcp_flow["resp_bytes"]) == (9, 7)
    assert tcp_flow["duration"] == pytest.approx(0.25)
    assert tcp_flow["uid"].startswith("C") and len(tcp_flow["uid"]) == 18
    assert tcp_flow["community_id"].startswith("1:")
    assert (udp_flow["proto"], udp_flow["vlan"], udp_flow["conn_state"]) == ("udp", 30, "S0")
    assert udp_flow["end_reason"] == "forced"


def test_uids_differ_between_runs_as_boot_ids_do(capture):
    first = json.loads(flows(capture, "--json").stdout.splitlines()[0])
    second = json.loads(flows(capture, "--json").stdout.splitlines()[0])
    assert first["uid"] != second["uid"]
    assert first["community_id"] == second["community_id"]


def test_table_shows_one_line_per_flow_and_a_counter_summary(capture):
    result = flows(capture)
    assert result.returncode == 0, result.stderr
    header, *rows = result.stdout.splitlines()
    assert "originator" in header and "responder" in header
    assert len(rows) == 2
    assert f"{A}:51000 -> {B}:2575" in " ".join(rows[0].split())
    assert " SF " in rows[0] and "3/3" in rows[0] and rows[0].endswith("forced")
    assert "vlan 30" in rows[1]
    (summary,) = result.stderr.splitlines()
    assert summary.startswith("packets seen 7, in flows 7, non-IP 0, malformed 0")


def _bad_inputs(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    empty = tmp_path / "empty.pcap"
    empty.write_bytes(b"")
    text = tmp_path / "notes.txt"
    text.write_text("not a capture at all\n" * 10)
    usb = write_pcap(tmp_path / "usb.pcap", [at(0, b"\x00" * 48)], linktype=189)
    return {
        "missing": (tmp_path / "nope.pcap", "no such file"),
        "directory": (tmp_path, "is a directory"),
        "empty": (empty, "empty file"),
        "not-a-capture": (text, "not a readable pcap or pcapng capture"),
        "unknown-linktype": (usb, "link type 189 (USB_LINUX) is not supported"),
    }


@pytest.mark.parametrize(
    "case", ["missing", "directory", "empty", "not-a-capture", "unknown-linktype"]
)
def test_bad_input_gives_one_line_and_exit_2(tmp_path, case):
    path, message = _bad_inputs(tmp_path)[case]
    result = flows(path, "--json")
    assert result.returncode == 2
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith("iomt-agent flows: error: ")
    assert message in line
    assert "Traceback" not in result.stderr


def test_truncated_file_prints_the_flows_read_then_fails_with_exit_1(tmp_path, capture):
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(capture.read_bytes()[:-20])  # the UDP frame loses its tail
    result = flows(cut, "--json")
    assert result.returncode == 1
    (line,) = result.stdout.splitlines()
    assert json.loads(line)["conn_state"] == "SF"  # the TCP flow was complete
    (error,) = result.stderr.splitlines()
    assert "truncated" in error and "6 packets were read" in error
    assert "Traceback" not in result.stderr


def test_missing_argument_is_a_usage_error():
    result = flows()
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
