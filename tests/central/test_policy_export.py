"""`iomt-central export --format mud|nftables` on an inventory database: the files the
command writes are valid MUD (one per category) and a ruleset `nft -c` accepts."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from central.db import open_database
from central.policy.mud_schema import mud_problems
from tests.central.containment_data import HISTORY, POLICY_TOML
from tests.central.risk_data import DEVICES, NOW
from tests.central.risk_db import insert_communications, seed_devices


@pytest.fixture
def config(tmp_path: Path) -> Path:
    url = f"sqlite:///{tmp_path / 'inventory.db'}"
    engine = open_database(url)
    with engine.begin() as connection:
        seed_devices(connection, DEVICES, NOW)
        insert_communications(connection, HISTORY)
    engine.dispose()
    (tmp_path / "trust").mkdir()
    path = tmp_path / "central.toml"
    policy = POLICY_TOML.replace(
        '[policy]\ndefault_action = "deny"\n',
        '[policy]\ndefault_action = "deny"\nallow_learned = true\n'
        'mud_url_base = "https://mud.example/iomt"\n',
    )
    path.write_text(f'[database]\nurl = "{url}"\n[trust]\ndir = "{tmp_path / "trust"}"\n{policy}')
    return path


def central(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "central", *args], capture_output=True, text=True, timeout=120
    )


def test_export_mud_one_category_to_stdout_and_every_category_into_a_directory(
    config: Path, tmp_path: Path
) -> None:
    one = central("export", "-c", str(config), "--format", "mud", "--category", "infusion_pump")
    assert one.returncode == 0, one.stderr
    document = json.loads(one.stdout)
    assert mud_problems(document) == []
    assert document["ietf-mud:mud"]["mud-url"] == "https://mud.example/iomt/infusion_pump.json"
    out = tmp_path / "mud"
    every = central("export", "-c", str(config), "--format", "mud", "--out", str(out))
    assert every.returncode == 0, every.stderr
    written = sorted(p.name for p in out.iterdir())
    assert "infusion_pump.json" in written and "pacs.json" in written and len(written) == 7
    for path in out.iterdir():
        assert mud_problems(json.loads(path.read_text())) == [], path
    missing = central("export", "-c", str(config), "--format", "mud", "--category", "ip_camera")
    assert missing.returncode == 2 and "no baseline for category 'ip_camera'" in missing.stderr


@pytest.mark.skipif(shutil.which("nft") is None, reason="nft is not installed (build.sh)")
def test_export_nftables_passes_nft_check_and_carries_learned_allows(
    config: Path, tmp_path: Path
) -> None:
    result = central("export", "-c", str(config), "--format", "nftables")
    assert result.returncode == 0, result.stderr
    ruleset = tmp_path / "containment.nft"
    ruleset.write_text(result.stdout)
    check = subprocess.run(["nft", "-c", "-f", str(ruleset)], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    assert "# rule 'learned office -> clinical-servers tcp': allow" in result.stdout
    assert "elements = { 10.20.0.11/32, 10.20.0.12/32, 10.20.0.21/32 }" in result.stdout
    assert "learned bedside -> internet" not in result.stdout


def test_export_acl_lists_the_rules_in_order_with_zone_members(config: Path) -> None:
    result = central("export", "-c", str(config), "--format", "acl")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[1].startswith(
        "10 permit tcp zone bedside (10.20.0.11/32 10.20.0.12/32 10.20.0.21/32) -> "
        "zone clinical-servers (10.10.0.0/24) eq 2575"
    )
    assert any("deny ip zone bedside" in line and "-> internet" in line for line in lines)
    assert lines[-2].endswith("deny ip any zone -> any   # default: deny what touches a zone")
    assert "(learned)" in result.stdout  # allow_learned = true in this config
