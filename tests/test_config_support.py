"""Helpers for the configuration tests: a valid configuration directory in tmp, and runners.

Holds no tests itself; test_config*.py, test_check_config*.py and test_systemd.py import it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

from agent.config import AgentConfig, ConfigError, load_config
from agent.keys import generate_key_pair, kid_for, load_private_key

REPO = Path(__file__).resolve().parent.parent


@dataclass
class ConfigDir:
    """A configuration directory whose agent.toml is valid on this host."""

    root: Path
    key: Path
    spool: Path

    @property
    def main(self) -> Path:
        return self.root / "agent.toml"

    def kid(self) -> str:
        return kid_for(load_private_key(self.key).public_key()).hex()

    def write(self, text: str, name: str = "agent.toml") -> Path:
        """Write (dedented) TOML to agent.toml or to agent.d/<name> when name has a '/'."""
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
        return path

    def drop_in(self, name: str, text: str) -> Path:
        return self.write(text, f"agent.d/{name}")

    def secret(
        self, name: str, content: str = "s3cret-password-for-the-broker", mode: int = 0o600
    ) -> Path:
        path = self.root / name
        path.write_text(content)
        path.chmod(mode)
        return path

    def load(self, **kwargs: bool) -> AgentConfig:
        return load_config(self.root, **kwargs)

    def errors(self, **kwargs: bool) -> list[str]:
        """The error lines loading this configuration gives (fails the test if it loads)."""
        with pytest.raises(ConfigError) as caught:
            load_config(self.root, **kwargs)
        return caught.value.errors


def base_toml(key: Path, spool: Path, extra_mqtt: str = "") -> str:
    return textwrap.dedent(
        f"""\
        [sensor]
        id = "anne4b-01"
        site = "st-anne"
        wing = "4b"

        [capture]
        interfaces = ["lo"]
        allow_management_interfaces = true

        [mqtt]
        url = "mqtt://127.0.0.1:1883"
        {extra_mqtt}

        [signing]
        key = "{key}"

        [spool]
        dir = "{spool}"
        """
    )


def make_config_dir(tmp_path: Path) -> ConfigDir:
    """A valid configuration: loopback capture, a local plain broker, a real key.

    Each test module wraps this in its own `config_dir` fixture."""
    root = tmp_path / "etc"
    root.mkdir()
    key = generate_key_pair(root / "keys").private_path
    spool = tmp_path / "var" / "spool"
    directory = ConfigDir(root, key, spool)
    directory.write(base_toml(key, spool))
    return directory


def run_cli(*args: str, drop_root_file_access: bool = False) -> subprocess.CompletedProcess[str]:
    """`python -m agent ARGS` as a technician runs it; optionally as root without the
    capabilities that let root read and write every file (so file modes bite; other users
    are bound by them anyway)."""
    command = [sys.executable, "-m", "agent", *args]
    if drop_root_file_access and os.geteuid() == 0:
        command = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", *command]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        command, capture_output=True, text=True, timeout=60, cwd=REPO, env=env, check=False
    )
