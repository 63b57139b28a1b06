"""`iomt-central` shares the agent's command-line pieces: a usage error is one line naming
iomt-central and exits 2, a runtime error names the command, --version names the program."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def central(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "central", *args], capture_output=True, text=True, cwd=REPO
    )


def test_a_usage_error_is_one_line_naming_iomt_central_and_exits_2() -> None:
    result = central("bogus")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("iomt-central: error: "), lines


def test_a_subcommand_usage_error_names_the_program_not_the_subcommand() -> None:
    result = central("export", "--format", "pdf")
    assert result.returncode == 2
    assert result.stderr.startswith("iomt-central: error: "), result.stderr


def test_version_names_iomt_central() -> None:
    result = central("--version")
    assert result.returncode == 0 and result.stdout.startswith("iomt-central "), result.stdout


def test_a_missing_configuration_is_one_line_and_exits_2(tmp_path: Path) -> None:
    result = central("check-config", "-c", str(tmp_path / "absent.toml"))
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
