"""`iomt-central serve`: one process ingests from the broker and serves the API; what a
replayed wing sends shows in /api/devices, a forged message only as a count."""

from __future__ import annotations

import json
import signal
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import paho.mqtt.publish as publish

from tests.support.agent_setup import REPO, environment
from tests.support.broker import MosquittoBroker, free_port, wait_until
from tests.support.central_env import CentralEnv
from tests.support.hospital import WING_DEVICES, write_wing_capture

TOKEN = "t0ken-for-the-serve-test-0123456789"


def _get(port: int, path: str) -> Any:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def _answers(port: int) -> bool:
    try:
        _get(port, "/api/devices")
        return True
    except OSError:
        return False


def test_serve_ingests_and_serves_and_counts_a_forged_message(
    tmp_path: Path, sqlite_url: str
) -> None:
    broker = MosquittoBroker(tmp_path)
    broker.start()
    port = free_port()
    token_file = tmp_path / "api-token"
    token_file.write_text(TOKEN + "\n")
    env = CentralEnv(
        tmp_path, broker.url, sqlite_url,
        extra_toml=f'[web]\nlisten = "127.0.0.1:{port}"\ntoken_file = "{token_file}"\n',
    )  # fmt: skip
    sensor = env.add_sensor("luke-4b-01")
    serve = subprocess.Popen(
        env.central_command("serve", "-c", str(env.config), "--instance", "serve"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO, env=environment(),
    )  # fmt: skip
    try:
        assert wait_until(lambda: _answers(port), timeout_s=60), "serve did not answer"
        env.replay(write_wing_capture(tmp_path / "wing.pcap"), sensor)
        publish.single(
            "iomt/st-luke/4b/luke-4b-01/flows", b"\xd2\x84forged", qos=1,
            hostname="127.0.0.1", port=broker.port,
        )  # fmt: skip
        wanted = len(WING_DEVICES)
        assert wait_until(lambda: len(_get(port, "/api/devices")) == wanted, timeout_s=60), [
            (d["mac"], d["ipv4"]) for d in _get(port, "/api/devices")
        ]
        assert wait_until(lambda: _get(port, "/api/sensors")[0]["rejected"] == 1, timeout_s=30)
        devices = _get(port, "/api/devices?category=infusion_pump")
        assert sorted(d["vendor"] for d in devices) == ["B. Braun", "BD", "Baxter"]
    finally:
        serve.send_signal(signal.SIGTERM)
        _out, err = serve.communicate(timeout=60)
        broker.kill()
    assert serve.returncode == 0, err
    assert "Traceback" not in err
