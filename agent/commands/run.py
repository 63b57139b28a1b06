"""`iomt-agent run -c CONFIG`: the daemon (see agent/daemon.py)."""

from __future__ import annotations

import argparse

from agent.commands.options import add_config_argument


def register(parser: argparse.ArgumentParser) -> None:
    add_config_argument(parser)


def run(args: argparse.Namespace) -> int:
    """Capture and ship until SIGTERM; 0 after a clean stop. Raises ConfigError (exit 2)
    for an invalid configuration, UsageError/AgentError for unusable keys or spool."""
    import logging

    from agent.config import load_config
    from agent.daemon import Daemon
    from agent.logs import setup_logging

    # A missing interface is waited for, not fatal: a USB adapter may appear late at
    # boot, and exit 2 would stop systemd from ever restarting the service.
    config = load_config(args.config, check_interfaces=False)
    setup_logging(config.logging.level)
    for line in config.warnings:
        logging.getLogger("agent.config").warning("%s", line)
    daemon = Daemon(args.config, config)
    daemon.install_signal_handlers()
    return daemon.run()
