"""The systemd unit and the installer: `systemd-analyze verify` clean, security exposure
<= 2.0, the unit's contract with the agent, and tools/install.sh staged and for real (in a
private mount namespace whose changes vanish with it)."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from agent.config import DEFAULT_CONFIG_DIR
from agent.config.schema import BY_SECTION
from agent.errors import UsageError
from tests.support.systemd_unit import (
    analyze,
    installed_program,
    needs_analyze,
    unit_running_this_venv,
    venv_program,
)
from tests.test_config_support import REPO

UNIT = REPO / "systemd" / "iomt-agent.service"
INSTALL = REPO / "tools" / "install.sh"
INSTALLED_PROGRAM = installed_program("iomt-agent")
REPO_PROGRAM = venv_program("iomt-agent")


def _directives(text: str) -> dict[str, list[str]]:
    """Unit file directives; a key set twice keeps both values (SystemCallFilter=)."""
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith(("#", ";", "[")):
            key, value = line.split("=", 1)
            found.setdefault(key.strip(), []).append(value.strip())
    return found


def _unit_with_existing_program(tmp_path: Path) -> Path:
    return unit_running_this_venv(UNIT, "iomt-agent", tmp_path)


@needs_analyze
def test_unit_verifies_clean(tmp_path: Path) -> None:
    result = analyze("verify", str(_unit_with_existing_program(tmp_path)))
    assert result.returncode == 0, result.stderr
    assert "iomt-agent.service" not in result.stderr, result.stderr


@needs_analyze
def test_unit_as_shipped_only_lacks_its_installed_program() -> None:
    result = analyze("verify", str(UNIT))
    if Path(INSTALLED_PROGRAM).exists():
        assert result.returncode == 0, result.stderr
        return
    complaints = [line for line in result.stderr.splitlines() if "iomt-agent" in line]
    assert complaints == [
        f"iomt-agent.service: Command {INSTALLED_PROGRAM} is not executable: "
        "No such file or directory"
    ]


@needs_analyze
def test_unit_security_exposure_is_at_most_2(tmp_path: Path) -> None:
    result = analyze("security", "--offline=true", str(_unit_with_existing_program(tmp_path)))
    match = re.search(r"Overall exposure level for iomt-agent\.service: (\d+\.\d+)", result.stdout)
    assert match, result.stdout + result.stderr
    assert float(match.group(1)) <= 2.0, result.stdout


def test_unit_holds_the_agents_contract() -> None:
    unit = _directives(UNIT.read_text())
    assert unit["Type"] == ["notify"]
    assert unit["WatchdogSec"] and unit["WatchdogSec"][0] != "0"
    assert unit["ExecStart"] == [f"{INSTALLED_PROGRAM} run -c {DEFAULT_CONFIG_DIR}"]
    assert unit["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    # A configuration error exits 2; restarting cannot fix it.
    assert unit["RestartPreventExitStatus"] == [str(UsageError.exit_code)]
    assert unit["Restart"] == ["on-failure"]
    assert (unit["User"], unit["Group"]) == (["iomt-agent"], ["iomt-agent"])
    for key in ("AmbientCapabilities", "CapabilityBoundingSet"):
        assert unit[key] == ["CAP_NET_RAW CAP_NET_ADMIN"], key
    assert unit["NoNewPrivileges"] == ["yes"]
    assert unit["ProtectSystem"] == ["strict"]
    assert set(unit["RestrictAddressFamilies"][0].split()) == {
        "AF_UNIX",
        "AF_INET",
        "AF_INET6",
        "AF_NETLINK",
        "AF_PACKET",
    }
    assert unit["SystemCallFilter"][0] == "@system-service"
    assert unit["MemoryMax"] and unit["UMask"] == ["0077"]
    # The default spool sits in the one directory the sandbox lets the service write.
    assert unit["StateDirectory"] == ["iomt-agent"]
    assert BY_SECTION["spool"]["dir"].default.startswith("/var/lib/iomt-agent/")
    assert unit["ConfigurationDirectory"] == [DEFAULT_CONFIG_DIR.name]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def _run_install(env: dict[str, str], timeout_s: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(INSTALL)],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
        env={**os.environ, **env},
    )


def test_staged_install_lays_out_the_tree_and_keeps_local_changes(tmp_path: Path) -> None:
    if shutil.which("systemctl") is None:
        pytest.skip("systemctl is not installed (the installer enables the unit with it)")
    stage = tmp_path / "stage"
    env = {"DESTDIR": str(stage), "INSTALL_VENV": "no"}
    first = _run_install(env)
    assert first.returncode == 0, first.stderr
    config = stage / "etc/iomt-agent/agent.toml"
    assert config.read_text() == (REPO / "config/agent.toml").read_text()
    assert _mode(config) == 0o640
    assert _mode(stage / "etc/iomt-agent") == 0o750
    assert (stage / "etc/iomt-agent/agent.d").is_dir()
    assert _mode(stage / "var/lib/iomt-agent") == 0o700
    assert (stage / "opt/iomt-agent/config/example-wing.toml").is_file()
    unit = stage / "etc/systemd/system/iomt-agent.service"
    assert unit.read_text() == UNIT.read_text()
    wants = stage / "etc/systemd/system/multi-user.target.wants/iomt-agent.service"
    assert os.readlink(wants) == "/etc/systemd/system/iomt-agent.service"

    config.write_text(config.read_text() + "\n# changed on site\n")
    second = _run_install(env)
    assert second.returncode == 0, second.stderr
    assert "keeping the existing /etc/iomt-agent/agent.toml" in second.stdout
    assert config.read_text().endswith("# changed on site\n")


# Python distributions that are build or test tools: never on a production sensor.
_NOT_FOR_A_SENSOR = {"pytest", "ruff", "mypy", "scapy", "pycddl", "selenium", "sqlalchemy"}
_NOT_FOR_A_SENSOR |= {"alembic", "fastapi", "uvicorn", "psycopg", "jinja2"}


def test_staged_install_works_once_moved_into_place(tmp_path: Path) -> None:
    if shutil.which("systemctl") is None:
        pytest.skip("systemctl is not installed")
    stage, final = tmp_path / "stage", tmp_path / "box" / "iomt-agent"
    result = _run_install(
        {"DESTDIR": str(stage), "INSTALL_VENV": "yes", "PREFIX": str(final)}, timeout_s=600
    )
    assert result.returncode == 0, result.stdout + result.stderr
    final.parent.mkdir(parents=True)
    shutil.move(stage / str(final).lstrip("/"), final)  # what unpacking a package does
    shutil.rmtree(stage)
    venv = final / ".venv"
    # Made with the system Python, whatever python3 comes first on the PATH.
    assert "home = /usr/bin" in (venv / "pyvenv.cfg").read_text()
    # A copy of the package, not this checkout: the engine it imports is the one it built.
    probe = subprocess.run(
        [str(venv / "bin/python"), "-c",
         "import agent, agent._engine as e; print(agent.__file__); print(e.SLOT_BYTES)"],
        capture_output=True, text=True, check=True, cwd=tmp_path, timeout=60,
    )  # fmt: skip
    package_file, slot_bytes = probe.stdout.split()
    assert package_file.startswith(str(venv)) and int(slot_bytes) > 0
    # The script (its #! line) runs from where it was moved to.
    keygen = subprocess.run(
        [str(venv / "bin/iomt-agent"), "keygen", "--out", str(tmp_path / "keys")],
        capture_output=True, text=True, cwd=tmp_path, timeout=60,
    )  # fmt: skip
    assert keygen.returncode == 0, keygen.stderr
    assert (tmp_path / "keys/sensor.key").is_file()
    assert str(stage) not in (venv / "bin/iomt-agent").read_text()
    # Runtime packages only.
    listed = subprocess.run(
        [str(venv / "bin/python"), "-m", "pip", "list", "--format=freeze"],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    installed = {line.split("==")[0].lower() for line in listed.stdout.splitlines()}
    assert "iomt-agent" in installed and "cbor2" in installed
    assert not installed & _NOT_FOR_A_SENSOR, installed & _NOT_FOR_A_SENSOR


def test_the_production_install_needs_no_build_or_test_tools() -> None:
    listed = subprocess.run(
        ["bash", "-c", 'eval "$(sed -n "/^RUNTIME_PACKAGES=/p" build.sh)"; '
         'printf "%s\\n" "${RUNTIME_PACKAGES[@]}"'],
        capture_output=True, text=True, check=True, cwd=REPO,
    )  # fmt: skip
    runtime = set(listed.stdout.split())
    assert {"python3", "python3-venv", "libpcap0.8"} <= runtime
    tools = {"gcc", "clang", "nodejs", "npm", "softflowd", "tcpdump", "mosquitto", "chromium"}
    tools |= {"libpcap-dev", "python3-dev", "pkg-config", "libclang-rt-14-dev"}
    assert not runtime & tools
    # `./build.sh install` runs neither the developer set-up nor pip's test extras.
    script = (REPO / "build.sh").read_text()
    install_line = next(line for line in script.splitlines() if line.strip().startswith("install)"))
    assert "setup" not in install_line and "production_install" in install_line


def test_staged_install_with_another_prefix_points_the_unit_there(tmp_path: Path) -> None:
    if shutil.which("systemctl") is None:
        pytest.skip("systemctl is not installed")
    stage = tmp_path / "stage"
    result = _run_install({"DESTDIR": str(stage), "INSTALL_VENV": "no", "PREFIX": "/srv/iomt"})
    assert result.returncode == 0, result.stderr
    unit = _directives((stage / "etc/systemd/system/iomt-agent.service").read_text())
    assert unit["ExecStart"] == [f"/srv/iomt/.venv/bin/iomt-agent run -c {DEFAULT_CONFIG_DIR}"]


def test_install_for_real_refuses_without_root(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        # As nobody, from a copy nobody can read: the clone may sit under /root or in a
        # mktemp -d directory (mode 0700), which nobody cannot enter.
        readable = Path(tempfile.mkdtemp(prefix="iomt-install-"))
        try:
            readable.chmod(0o755)
            script = readable / "install.sh"
            shutil.copy(INSTALL, script)
            script.chmod(0o755)
            result = subprocess.run(
                [
                    "setpriv",
                    "--reuid=65534",
                    "--regid=65534",
                    "--clear-groups",
                    "bash",
                    str(script),
                ],
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
                env={**os.environ, "DESTDIR": ""},
                cwd="/",
            )
        finally:
            shutil.rmtree(readable)
    else:
        result = _run_install({"DESTDIR": ""})
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == (
        "install: error: run as root (sudo ./build.sh install), or set DESTDIR=DIR to stage "
        "the files"
    )


def _build_sh() -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    result = subprocess.run(
        [str(REPO / "build.sh")], capture_output=True, text=True, timeout=600, cwd=REPO
    )
    assert result.returncode == 0, result.stderr
    assert "Editable installation" not in result.stderr  # setuptools' warning is hidden
    return result, time.monotonic() - started


def test_build_sh_skips_pip_when_nothing_changed() -> None:
    if not (REPO / ".venv" / ".iomt-agent-build-inputs").exists():
        pytest.skip(".venv was not made by ./build.sh")
    result, _ = _build_sh()
    if "installing iomt-agent" in result.stdout:
        result, _ = _build_sh()  # the sources had changed since the last build
    result, elapsed_s = _build_sh()
    assert "up to date" in result.stdout and "installing iomt-agent" not in result.stdout
    assert elapsed_s < 60


# In a private mount namespace, /etc, /opt, /var/lib and /usr/local/bin are overlays whose
# upper layers live in tmp: the installer runs for real (useradd, chown, systemctl enable)
# and every change is gone when the namespace ends.
_REAL_INSTALL = r"""
set -e
for d in etc opt var/lib usr/local/bin; do
    mkdir -p "$WORK/upper/$d" "$WORK/work/$d"
    mount -t overlay overlay \
        -o "lowerdir=/$d,upperdir=$WORK/upper/$d,workdir=$WORK/work/$d" "/$d"
done
# The venv step needs the package index; the repository's agent stands in for it.
mkdir -p /opt/iomt-agent/.venv/bin
ln -s "$PROGRAM" /opt/iomt-agent/.venv/bin/iomt-agent
INSTALL_VENV=no "$INSTALL"
echo "# changed on site" >> /etc/iomt-agent/agent.toml
INSTALL_VENV=no "$INSTALL"
echo "--- report"
getent passwd iomt-agent | cut -d: -f1,6,7
stat -c '%a %U:%G %n' /etc/iomt-agent /etc/iomt-agent/agent.toml /etc/iomt-agent/sensor.key \
    /var/lib/iomt-agent
tail -n 1 /etc/iomt-agent/agent.toml
readlink /etc/systemd/system/multi-user.target.wants/iomt-agent.service
systemd-analyze verify /etc/systemd/system/iomt-agent.service && echo verify-clean
# This box's names, this machine's interface and a local broker; the rest as installed.
printf '[sensor]\nid = "anne4b-01"\nsite = "st-anne"\n[capture]\ninterfaces = ["lo"]\n' \
    > /etc/iomt-agent/agent.d/50-test.toml
printf 'allow_management_interfaces = true\n[mqtt]\nurl = "mqtt://127.0.0.1:1883"\n' \
    >> /etc/iomt-agent/agent.d/50-test.toml
"$PROGRAM" check-config -c /etc/iomt-agent | head -n 1
chown root: /etc/iomt-agent/sensor.key
"$PROGRAM" check-config -c /etc/iomt-agent 2>&1 | head -n 1
"""


def test_real_install_creates_user_dirs_key_and_enabled_unit(tmp_path: Path) -> None:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare for a private mount namespace")
    if not REPO_PROGRAM.exists():
        pytest.skip(f"{REPO_PROGRAM} is missing")
    env = {
        **os.environ,
        "WORK": str(tmp_path),
        "INSTALL": str(INSTALL),
        "PROGRAM": str(REPO_PROGRAM),
    }
    user_before = _host_has_user()
    result = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "bash", "-c", _REAL_INSTALL],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )
    if result.returncode != 0 and "mount" in result.stderr and "--- report" not in result.stdout:
        pytest.skip(f"overlay mounts are not permitted here: {result.stderr.strip()}")
    assert result.returncode == 0, result.stdout + result.stderr
    report = result.stdout.split("--- report\n", 1)[1].splitlines()
    assert report == [
        "iomt-agent:/var/lib/iomt-agent:/usr/sbin/nologin",
        "750 root:iomt-agent /etc/iomt-agent",
        "640 root:iomt-agent /etc/iomt-agent/agent.toml",
        "600 iomt-agent:iomt-agent /etc/iomt-agent/sensor.key",
        "700 iomt-agent:iomt-agent /var/lib/iomt-agent",
        "# changed on site",
        "/etc/systemd/system/iomt-agent.service",
        "verify-clean",
        "OK",
        "/etc/iomt-agent/agent.toml: signing.key: /etc/iomt-agent/sensor.key is owned by root "
        "with mode 0600, so the service user iomt-agent cannot read it; run chown iomt-agent: "
        "/etc/iomt-agent/sensor.key",
    ]
    assert result.stdout.count("creating this box's signing key") == 1
    # The namespace is gone, and with it every change made to this machine.
    assert _host_has_user() == user_before


def _host_has_user() -> bool:
    lookup = subprocess.run(["getent", "passwd", "iomt-agent"], capture_output=True, check=False)
    return lookup.returncode == 0
