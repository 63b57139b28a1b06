"""The configured alert channels together: each event goes to every channel."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

from central.alerts.book import AlertEvent


class Channel(Protocol):
    def deliver(self, event: AlertEvent) -> bool: ...

    def close(self) -> None: ...


class Dispatcher:
    def __init__(self, channels: Sequence[Channel]) -> None:
        self.channels = list(channels)
        self.delivered = 0
        self.failed = 0

    def deliver(self, events: Iterable[AlertEvent]) -> None:
        """Deliver after the database commit; a failing channel does not stop the others."""
        for event in events:
            for channel in self.channels:
                if channel.deliver(event):
                    self.delivered += 1
                else:
                    self.failed += 1

    def close(self) -> None:
        for channel in self.channels:
            channel.close()
