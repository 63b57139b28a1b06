"""Webhook delivery: one JSON POST per alert event ({"event": "new"|"update", "alert": {...}})."""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request

from central.alerts.book import AlertEvent

log = logging.getLogger(__name__)


class WebhookChannel:
    def __init__(self, url: str, timeout_s: float = 5.0) -> None:
        self.url = url
        self.timeout_s = timeout_s
        self.failures = 0

    def deliver(self, event: AlertEvent) -> bool:
        """POST the event; False (logged, counted) when the receiver fails or is away."""
        body = json.dumps({"event": event.kind, "alert": event.alert}).encode()
        request = urllib.request.Request(
            self.url,
            data=body,
            method="POST",
            headers={"Content-Type": "application/json", "User-Agent": "iomt-central"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                response.read()
                return 200 <= response.status < 300
        except (urllib.error.URLError, OSError) as exc:
            self.failures += 1
            log.warning("webhook %s: alert %s not delivered: %s", self.url, event.alert["id"], exc)
            return False

    def close(self) -> None:
        pass
