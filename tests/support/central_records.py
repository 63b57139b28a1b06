"""Consumer-shaped records (what agent.consumer.Consumer.handle returns) for central unit
tests that need no broker: one devices message or flows message at a time.

    records = devices_message("s1", boot="b1", seq=0, devices=[device("00:1a:..", ...)])
    store_message(engine, records, context)
"""

from __future__ import annotations

from typing import Any

T0 = 1_700_000_000.0


def _origin(sensor: str, boot: str, seq: int, site: str, wing: str, kind: str) -> dict[str, Any]:
    return {
        "sensor": sensor,
        "site": site,
        "wing": wing,
        "boot": boot,
        "seq": seq,
        "topic": f"iomt/{site}/{wing}/{sensor}/{kind}",
    }


def device(mac: str, ipv4: list[str] | None = None, **fields: Any) -> dict[str, Any]:
    """A device record; fields: vendor, fingerprints, services, protocols, first/last_seen_us."""
    out: dict[str, Any] = {
        "mac": mac,
        "change": "new",
        "first_seen_us": int(T0 * 1e6),
        "last_seen_us": int((T0 + 60) * 1e6),
        "ipv4": ipv4 or [],
    }
    out.update(fields)
    return out


def devices_message(
    sensor: str,
    boot: str,
    seq: int,
    devices: list[dict[str, Any]],
    site: str = "st-luke",
    wing: str = "4b",
) -> list[dict[str, Any]]:
    origin = _origin(sensor, boot, seq, site, wing, "devices")
    batch = {
        "type": "batch",
        **origin,
        "kind": "devices",
        "window_start": T0,
        "window_end": T0 + 60,
        "records": len(devices),
        "counters": {},
        "losses": {},
    }
    return [batch, *({"type": "device", **d, **origin} for d in devices)]


def flow(orig: str, resp: str, resp_port: int, proto: str = "tcp", **fields: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "ts": T0 + 1,
        "uid": f"C{abs(hash((orig, resp, resp_port))) % 10**12:012d}",
        "id.orig_h": orig,
        "id.orig_p": 40000,
        "id.resp_h": resp,
        "id.resp_p": resp_port,
        "proto": proto,
        "duration": 0.5,
        "orig_pkts": 4,
        "orig_ip_bytes": 400,
        "resp_pkts": 3,
        "resp_ip_bytes": 300,
        "orig_bytes": 100,
        "resp_bytes": 50,
        "conn_state": "SF",
        "history": "ShADadFf",
        "community_id": "1:x",
        "end_reason": "end",
    }
    out.update(fields)
    return out


def flows_message(
    sensor: str,
    boot: str,
    seq: int,
    flows: list[dict[str, Any]],
    site: str = "st-luke",
    wing: str = "4b",
    counters: dict[str, int] | None = None,
) -> list[dict[str, Any]]:
    origin = _origin(sensor, boot, seq, site, wing, "flows")
    batch = {
        "type": "batch",
        **origin,
        "kind": "flows",
        "window_start": T0,
        "window_end": T0 + 60,
        "records": len(flows),
        "counters": counters or {},
        "losses": {"spool_messages": 0},
    }
    return [batch, *({"type": "flow", **f, **origin} for f in flows)]
