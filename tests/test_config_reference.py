"""config/agent.toml documents exactly the keys the agent knows, at their real defaults, and
both shipped files validate once their paths point at real files."""

from __future__ import annotations

import re
import shutil
import tomllib
from pathlib import Path

import pytest

from agent.config import ConfigError, load_config
from agent.config.schema import BY_SECTION, OPTIONS, Option, check_value
from agent.keys import generate_key_pair
from tests.support.certs import make_pki
from tests.test_config_support import REPO

REFERENCE = REPO / "config" / "agent.toml"
EXAMPLE = REPO / "config" / "example-wing.toml"

# "#key = value": an optional key shown at its default (prose comments have "# ").
_COMMENTED_KEY = re.compile(r"^#(?=[a-z_]+ = )", re.MULTILINE)


def _reference_with_defaults_enabled() -> dict[str, dict[str, object]]:
    return tomllib.loads(_COMMENTED_KEY.sub("", REFERENCE.read_text()))


def test_reference_documents_every_key_and_no_other() -> None:
    documented = {
        (section, key)
        for section, table in _reference_with_defaults_enabled().items()
        for key in table
    }
    known = {(option.section, option.name) for option in OPTIONS}
    assert documented - known == set(), "documented but unknown to the agent"
    assert known - documented == set(), "known to the agent but undocumented"


def test_reference_shows_required_keys_set_and_optional_keys_at_their_default() -> None:
    active = tomllib.loads(REFERENCE.read_text())
    enabled = _reference_with_defaults_enabled()
    for option in OPTIONS:
        in_file = option.name in active.get(option.section, {})
        assert in_file == option.required, f"{option.dotted}: required keys only are active"
        if not option.required:
            shown, _ = check_value(option, enabled[option.section][option.name], Path("/"))
            default, _ = check_value(option, option.default, Path("/"))
            assert shown == default, f"{option.dotted}: reference shows {shown}, default {default}"


def test_reference_says_unit_or_kind_default_and_range_for_every_key() -> None:
    text = REFERENCE.read_text()
    for option in OPTIONS:
        # The comment block right above the key's line.
        match = re.search(rf"((?:^# .*\n|^#\n)+)#?{option.name} = ", text, re.MULTILINE)
        assert match, f"{option.dotted} has no comment above it"
        comment = match.group(1)
        if option.minimum is not None and option.maximum is not None:
            documented = f"Range: {_amount(option, option.minimum)} to "
            documented += f"{_amount(option, option.maximum)}."
            assert documented in comment, f"{option.dotted}: expected {documented!r}"
            if option.name.endswith("_s"):
                assert "Unit: seconds" in comment, option.dotted
        if option.choices:
            for choice in option.choices:
                assert f'"{choice}"' in comment, f"{option.dotted}: {choice} not documented"
    assert set(BY_SECTION) == set(tomllib.loads(_COMMENTED_KEY.sub("", text)))


def _amount(option: Option, value: float) -> str:
    """A range bound as the reference writes it: sizes in binary units, others plain."""
    if option.kind == "size":
        for unit, factor in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20)):
            if value >= factor and value % factor == 0:
                return f"{int(value // factor)} {unit}"
    return str(int(value)) if float(value).is_integer() else str(value)


def _fill_in(text: str) -> str:
    """What a technician fills in: this box's names and the real broker (the shipped
    example values are refused as they are)."""
    for example, real in (
        ('"wing4b-01"', '"anne4b-01"'),
        ('"stmary-4b-01"', '"anne4b-01"'),
        ('"st-mary"', '"st-anne"'),
        ("st-mary.example", "st-anne.org"),
        ("broker.example", "broker.st-anne.org"),
    ):
        text = text.replace(example, real)
    return text


def _adjust_paths(text: str, root: Path) -> str:
    # The shipped files name /etc/iomt-agent and /var/lib/iomt-agent; tests use tmp.
    return text.replace("/etc/iomt-agent", str(root / "etc")).replace(
        "/var/lib/iomt-agent", str(root / "var")
    )


def test_reference_file_validates_with_every_line_enabled_and_paths_adjusted(
    tmp_path: Path,
) -> None:
    etc = tmp_path / "etc"
    generate_key_pair(etc)
    text = _COMMENTED_KEY.sub("", REFERENCE.read_text())
    text = _fill_in(_adjust_paths(text, tmp_path)).replace('["eth1"]', '["lo"]')
    text = text.replace("allow_management_interfaces = false", "allow_management_interfaces = true")
    text = text.replace("optional_interfaces = []\n", "")
    (etc / "agent.toml").write_text(text)
    config = load_config(etc)
    assert config.sensor.id == "anne4b-01"
    assert config.spool.dir == tmp_path / "var" / "spool"
    assert config.warnings == ()


def test_worked_example_validates_with_its_files_in_place(tmp_path: Path) -> None:
    etc = tmp_path / "etc"
    generate_key_pair(etc)
    pki = make_pki(tmp_path / "pki")
    client_cert, client_key = pki.client("stmary-4b-01")
    shutil.copy(pki.ca_cert, etc / "hospital-ca.pem")
    shutil.copy(client_cert, etc / "client.pem")
    shutil.copy(client_key, etc / "client.key")
    for name, content in (
        ("mqtt.password", "correct horse battery staple\n"),
        ("site.secret", "0123456789abcdef0123456789abcdef"),
    ):
        (etc / name).write_text(content)
        (etc / name).chmod(0o600)
    (etc / "agent.toml").write_text(_fill_in(_adjust_paths(EXAMPLE.read_text(), tmp_path)))
    # eth1 and eth2 are the box's SPAN ports, not this machine's.
    config = load_config(etc, check_interfaces=False)
    assert config.capture.interfaces == ("eth1", "eth2")
    assert config.mqtt.urls == (
        "mqtts://mqtt.st-anne.org:8883",
        "mqtts://mqtt-dr.st-anne.org:8883",
    )
    assert config.mqtt.cert_file == etc / "client.pem"
    assert config.spool.max_bytes == 512 * 1024 * 1024
    assert config.warnings == ()


def test_shipped_example_values_are_refused_until_filled_in(tmp_path: Path) -> None:
    for shipped in (REFERENCE, EXAMPLE):
        etc = tmp_path / shipped.stem
        etc.mkdir()
        generate_key_pair(etc)
        (etc / "agent.toml").write_text(_adjust_paths(shipped.read_text(), tmp_path))
        with pytest.raises(ConfigError) as caught:
            load_config(etc, check_interfaces=False)
        placeholders = [line for line in caught.value.errors if "fill this in" in line]
        keys = {line.split(": ")[1] for line in placeholders}
        assert keys >= {"sensor.id", "sensor.site", "mqtt.url"}, shipped.name
        assert "the shipped example; fill this in" in " ".join(placeholders)


def test_any_example_host_is_refused_as_a_broker(tmp_path: Path) -> None:
    from agent.config.rules import is_example_host

    assert is_example_host("broker.example") and is_example_host("mqtt.example.com")
    assert is_example_host("EXAMPLE.org.") and not is_example_host("example-hospital.org")
