"""`./build.sh demo`'s output explains itself: what the Zeek codes mean, why records
outnumber flows, whole records of the devices that matter, and how to keep the files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.agent_setup import REPO, environment

pytestmark = pytest.mark.skipif(
    not Path("/usr/sbin/mosquitto").exists(), reason="mosquitto is not installed"
)


def test_demo_output_explains_codes_counts_and_shows_whole_device_records() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tools.demo", "--packets", "20000"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
        env=environment(),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "SF " in out and "established and closed normally" in out  # state codes explained
    assert "still running after [flows] active_timeout_s" in out  # end reasons explained
    assert "records from" in out and "adds the records up by uid" in out  # records vs flows
    for what in ("an infusion pump", "a patient monitor", "an imaging modality"):
        assert f"{what}" in out, what
    assert '"mac": "00:00:5e' not in out, "a router's virtual MAC is no sample"
    assert " ..." not in out.split("4. The consumer", 1)[1]  # whole records, not cut
    assert "--keep" in out
    # Step 5: iomt-central ingested the same stream and sums the inventory up.
    central = out.split("5. iomt-central ingested", 1)[1]
    assert "0 rejected" in central and "devices in the inventory; by category:" in central
    for category in ("infusion_pump", "patient_monitor", "imaging", "pacs", "workstation"):
        assert category in central, category
    assert "handle patient data:" in central and "new since the demo started" in central
    assert "http://127.0.0.1:8080/" in central and "Sign in as demo" in central
