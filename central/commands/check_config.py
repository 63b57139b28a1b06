"""`iomt-central check-config -c FILE`: OK and a summary on stdout, or every error on
stderr (exit 2), as the agent's check-config."""

from __future__ import annotations

import argparse
import sys

from agent.config.problems import ConfigError
from central.commands.common import add_config_argument, load


def register(parser: argparse.ArgumentParser) -> None:
    add_config_argument(parser)


def run(args: argparse.Namespace) -> int:
    try:
        config = load(args)
    except ConfigError as exc:
        for line in exc.errors:
            print(line, file=sys.stderr)
        return 2
    from central.classify.ruleset import load_ruleset

    rules = load_ruleset(list(config.classification.rules))
    host, port = config.web.listen
    mqtt = config.mqtt
    share = f"$share/{mqtt.share_group}/" if mqtt.share_group else ""
    print("OK")
    print(f"database: {_safe_url(config.database.url)}")
    print(f"broker: {mqtt.url}, subscription {share}{mqtt.topic_filter}")
    print(f"trust: {config.trust.dir} (keys bound to sensors only: {config.trust.bound_keys_only})")
    print(f"web: http://{host}:{port}")
    print(
        f"classification: {len(rules.rules)} rules ({len(config.classification.rules)} site files)"
    )
    print(f"retention: raw flows {config.retention.flows_days:g} days")
    return 0


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
