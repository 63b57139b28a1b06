"""`iomt-agent keygen --out DIR`: a new Ed25519 key pair for signing; prints its kid.

`iomt-agent keygen --site-secret FILE`: a new site secret for hashing names ([privacy]),
made once per site and copied to each of its sensors.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(parser: argparse.ArgumentParser) -> None:
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="directory for sensor.key (mode 0600), sensor.pub and <kid>.pub; never overwritten",
    )
    what.add_argument(
        "--site-secret",
        type=Path,
        metavar="FILE",
        help="write a new site secret for hashing names (mode 0600; never overwritten); "
        "copy it to every sensor of the site",
    )


def run(args: argparse.Namespace) -> int:
    if args.site_secret is not None:
        return _site_secret(args.site_secret)
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


def _site_secret(path: Path) -> int:
    """Exit 0 with the file written; UsageError (exit 2) when it exists or cannot be made."""
    from agent.devices import make_secret_file
    from agent.errors import UsageError

    try:
        make_secret_file(path)
    except FileExistsError:
        raise UsageError(f"{path} exists; a site secret is never overwritten") from None
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror}") from None
    print(path)
    print(
        f"site secret: {path} (mode 0600). Copy it to every sensor of this site, as the "
        "broker's CA file is copied, owned by the iomt-agent user, and set [privacy] "
        "hostname_hash_secret_file to it; sensors with the same secret hash a name alike",
        file=sys.stderr,
    )
    return 0
