"""Arguments several commands share."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from agent.paths import DEFAULT_CONFIG_DIR

if TYPE_CHECKING:
    from agent.keys import TrustStore


def add_config_argument(parser: argparse.ArgumentParser) -> None:
    """`-c/--config CONFIG`: a directory (agent.toml + agent.d/) or one agent.toml."""
    parser.add_argument(
        "-c",
        "--config",
        default=str(DEFAULT_CONFIG_DIR),
        metavar="CONFIG",
        help="configuration directory or agent.toml (default: %(default)s)",
    )


def add_trust_argument(parser: argparse.ArgumentParser) -> None:
    """`--trust DIR [--allow-unbound-keys]`: the consumer's trusted public keys; read them
    with `trust_store`."""
    parser.add_argument(
        "--trust",
        required=True,
        type=Path,
        metavar="DIR",
        help="directory of trusted public keys: DIR/<sensor id>/*.pub sign for that "
        "sensor only; keys at the top of DIR sign for nothing unless --allow-unbound-keys",
    )
    parser.add_argument(
        "--allow-unbound-keys",
        action="store_true",
        help="let a key at the top of DIR (DIR/*.pub) sign for every sensor: for a "
        "single-sensor setup only, since such a key speaks for any sensor id",
    )
    # The default since issue 10; still accepted so existing unit files keep working.
    parser.add_argument("--bound-keys-only", action="store_true", help=argparse.SUPPRESS)


def trust_store(args: argparse.Namespace) -> TrustStore:
    """The keys named by `--trust`, bound to their sensors unless `--allow-unbound-keys`.
    Raises UsageError when both options are given."""
    from agent.errors import UsageError
    from agent.keys import TrustStore  # cryptography: only for the commands that verify

    if args.allow_unbound_keys and args.bound_keys_only:
        raise UsageError("--allow-unbound-keys and --bound-keys-only contradict each other")
    return TrustStore.from_dir(args.trust, bound_only=not args.allow_unbound_keys)


def add_max_message_bytes_argument(parser: argparse.ArgumentParser) -> None:
    """`--max-message-bytes N`: the consumer's size limit; read it with `max_message_bytes`."""
    parser.add_argument(
        "--max-message-bytes",
        type=int,
        default=None,
        metavar="N",
        help="refuse larger messages (default and wire limit 262144 = 256 KiB; at most 1048576)",
    )


def max_message_bytes(args: argparse.Namespace) -> int:
    """The --max-message-bytes limit, or the default when it was not given.

    Raises UsageError when it is zero or negative, or above 1 MiB.
    """
    from agent.cose import DEFAULT_MAX_MESSAGE_BYTES
    from agent.errors import UsageError

    given: int | None = args.max_message_bytes
    max_bytes = DEFAULT_MAX_MESSAGE_BYTES if given is None else given
    if max_bytes <= 0:
        raise UsageError("--max-message-bytes must be positive")
    if max_bytes > LARGEST_MAX_MESSAGE_BYTES:
        # The strict decoder's memory bound (agent.wire.canonical) is sized for this.
        raise UsageError(f"--max-message-bytes may be at most {LARGEST_MAX_MESSAGE_BYTES}")
    return max_bytes


LARGEST_MAX_MESSAGE_BYTES = 1 << 20


def bounded_number(low: float, high: float, unit: str) -> Callable[[str], float]:
    """An argparse `type`: a number from low to high in `unit` (nan and inf refused)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not low <= value <= high:  # nan fails every comparison
            raise argparse.ArgumentTypeError(f"must be from {low:g} to {high:g} {unit}")
        return value

    return parse
