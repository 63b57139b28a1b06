"""Run the engine over a capture and collect what the device side saw (tests only)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from agent.engine import DeviceState, Engine, EngineSettings
from agent.flowrecord import FlowRecord
from tests.support.medical import mac_bytes


@dataclass
class DeviceRun:
    flows: list[FlowRecord]
    fingerprints: dict[bytes, dict[str, list[bytes]]]  # mac -> kind -> values, in order
    devices: dict[bytes, DeviceState]
    counters: dict[str, int]
    all_event_bytes: bytes  # every value the engine handed over, concatenated

    def of(self, mac: str) -> dict[str, list[bytes]]:
        return self.fingerprints.get(mac_bytes(mac), {})

    def device(self, mac: str) -> DeviceState:
        return self.devices[mac_bytes(mac)]

    def services(self) -> list[str | None]:
        return [flow.service for flow in sorted(self.flows, key=lambda f: f.serial)]


def run_devices(path: Path, max_devices: int = 64) -> DeviceRun:
    """Every flow, fingerprint event and device of `path`, engine counters included."""
    with Engine(EngineSettings(max_devices=max_devices)) as engine:
        engine.collect_device_events()
        engine.open_file(path)
        flows: list[FlowRecord] = []
        events = []
        while not engine.exhausted:
            flows += engine.poll()
            events += engine.take_device_events()
        flows += engine.flush()
        events += engine.take_device_events()
        fingerprints: dict[bytes, dict[str, list[bytes]]] = defaultdict(lambda: defaultdict(list))
        for event in events:
            fingerprints[event.mac][event.kind].append(event.value)
        devices = {state.mac: state for state in engine.devices()}
        return DeviceRun(
            flows,
            {mac: dict(kinds) for mac, kinds in fingerprints.items()},
            devices,
            engine.device_counters(),
            b"\n".join(event.value for event in events),
        )
