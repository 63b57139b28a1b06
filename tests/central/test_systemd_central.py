"""systemd/iomt-central.service: verifies clean, low security exposure, and holds what
the service needs (serve with the shipped config path, state dir, exit 2 not restarted)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.agent_setup import REPO

UNIT = REPO / "systemd" / "iomt-central.service"
INSTALLED_PROGRAM = "/opt/iomt-agent/.venv/bin/iomt-central"
REPO_PROGRAM = Path(sys.executable).parent / "iomt-central"

needs_analyze = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed"
)


def _unit_here(tmp_path: Path) -> Path:
    if not REPO_PROGRAM.exists():
        pytest.skip(f"{REPO_PROGRAM} is missing: the package is not installed in the venv")
    copy = tmp_path / "iomt-central.service"
    copy.write_text(UNIT.read_text().replace(INSTALLED_PROGRAM, str(REPO_PROGRAM)))
    return copy


def _analyze(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["systemd-analyze", *args], capture_output=True, text=True, timeout=60, check=False
    )


@needs_analyze
def test_central_unit_verifies_clean(tmp_path: Path) -> None:
    result = _analyze("verify", str(_unit_here(tmp_path)))
    assert result.returncode == 0, result.stderr
    assert "iomt-central.service" not in result.stderr, result.stderr


@needs_analyze
def test_central_unit_security_exposure_is_low(tmp_path: Path) -> None:
    result = _analyze("security", "--offline=true", str(_unit_here(tmp_path)))
    match = re.search(
        r"Overall exposure level for iomt-central\.service: (\d+\.\d+)", result.stdout
    )
    assert match, result.stdout + result.stderr
    assert float(match.group(1)) <= 2.0, result.stdout


def test_central_unit_runs_serve_as_its_own_user_and_never_restarts_a_config_error() -> None:
    text = UNIT.read_text()
    assert f"ExecStart={INSTALLED_PROGRAM} serve -c /etc/iomt-central/central.toml" in text
    assert "User=iomt-central" in text and "StateDirectory=iomt-central" in text
    assert "RestartPreventExitStatus=2" in text and "CapabilityBoundingSet=\n" in text
