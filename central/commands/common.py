"""What several commands share: the -c argument, loading the config, opening the
database, the ruleset."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

from agent.errors import AgentError, UsageError


def add_config_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-c",
        "--config",
        metavar="FILE",
        default="/etc/iomt-central/central.toml",
        help="central.toml (default: %(default)s)",
    )


def load(args: argparse.Namespace) -> Any:
    from central.config import load_config

    return load_config(args.config)


def open_database(config: Any) -> Any:
    """The migrated Engine; AgentError (exit 1) when the database cannot be reached."""
    from sqlalchemy.exc import SQLAlchemyError

    from central.db import open_database as open_db

    try:
        return open_db(config.database.url)
    except SQLAlchemyError as exc:
        first = str(exc).strip().splitlines()[0]
        raise AgentError(f"cannot open the database [database] url: {first}") from None


def ruleset(config: Any) -> Any:
    from central.classify.ruleset import RulesError, load_ruleset

    try:
        return load_ruleset(list(config.classification.rules))
    except RulesError as exc:
        raise UsageError(str(exc)) from None


def utc_now() -> datetime:
    return datetime.now(UTC)
