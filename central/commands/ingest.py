"""`iomt-central ingest -c FILE`: ingest, and the risk evaluation of what is ingested;
several instances share the stream (and take turns at the evaluation)."""

from __future__ import annotations

import argparse
import logging
import signal
from typing import Any

from central.commands.common import add_config_argument, load, open_database, ruleset, utc_now

log = logging.getLogger("iomt-central.ingest")


def register(parser: argparse.ArgumentParser) -> None:
    add_config_argument(parser)
    add_ingest_arguments(parser)


def add_ingest_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--instance",
        metavar="NAME",
        help="this instance's name, unique among those sharing the subscription; its "
        "broker session is [mqtt] session + '-' + NAME (default: the host name)",
    )
    parser.add_argument(
        "--reclassify",
        action="store_true",
        help="apply the classification rules to every stored device again before starting "
        "(after [classification] rules changed); changed labels go into the history",
    )
    parser.add_argument(
        "--exit-after-idle",
        type=float,
        metavar="S",
        help="stop after S seconds without a message (tests, one-shot imports)",
    )


def make_ingest(args: argparse.Namespace, config: Any, engine: Any) -> Any:
    from central.ingest.apply import IngestContext
    from central.ingest.runner import Ingest

    context = IngestContext(ruleset=ruleset(config), clock=utc_now)
    if args.reclassify:
        from central.inventory.store import reclassify_all

        with engine.begin() as connection:
            changed = reclassify_all(connection, context.ruleset, utc_now())
        print(f"reclassified: {changed} devices changed label", flush=True)
    return Ingest(config, engine, context, args.instance, args.exit_after_idle)


def run(args: argparse.Namespace) -> int:
    config = load(args)
    engine = open_database(config)
    ingest = make_ingest(args, config, engine)
    from central.risk.service import RiskService

    risk = RiskService(config, engine)
    signal.signal(signal.SIGTERM, lambda *_: ingest.stop())
    risk.start()
    try:
        ingest.run()
        if ingest.last_stored_at is not None:
            try:
                risk.catch_up(ingest.last_stored_at)
            except Exception:  # the next evaluation anywhere reads it: not worth exit 1
                log.exception("risk evaluation of what this instance stored failed")
    finally:
        risk.stop()
    stats = ingest.stats
    print(
        f"ingest {ingest.instance}: {stats.received} messages, {stats.stored} stored, "
        f"{stats.duplicates} duplicates, {stats.rejected} rejected, "
        f"{stats.database_retries} database retries, "
        f"{risk.evaluations} risk evaluations of {risk.flows_read} flows "
        f"({risk.skipped} turns left to other instances)",
        flush=True,
    )
    return 0
