"""systemd/iomt-central.service: verifies clean, low security exposure, and holds what
the service needs (serve with the shipped config path, state dir, exit 2 not restarted)."""

from __future__ import annotations

import re
from pathlib import Path

from tests.support.agent_setup import REPO
from tests.support.systemd_unit import (
    analyze,
    installed_program,
    needs_analyze,
    unit_running_this_venv,
)

UNIT = REPO / "systemd" / "iomt-central.service"
INSTALLED_PROGRAM = installed_program("iomt-central")


def _unit_here(tmp_path: Path) -> Path:
    return unit_running_this_venv(UNIT, "iomt-central", tmp_path)


@needs_analyze
def test_central_unit_verifies_clean(tmp_path: Path) -> None:
    result = analyze("verify", str(_unit_here(tmp_path)))
    assert result.returncode == 0, result.stderr
    assert "iomt-central.service" not in result.stderr, result.stderr


@needs_analyze
def test_central_unit_security_exposure_is_low(tmp_path: Path) -> None:
    result = analyze("security", "--offline=true", str(_unit_here(tmp_path)))
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
