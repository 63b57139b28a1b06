"""`iomt-agent run`: the daemon. Live capture through the pipeline until SIGTERM.

- SIGTERM / SIGINT: stop capture, flush every flow, sign and spool it, give the broker a
  bounded time to take what is spooled, publish "offline", exit 0.
- SIGHUP: reload the configuration. An invalid one (by the same checks as `check-config`
  and `run`, a misspelt interface included) is refused, its errors logged, and the
  running one kept; a valid one replaces the pipeline in place, keeping the boot id and
  the sequence, so consumers see no gap and no new boot.
- Interfaces: promiscuous for the run and restored after; link down/up and address
  changes are logged and reported in health; an interface that vanishes (a USB adapter
  pulled) is opened again when it returns. `run` refuses to start without an interface
  unless it is in `[capture] optional_interfaces`: that one is waited for, and health
  (`interfaces_missing`) and status (key 20) name it until it appears.
- systemd: READY once capturing, WATCHDOG pings from the main loop, STOPPING at the end.
"""

from __future__ import annotations

import logging
import signal
import time
from types import FrameType

from agent.config import AgentConfig, ConfigError, load_config
from agent.errors import CaptureError
from agent.interfaces import LinkMonitor, PromiscuousMode, link_state
from agent.pipeline import LIVE_POLL_MS, Pipeline
from agent.sdnotify import SystemdNotifier
from agent.wire.encode import HealthValue

log = logging.getLogger("agent.daemon")

SHUTDOWN_PUBLISH_S = 10.0  # how long a clean stop waits for the broker to take the spool


def _now_us() -> int:
    return time.time_ns() // 1000


class Daemon:
    """One `run`: owns the pipeline of the current configuration and the signals."""

    def __init__(self, location: str | None, config: AgentConfig) -> None:
        self.location = location
        self.config = config
        self.notifier = SystemdNotifier()
        self._stop_requested = False
        self._reload_requested = False
        self._promiscuous = PromiscuousMode()
        self._monitor: LinkMonitor | None = None
        self._open: set[str] = set()
        self._link_events: list[str] = []
        self.pipeline = self._new_pipeline(config)

    # ---- signals -----------------------------------------------------------------------

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self._on_stop)
        signal.signal(signal.SIGINT, self._on_stop)
        signal.signal(signal.SIGHUP, self._on_reload)

    def _on_stop(self, signum: int, frame: FrameType | None) -> None:
        self._stop_requested = True
        self.pipeline.engine.stop()

    def _on_reload(self, signum: int, frame: FrameType | None) -> None:
        self._reload_requested = True
        self.pipeline.engine.stop()

    # ---- the loop ----------------------------------------------------------------------

    def run(self) -> int:
        """Capture until stopped; returns the exit code (0 after a clean stop)."""
        self._start_capture()
        self.pipeline.publisher.start()
        interfaces = ", ".join(self.config.capture.interfaces)
        log.info(
            "running: sensor %s, interfaces %s, key id %s",
            self.config.sensor.id,
            interfaces,
            self.pipeline.kid.hex(),
        )
        self.notifier.ready(f"capturing on {interfaces}")
        watchdog_s = self.notifier.watchdog_interval_s()
        next_ping = 0.0
        while not self._stop_requested:
            if watchdog_s is not None and time.monotonic() >= next_ping:
                self.notifier.watchdog()
                next_ping = time.monotonic() + watchdog_s
            if self._reload_requested:
                self._reload_requested = False
                self._reload()
            self._watch_links()
            self._capture_once()
        self._shutdown()
        return 0

    def _capture_once(self) -> None:
        pipeline = self.pipeline
        if not self._open:
            time.sleep(LIVE_POLL_MS / 1000)  # nothing to capture until a link appears
            pipeline.step(_now_us())
            return
        try:
            pipeline.engine.poll_pending(LIVE_POLL_MS)
        except CaptureError as exc:
            # A source failed for good (the interface vanished): keep every flow, start a
            # fresh engine on what is still there, reopen the rest when they return.
            log.warning("%s; restarting capture", exc)
            self._replace_pipeline(self.config)
            return
        pipeline.step(_now_us())

    # ---- interfaces --------------------------------------------------------------------

    def _start_capture(self) -> None:
        capture = self.config.capture
        present = [name for name in capture.interfaces if link_state(name) is not None]
        if capture.promiscuous and present:
            self._promiscuous.enable(present)
        self._monitor = LinkMonitor(list(capture.interfaces))
        for name in capture.interfaces:
            self._open_interface(name)
        self._note_missing()

    def _note_missing(self) -> None:
        """Name the interfaces that do not exist now in status (republished on a change)."""
        missing = tuple(name for name in self.config.capture.interfaces if link_state(name) is None)
        if missing == self.pipeline.shipper.missing_interfaces:
            return  # a new pipeline starts with none, and its first status says so
        self.pipeline.shipper.missing_interfaces = missing
        self.pipeline.publisher.refresh_status()

    def _open_interface(self, name: str) -> None:
        state = link_state(name)
        if state is None:
            log.warning("interface %s is missing; capture starts when it appears", name)
            return
        capture = self.config.capture
        self.pipeline.engine.open_live(
            name,
            snaplen=capture.snaplen,
            promiscuous=capture.promiscuous,
            buffer_bytes=capture.buffer_bytes,
            bpf_filter=capture.bpf_filter or None,
        )
        self._open.add(name)
        if not (state.admin_up and state.carrier):
            log.warning("interface %s is %s; capturing as soon as it comes up", name, state.summary)

    def _watch_links(self) -> None:
        if self._monitor is None:
            return
        for event in self._monitor.poll(0.0):
            line = f"{event.name} {event.kind}" + (f": {event.detail}" if event.detail else "")
            level = logging.WARNING if event.kind in ("down", "removed") else logging.INFO
            log.log(level, "link %s", line)
            self._link_events.append(line)
            if event.kind in ("up", "down"):
                self._note_missing()
            if event.kind == "up" and event.name not in self._open:
                if self.config.capture.promiscuous:
                    self._promiscuous.enable([event.name])
                self._open_interface(event.name)

    def _health_extras(self) -> dict[str, HealthValue | None]:
        extras: dict[str, HealthValue | None] = {}
        self._note_missing()  # an interface that appeared without coming up is no event
        for name in self.config.capture.interfaces:
            state = link_state(name)
            extras[f"link_{name}"] = "missing" if state is None else state.summary
        if missing := self.pipeline.shipper.missing_interfaces:
            extras["interfaces_missing"] = ", ".join(missing)
        if self._link_events:
            extras["link_events"] = "; ".join(self._link_events[-10:])
            self._link_events.clear()
        return extras

    # ---- pipeline lifecycle ------------------------------------------------------------

    def _new_pipeline(
        self, config: AgentConfig, boot_id: bytes | None = None, first_seq: int = 0
    ) -> Pipeline:
        pipeline = Pipeline(config, boot_id=boot_id, first_seq=first_seq)
        pipeline.extra_health = self._health_extras
        return pipeline

    def _replace_pipeline(self, config: AgentConfig) -> None:
        """Finish the running pipeline and start one for `config` with the same boot."""
        old = self.pipeline
        old.finish(_now_us())
        old.close(SHUTDOWN_PUBLISH_S)
        same_sensor = config.sensor == self.config.sensor
        boot_id = old.identity.boot_id if same_sensor else None
        first_seq = old.shipper.next_seq if same_sensor else 0
        self._promiscuous.restore()
        if self._monitor is not None:
            self._monitor.close()
        self._open.clear()
        self.config = config
        self.pipeline = self._new_pipeline(config, boot_id, first_seq)
        self._start_capture()
        self.pipeline.publisher.start()

    def _reload(self) -> None:
        self.notifier.reloading()
        try:
            config = load_config(self.location)
        except ConfigError as exc:
            for line in exc.errors:
                log.error("reload refused: %s", line)
            log.error("reload refused: keeping the running configuration")
        else:
            for line in config.warnings:
                log.warning("%s", line)
            self._replace_pipeline(config)
            log.info("configuration reloaded from %s", ", ".join(map(str, config.files)))
        self.notifier.ready("configuration reloaded")

    def _shutdown(self) -> None:
        self.notifier.stopping()
        log.info("stopping: flushing flows")
        pipeline = self.pipeline
        pipeline.finish(_now_us())
        counters = pipeline.engine.counters()
        log.info(
            "captured %d packets (%d kernel drops), shipped %d flows in %d messages",
            counters.packets_seen,
            counters.kernel_drops,
            pipeline.flows_shipped,
            pipeline.shipper.next_seq,
        )
        drained = pipeline.publisher.wait_drained(SHUTDOWN_PUBLISH_S)
        spool = pipeline.spool.stats()
        pipeline.close(SHUTDOWN_PUBLISH_S)
        self._promiscuous.restore()
        if self._monitor is not None:
            self._monitor.close()
        if drained:
            log.info("stopped: everything delivered")
        else:
            log.warning(
                "stopped: %d messages (%d bytes) stay spooled for the next start",
                spool.depth_messages,
                spool.depth_bytes,
            )
