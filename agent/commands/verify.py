"""`iomt-agent verify --trust DIR --topic TOPIC FILE...`: check saved messages offline.

Each FILE holds one message exactly as published. Prints one JSON line per record
(rejections included); exits 1 when any message was rejected.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from agent.commands.options import (
    add_max_message_bytes_argument,
    add_trust_argument,
    max_message_bytes,
    trust_store,
)


def register(parser: argparse.ArgumentParser) -> None:
    add_trust_argument(parser)
    parser.add_argument(
        "--topic", required=True, help="the topic the messages were published on (it is signed)"
    )
    add_max_message_bytes_argument(parser)
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE")


def run(args: argparse.Namespace) -> int:
    from agent.consumer import Consumer
    from agent.errors import UsageError

    max_bytes = max_message_bytes(args)
    consumer = Consumer(trust_store(args), max_message_bytes=max_bytes)
    for path in args.files:
        try:
            with path.open("rb") as handle:
                data = handle.read(max_bytes + 1)  # enough to know it is oversize
        except OSError as exc:
            raise UsageError(f"cannot read message file {path}: {exc.strerror or exc}") from None
        for record in consumer.handle(data, args.topic, source=str(path)):
            sys.stdout.write(json.dumps(record) + "\n")
    sys.stdout.flush()
    return 1 if consumer.stats.rejected else 0
