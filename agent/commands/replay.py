"""`iomt-agent replay CAPTURE -c CONFIG [--speed X]`: the full pipeline over a capture.

Windows and expiry follow packet time, so the messages are those the live agent would
have sent for the same traffic. Exits when every message is acknowledged by the broker,
or after --drain-timeout with the rest left in the spool for the next run.
"""

from __future__ import annotations

import argparse

from agent.commands.options import add_config_argument, bounded_number


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("capture", metavar="CAPTURE", help="pcap or pcapng file")
    add_config_argument(parser)
    parser.add_argument(
        "--speed",
        type=bounded_number(0.01, 1_000_000, "times real time"),
        metavar="X",
        help="replay at X times real time (default: as fast as possible)",
    )
    parser.add_argument(
        "--drain-timeout",
        type=bounded_number(0, 86_400, "seconds"),
        default=60.0,
        metavar="S",
        help="seconds to wait for the broker to acknowledge everything (default: %(default)s)",
    )


def run(args: argparse.Namespace) -> int:
    """0 when every message was delivered, 1 when some stay spooled (broker unreachable).
    Raises ConfigError/UsageError (exit 2) for a bad config or capture."""
    import logging

    from agent.config import load_config
    from agent.logs import setup_logging
    from agent.pipeline import Pipeline, run_replay

    config = load_config(args.config, check_interfaces=False)
    setup_logging(config.logging.level)
    log = logging.getLogger("agent.replay")
    for line in config.warnings:
        log.warning("%s", line)
    pipeline = Pipeline(config)
    try:
        delivered = run_replay(pipeline, args.capture, args.speed, args.drain_timeout)
        counters = pipeline.engine.counters()
        spool = pipeline.spool.stats()
    finally:
        pipeline.close(publish_timeout_s=5.0)
    log.info(
        "replayed %d packets into %d flows in %d messages; %s",
        counters.packets_seen,
        pipeline.flows_shipped,
        pipeline.shipper.next_seq,
        "all delivered"
        if delivered
        else f"{spool.depth_messages} messages stay spooled (broker did not acknowledge them)",
    )
    return 0 if delivered else 1
