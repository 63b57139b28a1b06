"""central.toml: the shipped file documents exactly the schema, and every mistake is
reported at once with file, key and a did-you-mean."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from agent.config.problems import ConfigError
from central.config import load_config
from central.config.check import check_value
from central.config.schema import OPTIONS
from tests.support.agent_setup import REPO, environment

SHIPPED = REPO / "config" / "central.toml"


def test_shipped_central_toml_holds_every_key_with_its_default_and_a_comment() -> None:
    document = tomllib.loads(SHIPPED.read_text())
    shipped = {
        (section, key): value for section, table in document.items() for key, value in table.items()
    }
    assert set(shipped) == {(o.section, o.name) for o in OPTIONS}
    for option in OPTIONS:
        assert check_value(
            option, shipped[(option.section, option.name)], SHIPPED.parent
        ) == check_value(option, option.default, SHIPPED.parent), option.dotted
    lines = SHIPPED.read_text().splitlines()
    for number, line in enumerate(lines):
        if re.match(r"^[a-z_]+ = ", line):
            above = lines[number - 1]
            assert above.startswith("#") or re.match(r"^[a-z_]+ = ", above), (
                f"{line!r} has no comment"
            )


def _write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "trust").mkdir(exist_ok=True)
    path = tmp_path / "central.toml"
    path.write_text(text)
    return path


def test_every_problem_is_reported_at_once_with_file_key_and_hint(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """
[databse]
url = "sqlite:///x.db"
[mqtt]
url = "http://broker"
topic_filtre = "iomt/#"
[trust]
dir = "trust"
[web]
listen = "8080"
[retention]
flows_days = -1
[classification]
rules = ["missing.toml"]
""",
    )
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    errors = raised.value.errors
    assert len(errors) == 6, errors
    assert all(line.startswith(f"{path}: ") for line in errors)
    text = "\n".join(errors)
    assert "[databse]: unknown section; did you mean [database]?" in text
    assert "mqtt.url: 'http://broker' must be mqtt://" in text
    assert "mqtt.topic_filtre: unknown key; did you mean mqtt.topic_filter?" in text
    assert "web.listen: '8080' is not host:port" in text
    assert "retention.flows_days: must be at least" in text
    assert "classification.rules: " in text and "missing.toml does not exist" in text


def test_a_bad_site_rules_file_is_a_config_error_naming_its_file_and_rule(tmp_path: Path) -> None:
    rules = tmp_path / "site.toml"
    rules.write_text(
        '[[rule]]\nid = "x"\nfingerprint = "dhcp_vendor_class"\npattern = "(["\n'
        'category = "infusion_pmp"\nconfidence = 2\n'
    )
    path = _write(tmp_path, f'[trust]\ndir = "trust"\n[classification]\nrules = ["{rules}"]\n')
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    text = "\n".join(raised.value.errors)
    assert (
        f"{rules}: rule #1 (x): category: 'infusion_pmp' is not a category; "
        "did you mean infusion_pump?" in text
    )
    assert "confidence: must be a number from 0.05 to 1.0" in text
    assert "pattern: not a valid regular expression" in text


def _check_config(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "central", "check-config", "-c", str(path)],
        capture_output=True, text=True, cwd=REPO, env=environment(), timeout=60,
    )  # fmt: skip


def test_check_config_says_ok_with_a_summary_or_lists_errors_and_exits_2(tmp_path: Path) -> None:
    good = _write(
        tmp_path,
        '[trust]\ndir = "trust"\n[database]\nurl = "postgresql://iomt:secret@db:5432/inv"\n',
    )
    result = _check_config(good)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("OK\n")
    assert "postgresql+psycopg" not in result.stdout and "secret" not in result.stdout
    assert "http://127.0.0.1:8080" in result.stdout
    bad = _write(tmp_path, '[trust]\ndir = "nowhere"\n[mqtt]\nshare_group = "a/b"\n')
    result = _check_config(bad)
    assert result.returncode == 2
    assert result.stdout == ""  # errors go to stderr, as the agent's
    assert len(result.stderr.splitlines()) == 2
    assert "trust.dir" in result.stderr and "mqtt.share_group" in result.stderr
