"""`iomt-agent run -c CONFIG`: the daemon (see agent/daemon.py)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from agent.commands.options import add_config_argument

if TYPE_CHECKING:
    from agent.config import ConfigError


def register(parser: argparse.ArgumentParser) -> None:
    add_config_argument(parser)


def run(args: argparse.Namespace) -> int:
    """Capture and ship until SIGTERM; 0 after a clean stop. Raises ConfigError (exit 2)
    for whatever `check-config` refuses (a missing interface not marked optional
    included), UsageError/AgentError for unusable keys or spool."""
    import logging

    from agent.config import ConfigError, load_config
    from agent.daemon import Daemon
    from agent.errors import UsageError
    from agent.logs import setup_logging

    # The same checks as check-config: a misspelt interface stops the start (exit 2, which
    # systemd does not retry). One that may appear late (a USB adapter) is marked in
    # [capture] optional_interfaces and is waited for.
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        raise UsageError(_one_line(exc, args.config)) from exc
    setup_logging(config.logging.level)
    for line in config.warnings:
        logging.getLogger("agent.config").warning("%s", line)
    daemon = Daemon(args.config, config)
    daemon.install_signal_handlers()
    return daemon.run()


def _one_line(exc: ConfigError, config_path: object) -> str:
    """The refusal as one journal line: the first problem, and where to read them all."""
    first = exc.errors[0] if exc.errors else "invalid configuration"
    more = len(exc.errors) - 1
    if more <= 0:
        return first
    return f"{first} (and {more} more: iomt-agent check-config -c {config_path} lists them all)"
