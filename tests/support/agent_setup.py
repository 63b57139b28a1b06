"""A sensor set up for end-to-end tests: key pair, trust directory, configuration file.

sensor = make_sensor(tmp_path, broker_url, interfaces=["veth0"])
sensor.config   # agent.toml path, for `iomt-agent run/replay -c`
sensor.trust    # trust directory holding the sensor's public key, for consumers
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from agent.cose import Signer
from agent.keys import generate_key_pair

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Sensor:
    config: Path
    trust: Path
    spool: Path
    kid: str


def make_sensor(
    tmp_path: Path,
    broker_url: str,
    interfaces: list[str] | None = None,
    extra_toml: str = "",
    sensor_id: str = "anne4b-01",
    capture_toml: str = "",
) -> Sensor:
    """Writes keys and an agent.toml under tmp_path/sensor; returns where they are.

    extra_toml is appended (whole tables); capture_toml goes inside [capture]."""
    base = tmp_path / "sensor"
    made = generate_key_pair(base / "keys")
    trust = base / "trust"
    (trust / sensor_id).mkdir(parents=True)
    shutil.copyfile(made.trust_path, trust / sensor_id / made.trust_path.name)
    spool = base / "spool"
    config = base / "agent.toml"
    config.write_text(
        f"""
[sensor]
id = "{sensor_id}"
site = "st-anne"
wing = "4b"
[capture]
interfaces = {json.dumps(interfaces or ["lo"])}
# The tests capture on lo, or on a veth whose address they send traffic to.
allow_management_interfaces = true
{capture_toml}
[mqtt]
url = "{broker_url}"
topic_prefix = "iomt"
[signing]
key = "{made.private_path}"
[spool]
dir = "{spool}"
max_bytes = 67108864
{extra_toml}
"""
    )
    return Sensor(config, trust, spool, made.kid.hex())


def signer_and_trust(directory: Path, sensor_id: str = "wing4b-01") -> tuple[Signer, Path]:
    """A new key pair under directory/sensor; returns the sensor's signer and a trust
    directory (directory/trust) that holds only its public key, bound to `sensor_id`
    (trust/<sensor id>/<kid>.pub), as a consumer is given."""
    made = generate_key_pair(directory / "sensor")
    trust = directory / "trust"
    (trust / sensor_id).mkdir(parents=True)
    shutil.copyfile(made.trust_path, trust / sensor_id / made.trust_path.name)
    return Signer.from_file(made.private_path), trust


def agent_command(*args: str) -> list[str]:
    """The argv of `iomt-agent ARGS...` run from this checkout's interpreter."""
    return [sys.executable, "-m", "agent", *args]


def run_agent(*args: str, timeout_s: float = 120.0) -> subprocess.CompletedProcess[str]:
    """Run `iomt-agent ARGS...` from this checkout to its end, as a technician would.

    Returns its exit code, stdout and stderr (text); never raises on a non-zero exit, so
    a test can assert on it. Raises subprocess.TimeoutExpired after timeout_s.
    """
    return subprocess.run(
        agent_command(*args),
        capture_output=True,
        text=True,
        timeout=timeout_s,
        cwd=REPO,
        env=environment(),
    )


class Consumer:
    """`iomt-agent consume` as a subprocess, collecting its JSON lines."""

    def __init__(
        self, broker_url: str, trust: Path, *options: str, idle_exit_s: float = 3.0
    ) -> None:
        """`options`: more of consume's options (a topic filter, credentials)."""
        self.process = subprocess.Popen(
            agent_command(
                "consume",
                "--url",
                broker_url,
                "--trust",
                str(trust),
                *options,
                "--exit-after-idle",
                str(idle_exit_s),
            ),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        assert self.process.stderr is not None
        line = self.process.stderr.readline()  # "subscribed to ..." once it listens
        assert "subscribed" in line, line

    def records(self, timeout_s: float = 60.0) -> list[dict]:
        """Every record printed, once the consumer has been idle long enough to exit."""
        out, err = self.process.communicate(timeout=timeout_s)
        assert "Traceback" not in err, err
        return [json.loads(line) for line in out.splitlines()]


def wait_for_file_text(path: Path, text: str, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text(errors="replace"):
            return True
        time.sleep(0.05)
    return False


def environment() -> dict[str, str]:
    """The environment for agent subprocesses: this checkout first on the path."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO)
    return env
