"""Loading: defaults, agent.d override order, -c as file or directory, paths and sizes."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from agent.config import ConfigError, load_config
from agent.config.adapters import engine_settings, key_id, mqtt_settings, spool_settings
from agent.config.model import SECTION_CLASSES
from agent.config.schema import BY_SECTION, OPTIONS
from agent.errors import UsageError
from tests.test_config_support import ConfigDir, make_config_dir


@pytest.fixture
def config_dir(tmp_path: Path) -> ConfigDir:
    return make_config_dir(tmp_path)


def test_minimal_config_gets_every_default(config_dir: ConfigDir) -> None:
    config = config_dir.load()
    assert config.sensor.id == "anne4b-01"
    assert config.capture.interfaces == ("lo",)
    assert config.flows.max_flows == 65536
    assert config.flows.udp_idle_timeout_s == 60.0
    assert config.mqtt.urls == ("mqtt://127.0.0.1:1883",)
    assert config.mqtt.ca_file is None
    assert config.mqtt.qos == 1
    assert config.spool.max_bytes == 268435456
    assert config.spool.dir == config_dir.spool
    assert config.files == (config_dir.main,)
    assert config.warnings == ()


def test_drop_ins_override_key_by_key_in_sorted_order(config_dir: ConfigDir) -> None:
    config_dir.drop_in("20-wing.toml", "[mqtt]\nkeepalive_s = 20\n")
    config_dir.drop_in("10-site.toml", '[mqtt]\nkeepalive_s = 10\ntopic_prefix = "site"\n')
    config_dir.drop_in("30-health.toml", "[health]\ninterval_s = 15\n")
    config = config_dir.load()
    assert config.mqtt.keepalive_s == 20  # 20-wing is read after 10-site
    assert config.mqtt.topic_prefix == "site"  # 20-wing did not touch it
    assert config.mqtt.url == "mqtt://127.0.0.1:1883"  # [mqtt] of agent.toml kept
    assert config.health.interval_s == 15
    assert [path.name for path in config.files] == [
        "agent.toml",
        "10-site.toml",
        "20-wing.toml",
        "30-health.toml",
    ]


def test_dash_c_file_reads_that_file_then_agent_d_beside_it(config_dir: ConfigDir) -> None:
    other = config_dir.root / "other.toml"
    other.write_text(config_dir.main.read_text().replace("anne4b-01", "other-01"))
    config_dir.drop_in("50.toml", '[sensor]\nwing = "5c"\n')
    config = load_config(other)
    assert (config.sensor.id, config.sensor.wing) == ("other-01", "5c")
    assert config.files == (other, config_dir.root / "agent.d" / "50.toml")


def test_non_toml_files_in_agent_d_are_ignored_with_a_warning(config_dir: ConfigDir) -> None:
    ignored = config_dir.drop_in("60-wing.tml", "[mqtt]\nkeepalive_s = 99\n")
    config_dir.drop_in(".60-wing.toml.swp", "garbage")
    config = config_dir.load()
    assert config.mqtt.keepalive_s == 60
    assert config.warnings == (
        f"{ignored}: ignored: only files ending in .toml are read from agent.d",
    )


def test_relative_paths_are_relative_to_the_file_naming_them(config_dir: ConfigDir) -> None:
    config_dir.drop_in("10.toml", '[signing]\nkey = "../keys/sensor.key"\n')
    assert config_dir.load().signing.key == config_dir.key


def test_sizes_take_bytes_or_binary_units(config_dir: ConfigDir) -> None:
    config_dir.drop_in(
        "10.toml", '[spool]\nmax_bytes = "512 MiB"\n[capture]\nbuffer_bytes = "8M"\n'
    )
    config = config_dir.load()
    assert config.spool.max_bytes == 512 * 1024 * 1024
    assert config.capture.buffer_bytes == 8 * 1024 * 1024


def test_an_empty_path_in_a_drop_in_switches_a_file_off(config_dir: ConfigDir) -> None:
    config_dir.write(
        config_dir.main.read_text().replace(
            "[mqtt]", '[mqtt]\nusername = "u"\npassword_file = "pw"'
        )
    )
    config_dir.secret("pw")
    assert config_dir.load().mqtt.password_file == config_dir.root / "pw"
    config_dir.drop_in("10.toml", '[mqtt]\npassword_file = ""\n')
    assert config_dir.load().mqtt.password_file is None


def test_config_error_is_a_usage_error_with_exit_code_2(config_dir: ConfigDir) -> None:
    config_dir.drop_in("10.toml", "[flows]\nmax_flows = 1\n")
    with pytest.raises(ConfigError) as caught:
        config_dir.load()
    assert isinstance(caught.value, UsageError)
    assert caught.value.exit_code == 2
    assert str(caught.value) == "\n".join(caught.value.errors)


def test_replay_can_skip_the_interface_check(config_dir: ConfigDir) -> None:
    config_dir.write(config_dir.main.read_text().replace('["lo"]', '["no-such-if0"]'))
    assert config_dir.load(check_interfaces=False).capture.interfaces == ("no-such-if0",)


def test_dataclass_fields_are_exactly_the_schema_keys() -> None:
    for section, cls in SECTION_CLASSES.items():
        fields = [field.name for field in dataclasses.fields(cls)]
        assert fields == list(BY_SECTION[section]), section
    assert list(SECTION_CLASSES) == list(BY_SECTION)


def test_every_default_passes_its_own_check() -> None:
    from agent.config.schema import check_value

    for option in OPTIONS:
        if not option.required:
            _, problem = check_value(option, option.default, Path("/"))
            assert problem is None, option.dotted


def test_settings_for_the_publisher_and_spool_carry_the_configured_values(
    config_dir: ConfigDir,
) -> None:
    config_dir.secret("pw")
    config_dir.drop_in(
        "10.toml",
        """
        [mqtt]
        failover_urls = ["mqtt://localhost:1884"]
        username = "sensor-4b"
        password_file = "../pw"
        protocol = "3.1.1"
        keepalive_s = 15
        [spool]
        max_bytes = "2 MiB"
        fsync_interval_s = 0
        on_full = "drop_newest"
        """,
    )
    config = config_dir.load()
    mqtt = mqtt_settings(config)
    assert mqtt.urls == ("mqtt://127.0.0.1:1883", "mqtt://localhost:1884")
    assert mqtt.client_id == "anne4b-01"
    assert (mqtt.username, mqtt.password_file) == ("sensor-4b", config_dir.root / "pw")
    assert (mqtt.protocol, mqtt.keepalive_s, mqtt.live_expiry_s) == ("3.1.1", 15, None)
    spool = spool_settings(config)
    assert spool.dir == config_dir.spool
    assert (spool.max_bytes, spool.fsync_interval_s, spool.full_policy) == (
        2 * 1024 * 1024,
        0.0,
        "drop_newest",
    )


def test_engine_settings_carry_the_flow_table_and_timeouts(config_dir: ConfigDir) -> None:
    config_dir.drop_in(
        "10.toml",
        "[flows]\nmax_flows = 2048\nudp_idle_timeout_s = 12.5\nactive_timeout_s = 3600\n",
    )
    engine = engine_settings(config_dir.load())
    assert engine.max_flows == 2048
    assert engine.udp_idle_timeout_s == 12.5
    assert engine.active_timeout_s == 3600
    assert engine.tcp_idle_timeout_s == 300


def test_key_id_is_computed_from_the_configured_key(config_dir: ConfigDir) -> None:
    assert key_id(config_dir.load()) == config_dir.kid()
    assert config_dir.key.with_name(f"{config_dir.kid()}.pub").is_file()  # what keygen printed
