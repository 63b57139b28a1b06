"""Arguments several commands share."""

from __future__ import annotations

import argparse

from agent.paths import DEFAULT_CONFIG_DIR


def add_config_argument(parser: argparse.ArgumentParser) -> None:
    """`-c/--config CONFIG`: a directory (agent.toml + agent.d/) or one agent.toml."""
    parser.add_argument(
        "-c",
        "--config",
        default=str(DEFAULT_CONFIG_DIR),
        metavar="CONFIG",
        help="configuration directory or agent.toml (default: %(default)s)",
    )
