"""`iomt-agent keygen --out DIR`: a new Ed25519 key pair for signing; prints its kid."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out",
        required=True,
        type=Path,
        metavar="DIR",
        help="directory for sensor.key (mode 0600), sensor.pub and <kid>.pub; never overwritten",
    )


def run(args: argparse.Namespace) -> int:
    from agent.keys import generate_key_pair

    generated = generate_key_pair(args.out)
    print(generated.kid.hex())
    print(
        f"private key: {generated.private_path} (mode 0600; point [signing] key at it)\n"
        f"public key:  {generated.public_path}\n"
        f"for consumers: copy {generated.trust_path} into TRUST_DIR/<sensor id>/ "
        "(this sensor only) in their trust directory",
        file=sys.stderr,
    )
    return 0
