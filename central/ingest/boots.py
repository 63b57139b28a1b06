"""Replay protection that survives restarts and is shared by every ingest instance.

agent.consumer's sequence tracker refuses a replayed boot only while it remembers the
sensor's newer boots, and that memory lives in one process: a restarted instance, or
another member of the shared subscription, would take an old boot's captured messages
as a boot it has not seen (and once their dedupe keys expire, store them again). So the
boots ingest accepted are kept in the database (table sensor_boots), and every message
is judged against them, in the transaction that stores it, with the tracker's rules:

- a boot that reuses the counter of a known boot of the same sensor and key (another
  boot id) is a replay;
- a boot with BOOTS_KEPT (8) or more newer known boots of the same sensor and key is a
  replay (a recent boot's spooled backlog still drains after the next boots start).

    seen = SeenBoot(sensor, boot_hex, kid_hex, count)     # from RecordingTracker.last
    detail = judge_boot(connection, seen, now)            # None: accepted (and kept)
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select

from agent.consumer.tracker import BOOTS_KEPT, SequenceTracker, Verdict
from central.db.tables import sensor_boots
from central.inventory.dialect import upsert


@dataclass(frozen=True)
class SeenBoot:
    """Who sent a verified message: sensor, boot id, key id (hex) and boot counter (None
    before wire schema 2)."""

    sensor: str
    boot: str
    kid: str | None
    count: int | None


class RecordingTracker(SequenceTracker):
    """The consumer's sequence tracker as ingest uses it: it keeps the identity of the
    last message it judged (`last`, for judge_boot), and passes its duplicate verdict
    over: the database's (sensor, boot, seq) key decides. A member of a shared
    subscription sees a part of each stream; the tracker's bounded memory of missing
    ranges would, after a long run, call a late redelivery (another instance died
    holding it) a duplicate, and an acknowledged drop is a loss. Replayed boots it
    remembers are still refused here; judge_boot refuses the ones it forgot."""

    last: SeenBoot | None = None

    def observe(self, sensor: str, boot: bytes, seq: int, **kwargs: Any) -> Verdict:
        self.last = _seen(sensor, boot, kwargs)
        verdict = super().observe(sensor, boot, seq, **kwargs)
        return replace(verdict, duplicate=False) if verdict.duplicate else verdict

    def observe_status(self, sensor: str, boot: bytes, time_us: int, **kwargs: Any) -> Verdict:
        self.last = _seen(sensor, boot, kwargs)
        return super().observe_status(sensor, boot, time_us, **kwargs)


def _seen(sensor: str, boot: bytes, kwargs: dict[str, Any]) -> SeenBoot:
    kid = kwargs.get("kid")
    count = kwargs.get("boot_count")
    return SeenBoot(sensor, boot.hex(), kid.hex() if kid else None, count)


def judge_boot(connection: Connection, seen: SeenBoot, now: datetime) -> str | None:
    """None when the boot is acceptable (a new one is kept from now on), else why it is
    a replay. Runs in the message's transaction; two instances meeting the same new
    boot at once both accept it, two boot ids claiming one counter cannot both win."""
    table = sensor_boots
    known = connection.execute(
        select(table.c.kid, table.c.boot_count).where(
            table.c.sensor_id == seen.sensor, table.c.boot == seen.boot
        )
    ).first()
    kid, count = (known.kid, known.boot_count) if known is not None else (seen.kid, seen.count)
    if kid is None or count is None:  # before wire schema 2: no counter to judge by
        if known is None:
            _keep(connection, seen, now)
        return None
    newer = connection.execute(
        select(func.count())
        .select_from(table)
        .where(table.c.sensor_id == seen.sensor, table.c.kid == kid, table.c.boot_count > count)
    ).scalar_one()
    if newer >= BOOTS_KEPT:
        return (
            f"boot {count} of {seen.sensor} is older than the {BOOTS_KEPT} newest boots "
            f"ingest has seen of this sensor and key ({newer} newer): a replay"
        )
    if known is None and not _keep(connection, seen, now):
        return f"boot {count} of {seen.sensor} and this key already had another boot id"
    return None


def _keep(connection: Connection, seen: SeenBoot, now: datetime) -> bool:
    """Insert the boot; False when another boot id holds its (sensor, key, counter)."""
    statement = (
        upsert(connection, sensor_boots)
        .values(
            sensor_id=seen.sensor,
            boot=seen.boot,
            kid=seen.kid,
            boot_count=seen.count,
            first_at=now,
        )
        .on_conflict_do_nothing()
        .returning(sensor_boots.c.boot)
    )
    if connection.execute(statement).first() is not None:
        return True
    # Nothing inserted: this boot (another instance was first) or its counter's owner.
    return (
        connection.execute(
            select(sensor_boots.c.boot).where(
                sensor_boots.c.sensor_id == seen.sensor, sensor_boots.c.boot == seen.boot
            )
        ).first()
        is not None
    )
