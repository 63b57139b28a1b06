"""The central half of `./build.sh demo`: `iomt-central ingest` takes what the demo's
sensor sends, then the inventory is summed up in text and `iomt-central serve` shows it.

The inventory lives in build/demo-central/ (SQLite), so the printed `serve` command
works after the demo too.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "build" / "demo-central"
LISTEN = "127.0.0.1:8080"


def prepare(broker_url: str, trust: Path) -> Path:
    """A fresh central.toml and database in build/demo-central/; returns the config path."""
    shutil.rmtree(DATA, ignore_errors=True)
    DATA.mkdir(parents=True)
    shutil.copytree(trust, DATA / "trust")
    config = DATA / "central.toml"
    config.write_text(
        f"""# Written by ./build.sh demo (tools/central_demo.py); keys: config/central.toml
[database]
url = "sqlite:///{DATA / "inventory.db"}"
[mqtt]
url = "{broker_url}"
share_group = "iomt-central-demo"
session = ""
[trust]
dir = "{DATA / "trust"}"
[web]
listen = "{LISTEN}"
users_file = "{DATA / "users"}"
"""
    )
    # A demo editor to sign in with (the page needs an account): password printed at the end.
    password = secrets.token_urlsafe(12)
    added = central(
        "user", "add", "demo", "--role", "editor", "--users-file", str(DATA / "users"),
        "--password-stdin", stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    added.communicate(password + "\n", timeout=60)
    (DATA / "demo-password").write_text(password + "\n")
    (DATA / "demo-password").chmod(0o600)
    return config


def central(*args: str, **kwargs: Any) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen(
        [sys.executable, "-m", "central", *args], text=True, cwd=ROOT, env=env, **kwargs
    )


STARTED = datetime.now(UTC)


def start_ingest(config: Path) -> subprocess.Popen[str]:
    """`iomt-central ingest` until 10 s without a message; returns once subscribed. (4 s
    was too short on a busy machine: the consumer and the replay start after it.)"""
    process = central(
        "ingest", "-c", str(config), "--exit-after-idle", "10",
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert process.stderr is not None
    for line in process.stderr:
        if "subscribed to" in line:
            break
    return process


def summary_lines(config: Path) -> list[str]:
    """Counts by category, the patient-data devices, the new ones: what an analyst asks."""
    sys.path.insert(0, str(ROOT))
    from central.config import load_config
    from central.db import open_database
    from central.inventory.queries import DeviceFilter, list_devices

    engine = open_database(load_config(config).database.url)
    with engine.connect() as connection:
        devices = list_devices(connection)
        phi = list_devices(connection, DeviceFilter(handles_phi=True))
        new = list_devices(connection, DeviceFilter(since=STARTED))
    engine.dispose()
    by_category = Counter(device["category"] for device in devices)
    lines = [f"{len(devices)} devices in the inventory; by category:"]
    lines += [f"     {category:<24}{count:>4}" for category, count in by_category.most_common()]
    lines.append(f"   {len(phi)} handle patient data:")
    for device in phi[:12]:
        name = " ".join(part for part in (device["vendor"], device["model"]) if part)
        address = (device["ipv4"] or device["ipv6"] or ["-"])[0]
        lines.append(
            f"     {device['category']:<18}{address:<16}{name[:40]:<42}{device['phi_reason'][:60]}"
        )
    if len(phi) > 12:
        lines.append(f"     and {len(phi) - 12} more (iomt-central export --format csv lists all)")
    lines.append(f"   {len(new)} new since the demo started (a first run: all of them).")
    return lines


def serve(config: Path) -> int:
    """`iomt-central serve --no-ingest` in the foreground until Ctrl-C (only on a
    terminal: a script running the demo gets the command instead)."""
    command = f".venv/bin/iomt-central serve --no-ingest -c {config}"
    password = (DATA / "demo-password").read_text().strip()
    print(f"\n   The page and the API: http://{LISTEN}/  (JSON: http://{LISTEN}/api/devices)")
    print(f"   Sign in as demo, password {password} (kept in {DATA / 'demo-password'}).")
    if not sys.stdin.isatty():
        print(f"   Start it with: {command}")
        return 0
    print(f"   Serving it now ({command}); Ctrl-C stops it.")
    process = central("serve", "--no-ingest", "-c", str(config))
    try:
        return process.wait()
    except KeyboardInterrupt:
        process.terminate()
        process.wait()
        return 0
