"""What the two units' tests share: `systemd-analyze` and a unit copy that runs this venv.

`systemd-analyze verify` checks that ExecStart's program exists; on a development machine
the programs live in the repository's venv, not under /opt, so the tests read a copy whose
ExecStart points there. Nothing else in the copy changes.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

needs_analyze = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed"
)


def installed_program(name: str) -> str:
    """Where the installer puts a console script (the units' ExecStart)."""
    return f"/opt/iomt-agent/.venv/bin/{name}"


def venv_program(name: str) -> Path:
    """The same console script in the venv running the tests."""
    return Path(sys.executable).parent / name


def unit_running_this_venv(unit: Path, program: str, tmp_path: Path) -> Path:
    """A copy of `unit` in tmp_path whose ExecStart is this venv's `program`; skips when
    the package is not installed in the venv."""
    here = venv_program(program)
    if not here.exists():
        pytest.skip(f"{here} is missing: the package is not installed in the venv")
    copy = tmp_path / unit.name
    copy.write_text(unit.read_text().replace(installed_program(program), str(here)))
    return copy


def analyze(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["systemd-analyze", *args], capture_output=True, text=True, timeout=60, check=False
    )
