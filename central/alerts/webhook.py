"""Webhook delivery: one JSON POST per alert event ({"event": "new"|"update", "alert": {...}})."""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from urllib.parse import urlsplit

from central.alerts.book import AlertEvent

log = logging.getLogger(__name__)


class WebhookChannel:
    def __init__(self, url: str, timeout_s: float = 5.0) -> None:
        self.url = url
        # Logged instead of the URL: webhook URLs carry their secret in the path, the
        # query or the user part (Slack, Teams, ?token=...), and logs are read widely.
        parts = urlsplit(url)
        self.where = f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")
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
            alert_id = event.alert["id"]
            log.warning("webhook %s: alert %s not delivered: %s", self.where, alert_id, exc)
            return False

    def close(self) -> None:
        pass
