"""Checks of [risk] and [alerts] that span keys or touch files, for the config loader;
and the objects those sections configure.

    check_risk_sections(path, values, problems)     # at load, every problem named
    context = risk_context(config)                  # rules, policy, advisories, alert settings
    dispatcher = alert_dispatcher(config)           # the configured channels
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agent.config.problems import Problems
from agent.errors import UsageError

_TOPIC_LEVEL_CHARS = ("+", "#", "\0")


def check_risk_sections(path: Path, values: dict[str, dict[str, Any]], problems: Problems) -> None:
    from central.alerts.syslog import parse_syslog_url
    from central.risk.advisories import AdvisoryError, load_advisories
    from central.risk.rules import RulesError, load_rules

    risk, alerts = values["risk"], values["alerts"]
    if risk["rules_file"] is not None:
        try:
            load_rules(risk["rules_file"])
        except RulesError as exc:
            for line in str(exc).splitlines():
                problems.error(path, "risk.rules_file", line)
    for advisory_file in risk["advisories"]:
        try:
            load_advisories([advisory_file])
        except AdvisoryError as exc:
            for line in str(exc).splitlines():
                problems.error(path, "risk.advisories", line)
    prefix = alerts["mqtt_topic_prefix"]
    if not prefix or any(
        not level or any(c in level for c in _TOPIC_LEVEL_CHARS) for level in prefix.split("/")
    ):
        problems.error(path, "alerts.mqtt_topic_prefix", f"{prefix!r}: levels without '+' or '#'")
    elif _filter_matches(
        values["mqtt"]["topic_filter"], f"{prefix}/site/wing/{alerts['sender_id']}/alerts"
    ):
        problems.error(
            path,
            "alerts.mqtt_topic_prefix",
            f"{prefix!r} lies inside mqtt.topic_filter {values['mqtt']['topic_filter']!r}: "
            'central would ingest its own alerts; use a prefix outside it, e.g. "iomt-central"',
        )
    sender = alerts["sender_id"]
    if not sender or any(c in sender for c in "/+#"):
        problems.error(path, "alerts.sender_id", f"{sender!r} is one topic level: no '/', '+', '#'")
    key = alerts["signing_key"]
    if key is not None and not key.is_file():
        problems.error(
            path, "alerts.signing_key", f"{key} does not exist (make one: iomt-agent keygen)"
        )
    webhook = alerts["webhook_url"]
    if webhook and not webhook.startswith(("http://", "https://")):
        problems.error(path, "alerts.webhook_url", f"{webhook!r} is not an http:// or https:// URL")
    if alerts["syslog"]:
        try:
            parse_syslog_url(alerts["syslog"])
        except UsageError as exc:
            problems.error(path, "alerts.syslog", str(exc))


def _filter_matches(topic_filter: str, topic: str) -> bool:
    """MQTT topic-filter matching (+ one level, # the rest)."""
    filter_levels, levels = topic_filter.split("/"), topic.split("/")
    for index, level in enumerate(filter_levels):
        if level == "#":
            return True
        if index >= len(levels) or (level != "+" and level != levels[index]):
            return False
    return len(filter_levels) == len(levels)


def risk_context(config: Any) -> Any:
    """central.risk.store.RiskContext from a loaded CentralConfig."""
    from central.alerts.book import AlertSettings
    from central.policy.rules import Policy
    from central.risk.advisories import load_advisories
    from central.risk.rules import load_rules
    from central.risk.store import RiskContext

    return RiskContext(
        rules=load_rules(config.risk.rules_file),
        policy=config.containment or Policy(),
        advisories=load_advisories(config.risk.advisories),
        alert_settings=AlertSettings(config.alerts.min_severity, config.alerts.update_interval_s),
        snapshot_interval_s=config.risk.snapshot_interval_s,
        settle_s=float(config.risk.settle_s),
    )


def alert_dispatcher(config: Any) -> Any:
    """The channels [alerts] configures (none configured: a dispatcher that only counts)."""
    from central.alerts.dispatch import Dispatcher
    from central.alerts.mqtt import MqttChannel
    from central.alerts.syslog import SyslogChannel
    from central.alerts.webhook import WebhookChannel

    channels: list[Any] = []
    alerts = config.alerts
    if alerts.signing_key is not None:
        channels.append(
            MqttChannel(
                config.mqtt.url,
                alerts.signing_key,
                alerts.sender_id,
                alerts.mqtt_topic_prefix,
                ca_file=config.mqtt.ca_file,
                cert_file=config.mqtt.cert_file,
                key_file=config.mqtt.key_file,
                username=config.mqtt.username,
                password_file=config.mqtt.password_file,
            )
        )
    if alerts.webhook_url:
        channels.append(WebhookChannel(alerts.webhook_url, alerts.webhook_timeout_s))
    if alerts.syslog:
        channels.append(SyslogChannel(alerts.syslog))
    return Dispatcher(channels)
