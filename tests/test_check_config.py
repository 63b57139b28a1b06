"""`iomt-agent check-config` as a technician runs it: OK and a summary, or every error and
exit 2; never a traceback, never a password."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests.test_config_support import ConfigDir, make_config_dir, run_cli


@pytest.fixture
def config_dir(tmp_path: Path) -> ConfigDir:
    return make_config_dir(tmp_path)


def _summary(stdout: str) -> dict[str, str]:
    lines = stdout.splitlines()
    assert lines[0] == "OK"
    return dict(re.match(r"(\w+):\s+(.*)", line).groups() for line in lines[1:])  # type: ignore[union-attr]


def test_valid_config_prints_ok_and_the_summary(config_dir: ConfigDir) -> None:
    password = config_dir.secret("mqtt.password", content="hunter2-do-not-print")
    config_dir.drop_in(
        "10.toml",
        f'[mqtt]\nfailover_urls = ["mqtt://localhost:1884"]\nusername = "sensor-4b"\n'
        f'password_file = "{password}"\n',
    )
    result = run_cli("check-config", "-c", str(config_dir.root))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    summary = _summary(result.stdout)
    assert summary["sensor"] == "anne4b-01 (site st-anne, wing 4b)"
    assert summary["interfaces"] == "lo up"
    assert summary["broker"] == (
        "mqtt://127.0.0.1:1883, then mqtt://localhost:1884 (MQTT 5; user sensor-4b)"
    )
    assert summary["topics"] == "iomt/st-anne/4b/anne4b-01/<kind>"
    assert summary["key"] == f"id {config_dir.kid()} ({config_dir.key})"
    spool = summary["spool"]
    assert spool.startswith(f"{config_dir.spool} (at most 256.0 MiB, drop_oldest when full; ")
    assert re.search(r"; [\d.]+ [KMGT]?i?B free\)$", spool)
    assert summary["files"] == f"{config_dir.main}, {config_dir.root}/agent.d/10.toml"
    assert "hunter2" not in result.stdout


def test_a_url_without_a_port_shows_the_port_it_will_use(config_dir: ConfigDir) -> None:
    config_dir.drop_in(
        "10.toml", '[mqtt]\nurl = "mqtt://localhost"\nfailover_urls = ["mqtt://127.0.0.1:1884"]\n'
    )
    result = run_cli("check-config", "-c", str(config_dir.root))
    assert result.returncode == 0, result.stderr
    assert _summary(result.stdout)["broker"] == (
        "mqtt://localhost (port 1883, the mqtt default), then mqtt://127.0.0.1:1884 (MQTT 5)"
    )


def test_a_link_that_is_down_is_shown_as_down(config_dir: ConfigDir) -> None:
    if not shutil.which("ip") or not shutil.which("unshare"):
        pytest.skip("needs iproute2 and unshare to make a network namespace")
    # A fresh network namespace: its loopback exists and is administratively down.
    import subprocess
    import sys

    result = subprocess.run(
        [
            "unshare",
            "--net",
            sys.executable,
            "-m",
            "agent",
            "check-config",
            "-c",
            str(config_dir.root),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if result.returncode != 0 and "unshare" in result.stderr:
        pytest.skip(f"cannot create a network namespace here: {result.stderr.strip()}")
    assert result.returncode == 0, result.stderr
    assert _summary(result.stdout)["interfaces"] == "lo down (administratively)"


def test_warnings_follow_the_summary_and_do_not_fail(config_dir: ConfigDir) -> None:
    path = config_dir.drop_in("10.toml", '[mqtt]\nurl = "mqtt://broker.st-anne.org"\n')
    result = run_cli("check-config", "-c", str(config_dir.root))
    assert result.returncode == 0
    assert result.stdout.splitlines()[-1] == (
        f"warning: {path}: mqtt.url: mqtt://broker.st-anne.org is plain TCP to another host: "
        "summaries and the password cross the network unencrypted; use mqtts:// (port 8883)"
    )


def test_invalid_config_prints_every_error_and_exits_2(config_dir: ConfigDir) -> None:
    path = config_dir.drop_in(
        "10.toml",
        '[flows]\nmax_flows = 5\nmax_flow = 5\n[mqtt]\nurl = "mqtt://broker.st-anne.org"\n',
    )
    result = run_cli("check-config", "-c", str(config_dir.root))
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"{path}: flows.max_flows: 5 is out of range; use a value from 1024 to 4194304",
        f"{path}: flows.max_flow: unknown key; did you mean flows.max_flows?",
        f"warning: {path}: mqtt.url: mqtt://broker.st-anne.org is plain TCP to another host: "
        "summaries and the password cross the network unencrypted; use mqtts:// (port 8883)",
        "check-config: 2 errors; the agent will not start with this configuration",
    ]


@pytest.mark.parametrize(
    "content",
    [b"\x00\xff\xfe binary", b"[sensor]\nid = \n", b"[[sensor]]\nid = 'x'\n", b"= = =", b""],
    ids=["binary", "no-value", "array-of-tables", "garbage", "empty"],
)
def test_garbage_config_is_one_line_per_problem_never_a_traceback(
    tmp_path: Path, content: bytes
) -> None:
    (tmp_path / "agent.toml").write_bytes(content)
    result = run_cli("check-config", "-c", str(tmp_path))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert lines[-1].startswith("check-config: ")
    assert all(line.startswith(f"{tmp_path}/agent.toml: ") for line in lines[:-1]), lines


def test_directory_without_agent_toml_is_named(tmp_path: Path) -> None:
    result = run_cli("check-config", "-c", str(tmp_path))
    assert result.returncode == 2
    assert result.stderr.splitlines()[0] == (
        f"{tmp_path}/agent.toml: does not exist; give -c the configuration directory "
        "(e.g. /etc/iomt-agent) or its agent.toml"
    )
