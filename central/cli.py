"""`iomt-central` command line: parses arguments, runs one command, maps errors to exit
codes as `iomt-agent` does (0 ok, 1 runtime failure, 2 usage or configuration).

Each command lives in central/commands/<name>.py with `register(parser)` and
`run(args) -> int`; heavy imports (SQLAlchemy, FastAPI) stay inside `run`.
"""

from __future__ import annotations

import argparse
import logging
import sys

from agent.cli import build_parser as build_command_parser
from agent.cli import run_command

COMMANDS = [
    ("check-config", "central.commands.check_config", "validate central.toml, print a summary"),
    ("serve", "central.commands.serve", "ingest from the broker and serve the page and the API"),
    ("ingest", "central.commands.ingest", "ingest from the broker only (several may share)"),
    ("export", "central.commands.export", "print the inventory or the learned policy"),
    ("user", "central.web.usercli", "manage who may use the web page: user add|remove|list"),
]


def build_parser() -> argparse.ArgumentParser:
    """The `iomt-central` parser: the agent's command-line pieces with these commands."""
    return build_command_parser(
        "iomt-central", "Central inventory of hospital devices.", commands=COMMANDS
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.INFO,
        format="iomt-central %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not args.debug:
        # Alembic announces every plugin it sets up at INFO: noise on each command.
        logging.getLogger("alembic").setLevel(logging.WARNING)
    return run_command("iomt-central", args)
