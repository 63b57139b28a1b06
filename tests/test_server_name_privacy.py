"""[privacy] tls_sni decides how flows' server names leave the sensor: as seen ("clear"),
as the keyed hash with the site secret ("hash", the same value the tls_sni fingerprint
gets) or not at all ("drop"). The real agent replays a capture into a real mosquitto and
a real consumer decodes the flows."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.devices import HostnameHasher
from tests.support import broker as broker_support
from tests.support.agent_setup import Consumer, make_sensor, run_agent
from tests.test_golden_server_names import UPDATES, named_capture

mosquitto = broker_support.mosquitto

pytestmark = pytest.mark.skipif(
    not Path("/usr/sbin/mosquitto").exists(), reason="mosquitto is not installed"
)

SECRET = b"site-secret-0123456789"


def shipped_names(tmp_path: Path, broker_url: str, mode: str) -> dict[str, str | None]:
    secret = tmp_path / "site.secret"
    secret.write_bytes(SECRET)
    secret.chmod(0o600)
    privacy = f'[privacy]\nhostname_hash_secret_file = "{secret}"\ntls_sni = "{mode}"\n'
    sensor = make_sensor(tmp_path / mode, broker_url, extra_toml=privacy)
    consumer = Consumer(broker_url, sensor.trust, "--topic-filter", "iomt/+/+/+/flows")
    replay = run_agent("replay", str(named_capture(tmp_path)), "-c", str(sensor.config))
    assert replay.returncode == 0, replay.stderr
    flows = [r for r in consumer.records() if r["type"] == "flow"]
    assert len(flows) == 5, flows
    return {f"{f['id.resp_h']}:{f['id.resp_p']}": f.get("server_name") for f in flows}


@pytest.mark.parametrize(
    "mode, expected",
    [
        ("clear", "updates.vendor.example"),
        ("hash", HostnameHasher(SECRET)("updates.vendor.example")),
        ("drop", None),
    ],
)
def test_privacy_tls_sni_applies_to_shipped_server_names(tmp_path, mosquitto, mode, expected):
    names = shipped_names(tmp_path, mosquitto.url, mode)
    assert names[f"{UPDATES}:443"] == expected
    assert names["10.50.0.50:514"] is None
    if mode != "clear":
        assert "pacs.example.org" not in names.values()
