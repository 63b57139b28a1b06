"""Risk evaluation inside `serve`: every [risk] evaluate_interval_s, evaluate what was
ingested since the last run and which sensors fell silent (or spoke again), then
deliver the alert events (after the commit).

    service = RiskService(config, engine, clock); service.start(); ...; service.stop()
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from central.alerts.fleet import observe_fleet
from central.risk.settings import alert_dispatcher, risk_context
from central.risk.store import EvaluationResult, evaluate

log = logging.getLogger(__name__)


class RiskService:
    def __init__(
        self, config: Any, engine: Any, clock: Callable[[], datetime] | None = None
    ) -> None:
        self.engine = engine
        self.clock = clock or (lambda: datetime.now(UTC))
        self.interval_s = float(config.risk.evaluate_interval_s)
        self.silent_after_s = float(config.fleet.silent_after_s)
        self.context = risk_context(config)
        self.dispatcher = alert_dispatcher(config)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> EvaluationResult:
        """One evaluation: findings and their alerts, then the fleet's silent sensors;
        delivered after the commit."""
        now = self.clock()
        with self.engine.begin() as connection:
            result = evaluate(connection, self.context, now)
            result.events.extend(observe_fleet(connection, now, self.silent_after_s))
        self.dispatcher.deliver(result.events)
        return result

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="risk", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                result = self.run_once()
                if result.flows_read or result.events:
                    log.info(
                        "risk: %d flows read, %d findings changed, %d alert events",
                        result.flows_read,
                        result.findings_changed,
                        len(result.events),
                    )
            except Exception:  # keep serving; the next run retries from the same mark
                log.exception("risk evaluation failed")
            self._stop.wait(self.interval_s)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self.dispatcher.close()
