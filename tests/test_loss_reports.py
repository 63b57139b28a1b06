"""Every loss is counted where it cannot itself be lost: the loss reports of data messages
travel only in messages that were stored, and the totals are in health and status."""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.cose import Signer, unverified_payload
from agent.shipper import Shipper
from agent.spool import Spool, SpoolSettings
from agent.wire import SensorIdentity
from agent.wire.decode import decode_payload

IDENTITY = SensorIdentity("wing4b-01", "st-mary", "4b", os.urandom(16))


def stored_messages(spool: Spool) -> list:
    return [decode_payload(unverified_payload(r.payload)) for r in spool.read(0, 100_000)]


def drain(spool: Spool) -> None:
    for record in spool.read(0, 100_000):
        spool.ack(record.rid)


def test_drop_newest_reports_every_dropped_message_in_stored_messages(tmp_path: Path) -> None:
    spool = Spool.open(
        SpoolSettings(
            dir=tmp_path, max_bytes=40_000, segment_bytes=8_000, full_policy="drop_newest"
        )
    )
    shipper = Shipper(IDENTITY, "iomt", Signer(Ed25519PrivateKey.generate()), spool)
    figures = {"note": "x" * 200}
    delivered = []
    for round_ in range(3):
        for i in range(150):  # far more than fits: most are dropped
            kernel_drops = round_ * 1000 + i
            shipper.ship_health(figures, 0, 1, {"kernel_drops": kernel_drops})
        delivered += stored_messages(spool)
        drain(spool)  # the broker takes what was stored; room again
    shipper.ship_health(figures, 0, 1, {"kernel_drops": 3 * 1000})
    delivered += stored_messages(spool)

    dropped = spool.stats().dropped_messages
    assert dropped > 150
    reported = sum(m.losses.get("spool_messages", 0) for m in delivered)
    assert reported == dropped, "every dropped message is reported by one that was stored"
    assert spool.unreported_drops().messages == 0
    # The engine's counter deltas of dropped messages are not lost with them either.
    assert sum(m.counters.get("kernel_drops", 0) for m in delivered) == 3000
    spool.close()


def test_status_carries_the_loss_totals(tmp_path: Path) -> None:
    spool = Spool.open(
        SpoolSettings(
            dir=tmp_path, max_bytes=20_000, segment_bytes=4_000, full_policy="drop_newest"
        )
    )
    shipper = Shipper(IDENTITY, "iomt", Signer(Ed25519PrivateKey.generate()), spool)
    for _ in range(200):
        shipper.ship_health({"note": "y" * 200}, 0, 1, {"kernel_drops": 7})
    status = decode_payload(unverified_payload(shipper.status_message("online")))
    stats = spool.stats()
    assert stats.dropped_messages > 100
    assert status.loss_totals["spool_dropped_messages"] == stats.dropped_messages
    assert status.loss_totals["spool_dropped_bytes"] == stats.dropped_bytes
    assert status.loss_totals["kernel_drops"] == 7
    spool.close()
