"""The central service end to end, for tests: a real mosquitto, sensors with their own
keys and agent.toml, a central.toml whose trust directory binds each key to its sensor,
a database, `iomt-central ingest` processes and `iomt-agent replay` runs.

    env = CentralEnv(tmp_path, broker, database_url)
    sensor = env.add_sensor("luke-4b-01", wing="4b")
    ingest = env.start_ingest("a")              # subscribed when this returns
    env.replay(capture_path, sensor)            # the real iomt-agent replay
    env.finish(ingest)                          # waits for it to go idle and exit 0
    engine = env.engine()                       # read what it stored
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from agent.keys import generate_key_pair
from tests.support.agent_setup import REPO, environment, run_agent


@dataclass(frozen=True)
class SensorSetup:
    sensor_id: str
    site: str
    wing: str
    config: Path
    kid: str


class CentralEnv:
    def __init__(
        self, workdir: Path, broker_url: str, database_url: str, extra_toml: str = ""
    ) -> None:
        self.workdir = workdir
        self.broker_url = broker_url
        self.database_url = database_url
        self.trust = workdir / "central" / "trust"
        self.trust.mkdir(parents=True)
        self.config = workdir / "central" / "central.toml"
        self.config.write_text(
            f"""
[database]
url = "{database_url}"
[mqtt]
url = "{broker_url}"
topic_filter = "iomt/#"
share_group = "iomt-central"
session = "iomt-central-test"
[trust]
dir = "{self.trust}"
{extra_toml}
"""
        )
        self.sensors: list[SensorSetup] = []

    def add_sensor(
        self, sensor_id: str, site: str = "st-luke", wing: str = "4b", extra_toml: str = ""
    ) -> SensorSetup:
        """Keys (bound to this sensor in the central trust directory) and an agent.toml."""
        base = self.workdir / "sensors" / sensor_id
        made = generate_key_pair(base / "keys")
        bound = self.trust / sensor_id
        bound.mkdir()
        shutil.copyfile(made.trust_path, bound / made.trust_path.name)
        config = base / "agent.toml"
        config.write_text(
            f"""
[sensor]
id = "{sensor_id}"
site = "{site}"
wing = "{wing}"
[capture]
interfaces = ["lo"]
[mqtt]
url = "{self.broker_url}"
topic_prefix = "iomt"
[signing]
key = "{made.private_path}"
[spool]
dir = "{base / "spool"}"
max_bytes = 67108864
{extra_toml}
"""
        )
        sensor = SensorSetup(sensor_id, site, wing, config, made.kid.hex())
        self.sensors.append(sensor)
        return sensor

    def central_command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "central", *args]

    def start_ingest(self, instance: str, idle_exit_s: float = 4.0) -> subprocess.Popen[str]:
        """`iomt-central ingest` in the background; returns once it is subscribed."""
        process = subprocess.Popen(
            self.central_command(
                "ingest",
                "-c",
                str(self.config),
                "--instance",
                instance,
                "--exit-after-idle",
                str(idle_exit_s),
            ),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
            env=environment(),
        )
        assert process.stderr is not None
        deadline = time.monotonic() + 60
        lines = []
        while time.monotonic() < deadline:
            line = process.stderr.readline()
            if not line:
                break
            lines.append(line)
            if "subscribed to" in line:
                return process
        process.kill()
        raise AssertionError(f"ingest {instance} did not subscribe: {''.join(lines)}")

    def replay(self, capture: Path, sensor: SensorSetup) -> None:
        result = run_agent("replay", str(capture), "-c", str(sensor.config), timeout_s=300)
        assert result.returncode == 0, result.stderr

    def finish(self, process: subprocess.Popen[str], timeout_s: float = 180) -> str:
        """Wait for an ingest to exit after its idle time; returns its summary line."""
        out, err = process.communicate(timeout=timeout_s)
        assert process.returncode == 0, err
        assert "Traceback" not in err, err
        return out.strip()

    def run_central(self, *args: str, timeout_s: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.central_command(*args),
            capture_output=True,
            text=True,
            timeout=timeout_s,
            cwd=REPO,
            env=environment(),
        )

    def expected_flows(self, capture: Path) -> int:
        """How many flow records the sensor makes of `capture` (iomt-agent flows)."""
        result = run_agent("flows", str(capture), "--json", timeout_s=300)
        assert result.returncode == 0, result.stderr
        return len(result.stdout.splitlines())

    def engine(self) -> Engine:
        from central.db import open_database

        return open_database(self.database_url)
