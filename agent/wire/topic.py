"""MQTT topics of the contract: `<topic_prefix>/<site>/<wing>/<sensor id>/<kind>`."""

from __future__ import annotations

from dataclasses import dataclass

from agent.errors import UsageError
from agent.wire.schema import KINDS

_FORBIDDEN = ("/", "+", "#", "\0")


def _check_level(name: str, value: str) -> str:
    if not value or any(ch in value for ch in _FORBIDDEN):
        raise UsageError(
            f"{name} {value!r} cannot be part of an MQTT topic "
            "(it must be non-empty and hold no '/', '+', '#')"
        )
    return value


def topic_for(prefix: str, site: str, wing: str, sensor_id: str, kind: str) -> str:
    """The topic a message of `kind` is published on (and signed for).

    `prefix` may hold several levels ("iomt" or "hospital/iomt"). Raises UsageError
    for an empty level or one holding '/', '+' or '#', and for an unknown kind.
    """
    if kind not in KINDS:
        raise UsageError(f"message kind {kind!r} is not one of {', '.join(KINDS)}")
    if not prefix or any(not level or "+" in level or "#" in level for level in prefix.split("/")):
        raise UsageError(f"topic prefix {prefix!r} must be non-empty levels without '+' or '#'")
    levels = (
        _check_level("site", site),
        _check_level("wing", wing),
        _check_level("sensor id", sensor_id),
    )
    return "/".join((prefix, *levels, kind))


@dataclass(frozen=True, slots=True)
class TopicParts:
    prefix: str
    site: str
    wing: str
    sensor_id: str
    kind: str


def parse_topic(topic: str) -> TopicParts | None:
    """Split a contract topic; None when it has fewer than 5 levels or an unknown kind."""
    levels = topic.split("/")
    if len(levels) < 5 or levels[-1] not in KINDS:
        return None
    return TopicParts("/".join(levels[:-4]), levels[-4], levels[-3], levels[-2], levels[-1])
