"""The inventory page's server time at hospital size: GET / (first page, sorted by risk),
a filtered page, a later page, and GET /api/devices?limit=250, with N devices stored
(default 5,000) on SQLite and on PostgreSQL when it answers.

    .venv/bin/python -m bench.bench_inventory_page [--devices 5000] [--repeat 5] [--json]

The app is central.web.create_app in this process, called through Starlette's TestClient
with the API token (no network, no browser): the time is the server's (query, assembly,
template). Wall and CPU (time.process_time) per request, the median of --repeat runs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REQUESTS = {
    "page 1 (risk)": "/",
    "page 1 (wing, category)": "/?wing=2b&category=infusion_pump",
    "page 10 (name)": "/?sort=name&page=10",
    "search by address": "/?q=10.0.7.",
    "api limit 250": "/api/devices?limit=250",
}


def measure(url: str, devices: int, repeat: int) -> dict[str, dict[str, float]]:
    from fastapi.testclient import TestClient

    from central.db import open_database
    from tests.central.conftest import FakeClock
    from tests.central.many_devices import seed_many_devices
    from tests.support.web_inventory import make_web_env

    engine = open_database(url)
    clock = FakeClock(datetime(2026, 12, 6, 6, 0, tzinfo=UTC))
    seed_many_devices(engine, devices, clock())
    with tempfile.TemporaryDirectory() as directory:
        web = make_web_env(Path(directory), engine, clock, seed=False)
        client = TestClient(web.app)
        headers = {"Authorization": f"Bearer {web.token}"}
        out = {}
        for name, path in REQUESTS.items():
            assert client.get(path, headers=headers).status_code == 200  # warm
            walls, cpus = [], []
            for _ in range(repeat):
                wall, cpu = time.perf_counter(), time.process_time()
                response = client.get(path, headers=headers)
                walls.append(time.perf_counter() - wall)
                cpus.append(time.process_time() - cpu)
                assert response.status_code == 200, response.text[:200]
            out[name] = {
                "wall_ms": round(statistics.median(walls) * 1000, 1),
                "cpu_ms": round(statistics.median(cpus) * 1000, 1),
                "bytes": len(response.content),
            }
    engine.dispose()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results: dict[str, Any] = {}
    for name, url in _each_database():
        results[name] = measure(url, args.devices, args.repeat)
    if args.json:
        print(json.dumps(results, indent=2))
        return
    for database, figures in results.items():
        print(f"{database}, {args.devices} devices (median of {args.repeat}):")
        for request, figure in figures.items():
            print(
                f"  {request:26} {figure['wall_ms']:8.1f} ms wall {figure['cpu_ms']:8.1f} ms CPU "
                f"{figure['bytes'] / 1024:8.1f} KiB"
            )


def _each_database() -> Iterator[tuple[str, str]]:
    from tests.support.database import postgres_available, postgres_database

    with tempfile.TemporaryDirectory() as directory:
        yield "sqlite", f"sqlite:///{Path(directory) / 'inventory.db'}"
    if postgres_available() is None:
        with postgres_database() as url:
            yield "postgresql", url


if __name__ == "__main__":
    main()
