"""Risk evaluation wherever data is ingested: `serve` and every `ingest` run this loop.
Every [risk] evaluate_interval_s it evaluates what was ingested since the last run and
which sensors fell silent (or spoke again), then delivers the alert events (after the
commit).

    service = RiskService(config, engine, clock); service.start(); ...; service.stop()
    service.catch_up(last_stored_at)     # an ingest that stops: what it stored is scored

Several processes on one database do the work once: an evaluation holds a lease
(central.db.locks: on PostgreSQL a transaction-scoped advisory lock, taken without
waiting; on SQLite the IMMEDIATE transaction already admits one writer), and the time
of the last evaluation is kept in the database (risk_state "evaluated"), so a process
whose turn comes within the interval of another's run skips it. Findings, alerts and
their deliveries are made inside the lease: an alert is new once, however many
processes run the loop.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import InterfaceError, OperationalError

from central.alerts.fleet import observe_fleet
from central.db.locks import take_evaluation_lease
from central.risk.settings import alert_dispatcher, risk_context
from central.risk.store import FLOWS_MARK, EvaluationResult, evaluate, read_mark, set_mark

log = logging.getLogger(__name__)

EVALUATED_MARK = "evaluated"
# A deadlock or a connection lost mid-evaluation rolls it all back: tried again at once.
ATTEMPTS = 3


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
        self.evaluations = 0  # run by this process
        self.flows_read = 0  # by this process's evaluations
        self.skipped = 0  # turns another process had taken (or had run within the interval)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> EvaluationResult:
        """One evaluation now, unless another process is evaluating (then an empty result
        with evaluated False): findings and their alerts, then the fleet's silent
        sensors; delivered after the commit."""
        return self._attempts(lambda: self._run(due_only=False))

    def run_if_due(self) -> EvaluationResult:
        """run_once, if no process evaluated within the last evaluate_interval_s."""
        return self._attempts(lambda: self._run(due_only=True))

    def _attempts(self, work: Callable[[], EvaluationResult]) -> EvaluationResult:
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return work()
            except (OperationalError, InterfaceError) as exc:
                if attempt == ATTEMPTS:
                    raise
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
                log.warning("risk evaluation rolled back (%s), tried again", first)
        raise AssertionError("unreachable")

    def catch_up(self, stored_until: datetime) -> EvaluationResult:
        """Before an ingest stops: evaluate what it stored up to `stored_until` (its last
        commit's time), unless an evaluation already read past it. Waits for another
        process's evaluation rather than skipping, and reads flows up to `stored_until`
        however young they are."""
        now = self.clock()
        with self.engine.begin() as connection:
            take_evaluation_lease(connection, wait=True)
            mark = read_mark(connection, FLOWS_MARK)
            if mark is not None and mark >= stored_until:
                self.skipped += 1
                return EvaluationResult(evaluated=False)
            settle_s = max(0.0, (now - stored_until).total_seconds())
            result = self._evaluate(connection, now, replace(self.context, settle_s=settle_s))
        self.dispatcher.deliver(result.events)
        return result

    def _run(self, due_only: bool) -> EvaluationResult:
        now = self.clock()
        with self.engine.begin() as connection:
            if not take_evaluation_lease(connection):
                self.skipped += 1
                return EvaluationResult(evaluated=False)
            last = read_mark(connection, EVALUATED_MARK)
            if due_only and last is not None and (now - last).total_seconds() < self.interval_s:
                self.skipped += 1
                return EvaluationResult(evaluated=False)
            result = self._evaluate(connection, now, self.context)
        self.dispatcher.deliver(result.events)
        return result

    def _evaluate(self, connection: Connection, now: datetime, context: Any) -> EvaluationResult:
        result = evaluate(connection, context, now)
        result.events.extend(observe_fleet(connection, now, self.silent_after_s))
        set_mark(connection, EVALUATED_MARK, now)
        self.evaluations += 1
        self.flows_read += result.flows_read
        return result

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="risk", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                result = self.run_if_due()
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
        """Ends the loop and closes the alert channels (a catch_up goes before)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self.dispatcher.close()
