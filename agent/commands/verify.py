"""`iomt-agent verify --trust DIR --topic TOPIC FILE...`: check saved messages offline.

Each FILE holds one message exactly as published. Prints one JSON line per record
(rejections included); exits 1 when any message was rejected.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--trust",
        required=True,
        type=Path,
        metavar="DIR",
        help="directory of trusted public keys (*.pub)",
    )
    parser.add_argument(
        "--topic", required=True, help="the topic the messages were published on (it is signed)"
    )
    parser.add_argument(
        "--max-message-bytes",
        type=int,
        default=None,
        metavar="N",
        help="refuse larger messages (default 1 MiB)",
    )
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE")


def run(args: argparse.Namespace) -> int:
    from agent.consumer import Consumer
    from agent.cose import DEFAULT_MAX_MESSAGE_BYTES
    from agent.errors import UsageError
    from agent.keys import TrustStore

    max_bytes = args.max_message_bytes or DEFAULT_MAX_MESSAGE_BYTES
    if max_bytes <= 0:
        raise UsageError("--max-message-bytes must be positive")
    consumer = Consumer(TrustStore.from_dir(args.trust), max_message_bytes=max_bytes)
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
