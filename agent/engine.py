"""The flow engine, wrapped: the one module that touches the C extension `agent._engine`.

The engine captures (files or live interfaces) in C with the GIL released and hands
finished flows back in batches; this module turns them into `FlowRecord`s and maps the
extension's errors to `agent.errors`.

Set the environment variable IOMT_ENGINE_SO to the path of another build of the
extension (e.g. an AddressSanitizer build, see tools/sanitize.sh) to load that one
instead of the installed `agent._engine`.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, fields
from types import ModuleType
from typing import NamedTuple

from agent.errors import CaptureError, UsageError
from agent.flowrecord import END_REASONS, FlowRecord

_US_PER_S = 1_000_000
MAX_ACTIVE_TIMEOUT_S = 3600  # the engine keeps times inside a record as 32-bit microseconds
MAX_FLOWS_LIMIT = 1 << 24
MAX_DEVICES_LIMIT = 1 << 20
DEFAULT_BUFFER_BYTES = 32 * 1024 * 1024
DEFAULT_SNAPLEN = 262144  # libpcap's maximum: no frame is cut short
FILE_POLL_MS = 250  # how long one poll() may read a file before Python gets control back


def _load_extension() -> ModuleType:
    path = os.environ.get("IOMT_ENGINE_SO")
    if not path:
        from agent import _engine  # type: ignore[attr-defined]

        return _engine
    spec = importlib.util.spec_from_file_location("agent._engine", path)
    if spec is None or spec.loader is None:
        raise UsageError(f"IOMT_ENGINE_SO={path}: not a loadable extension module")
    module = importlib.util.module_from_spec(spec)
    sys.modules["agent._engine"] = module
    spec.loader.exec_module(module)
    return module


_engine = _load_extension()


@dataclass(frozen=True)
class EngineSettings:
    """Flow table size and timeouts (docs/flow-semantics.md gives their meaning)."""

    max_flows: int = 65536
    tcp_idle_timeout_s: float = 300
    tcp_syn_idle_timeout_s: float = 30
    udp_idle_timeout_s: float = 60
    icmp_idle_timeout_s: float = 60
    other_idle_timeout_s: float = 60
    tcp_linger_s: float = 5
    active_timeout_s: float = 300
    batch_records: int = 4096
    # Device table slots (native/devices.c); 0 switches the device table and every
    # fingerprint extractor off (flows then carry no `service` label).
    max_devices: int = 4096

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise UsageError naming the first setting out of range."""
        if not isinstance(self.max_flows, int) or not 1 <= self.max_flows <= MAX_FLOWS_LIMIT:
            raise UsageError(f"max_flows must be an integer from 1 to {MAX_FLOWS_LIMIT}")
        if not isinstance(self.max_devices, int) or not 0 <= self.max_devices <= MAX_DEVICES_LIMIT:
            raise UsageError(f"max_devices must be an integer from 0 to {MAX_DEVICES_LIMIT}")
        if not isinstance(self.batch_records, int) or not 16 <= self.batch_records <= 1 << 20:
            raise UsageError("batch_records must be an integer from 16 to 1048576")
        for name in (
            "tcp_idle_timeout_s",
            "tcp_syn_idle_timeout_s",
            "udp_idle_timeout_s",
            "icmp_idle_timeout_s",
            "other_idle_timeout_s",
            "tcp_linger_s",
        ):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not 0.000001 <= value <= 86400 * 365:
                raise UsageError(f"{name} must be a number of seconds above 0 (got {value!r})")
        active = self.active_timeout_s
        if not isinstance(active, int | float) or not 1 <= active <= MAX_ACTIVE_TIMEOUT_S:
            raise UsageError(
                f"active_timeout_s must be from 1 to {MAX_ACTIVE_TIMEOUT_S} seconds "
                f"(got {active!r})"
            )

    def native_kwargs(self) -> dict[str, int]:
        """The extension's constructor arguments (microseconds)."""

        def us(seconds: float) -> int:
            return round(seconds * _US_PER_S)

        return {
            "max_flows": self.max_flows,
            "ring_records": self.batch_records,
            "tcp_idle_us": us(self.tcp_idle_timeout_s),
            "tcp_syn_idle_us": us(self.tcp_syn_idle_timeout_s),
            "udp_idle_us": us(self.udp_idle_timeout_s),
            "icmp_idle_us": us(self.icmp_idle_timeout_s),
            "other_idle_us": us(self.other_idle_timeout_s),
            "tcp_linger_us": us(self.tcp_linger_s),
            "active_us": us(self.active_timeout_s),
            "max_devices": self.max_devices,
        }


@dataclass(frozen=True)
class EngineCounters:
    """Engine counters (native/engine.h struct engine_counters), all cumulative."""

    packets_seen: int
    bytes_seen: int
    packets_in_flows: int
    non_ip: int
    malformed: int
    truncated: int
    fragments_unmatched: int
    flows_created: int
    flows_ended_idle: int
    flows_ended_active: int
    flows_ended_end: int
    flows_ended_forced: int
    flows_ended_resources: int
    clock_steps_held: int  # times too far ahead to move the clock alone (docs/flow-semantics.md)
    kernel_drops: int
    interface_drops: int
    flow_macs_unrecorded: int  # a flow end's MAC not kept: the engine's MAC table was full
    server_names_replaced: int  # a server's name forgotten for a newer one: name table full
    flows_active: int
    max_flows: int
    records_lost: int  # records a misused ring would have lost; always 0 here


_COUNTER_NAMES = tuple(f.name for f in fields(EngineCounters))
_RECORD_FIELDS = tuple(f.name for f in fields(FlowRecord))
_END_REASON_AT = _RECORD_FIELDS.index("end_reason")


class DeviceEvent(NamedTuple):
    """One fingerprint the extractors found: for the device `mac` (6 bytes), at packet
    time ts_us, of `kind` (an allowlisted name, docs/DEVICES.md), raw `value` bytes; `ip`:
    the sender's address (4 or 16 bytes) when the value is the IP sender's own, else b""
    (behind a router every host has the router's MAC: the address tells them apart)."""

    mac: bytes
    ts_us: int
    kind: str
    value: bytes
    ip: bytes = b""


class DeviceState(NamedTuple):
    """One device table entry as the engine keeps it (native/devices.c)."""

    mac: bytes
    first_seen_us: int
    last_seen_us: int
    pkts_sent: int
    bytes_sent: int
    pkts_received: int
    bytes_received: int
    ipv4: tuple[bytes, ...]
    ipv6: tuple[bytes, ...]
    vlans: tuple[int, ...]
    services: tuple[tuple[int, int], ...]  # (IP protocol, port) it answered on
    peers_estimate: int
    protocols: list[str]  # application labels it spoke (service names)
    hl7_messages: int
    is_new: bool  # created since the last devices(changed_only=True)


class EncodedFlows(NamedTuple):
    """A range of a FlowBatch as C encoded it: wire schema 3's flows body (keys 16..27,
    docs/WIRE.md) as a CBOR fragment, how many map entries it holds, and the distinct
    server names of those records in order of first use (None when none): key 28 is
    Python's to write, after [privacy] tls_sni."""

    fragment: bytes
    entries: int
    names: list[str] | None


class FlowBatch:
    """Finished flows held in C (taken from the engine's ring with Engine.take_into) and
    encoded there: the daemon's path, where no flow becomes a Python object.

    collect_names=False: server names are neither kept nor encoded ("drop")."""

    def __init__(self, collect_names: bool = True) -> None:
        self._native = _engine.FlowBatch(collect_names)

    def __len__(self) -> int:
        return int(self._native.count)

    def encode(self, start: int, stop: int) -> EncodedFlows:
        """Records start..stop-1 of the batch in (ts_us, serial) order, encoded. Raises
        IndexError for an empty or out-of-range span, ValueError for a record the schema
        cannot carry, MemoryError."""
        fragment, entries, names = self._native.encode(start, stop)
        return EncodedFlows(fragment, entries, names)

    def clear(self) -> None:
        """Drop every record (the next window starts empty)."""
        self._native.clear()

    def add(self, record: FlowRecord) -> None:
        """Add one FlowRecord (the tests feed the same records to C and to the Python
        reference; the daemon takes records with Engine.take_into). Raises ValueError for
        a field the engine could not have produced."""
        fields = [getattr(record, name) for name in _RECORD_FIELDS]
        fields[_END_REASON_AT] = END_REASONS.index(record.end_reason)
        self._native.add_record(tuple(fields))


class Engine:
    """One flow table fed by up to 8 capture sources.

    Use: open_file()/open_live(), then poll() repeatedly for finished flows, flush() at
    the end, close(). Not thread-safe, except stop(), which any thread or a signal
    handler may call while another thread is in poll().
    """

    def __init__(self, settings: EngineSettings | None = None) -> None:
        self.settings = settings or EngineSettings()
        self._native = _engine.Engine(**self.settings.native_kwargs())
        # Records are built in C straight into FlowRecord's slots: the per-flow Python
        # cost stays a few allocations (a generic FlowRecord(*fields) costs ~20x more).
        self._native.bind_record_type(FlowRecord, END_REASONS)
        self._files: list[str] = []
        self._live: list[str] = []
        self._exhausted = False
        self.paced = False  # the last poll() stopped at its pace_until_us
        # Fingerprint events drained at every poll (the capture stops when their ring
        # runs low); kept only once someone asked for them (collect_device_events).
        self._device_events: list[DeviceEvent] = []
        self._collect_device_events = False

    # -- sources

    def open_file(self, path: str | os.PathLike[str]) -> None:
        """Add a pcap or pcapng file. Raises UsageError when it is missing, not a
        regular file, not a capture, empty, or of an unsupported link type."""
        name = os.fspath(path)
        if not os.path.exists(name):
            raise UsageError(f"{name}: no such file")
        if os.path.isdir(name):
            raise UsageError(f"{name}: is a directory, not a capture file")
        if os.path.getsize(name) == 0:
            raise UsageError(f"{name}: empty file, not a capture")
        try:
            self._native.open_file(name)
        except _engine.OpenError as exc:
            raise UsageError(str(exc)) from None
        self._files.append(name)
        self._exhausted = False

    def open_live(
        self,
        interface: str,
        *,
        snaplen: int = DEFAULT_SNAPLEN,
        promiscuous: bool = True,
        buffer_bytes: int = DEFAULT_BUFFER_BYTES,
        timeout_ms: int = 100,
        bpf_filter: str | None = None,
    ) -> None:
        """Capture on a live interface (immediate mode, non-blocking).

        Raises UsageError for an unsupported link type or a bad BPF filter, CaptureError
        when the interface cannot be opened (missing, down, no permission)."""
        if not 64 <= snaplen <= DEFAULT_SNAPLEN:
            raise UsageError(f"snaplen must be from 64 to {DEFAULT_SNAPLEN} bytes")
        if buffer_bytes < 65536:
            raise UsageError("buffer_bytes must be at least 65536")
        try:
            self._native.open_live(
                interface, snaplen, promiscuous, buffer_bytes, timeout_ms, bpf_filter
            )
        except (_engine.LinkTypeError, _engine.FilterError) as exc:
            raise UsageError(str(exc)) from None
        except _engine.OpenError as exc:
            raise CaptureError(str(exc)) from None
        self._live.append(interface)

    # -- running

    @property
    def exhausted(self) -> bool:
        """True once every file source is read to its end (and no live source exists)."""
        return self._exhausted

    def poll(self, timeout_ms: int = FILE_POLL_MS, pace_until_us: int = 0) -> list[FlowRecord]:
        """Capture for at most about timeout_ms and return the flows finished meanwhile.

        pace_until_us (replay at a set speed): read files only up to this packet time
        (at most one frame beyond); `paced` then says the file has caught up. 0: no pace.
        Raises CaptureError when a source fails or a file is truncated; the records
        finished before the failure are in the next poll() or flush()."""
        self.poll_pending(timeout_ms, pace_until_us)
        return self.take()

    def poll_pending(self, timeout_ms: int = FILE_POLL_MS, pace_until_us: int = 0) -> None:
        """poll() that leaves the finished flows waiting in the engine, for take_into()
        (the daemon's path: they go into a FlowBatch without becoming Python objects)."""
        status = self._run(timeout_ms, pace_until_us)
        if status == _engine.RUN_EOF:
            self._exhausted = True
        self.paced = status == _engine.RUN_PACED
        self._drain_device_events()

    def _run(self, timeout_ms: int, pace_until_us: int) -> int:
        try:
            return int(self._native.run(timeout_ms, pace_until_us))
        except _engine.TruncatedError as exc:
            self._exhausted = not self._live
            read = self.counters().packets_seen
            raise CaptureError(
                f"{exc} (the file ends inside a packet; {read} packets were read before it)"
            ) from None
        except _engine.ReadError as exc:
            raise CaptureError(f"capture failed: {exc}") from None

    def take(self) -> list[FlowRecord]:
        """Finished flows waiting in the engine, oldest first, without capturing."""
        records: list[FlowRecord] = self._native.take_records()
        return records

    def take_into(self, batch: FlowBatch, max_records: int) -> int:
        """Move up to max_records waiting flows, oldest first, into `batch`; returns how
        many (0: none waiting). MemoryError keeps those not moved waiting."""
        return int(self._native.take_into_batch(batch._native, max_records))

    def flush_step(self) -> int:
        """End flows (reason `forced`) as far as the waiting room allows; returns how many
        are left: take_into() the ended ones, then call again until 0."""
        return int(self._native.flush())

    def flush(self) -> list[FlowRecord]:
        """End every remaining flow (end reason `forced`) and return all waiting records:
        those finished before, then the forced ones in the order their flows began."""
        waiting = self.take()
        forced: list[FlowRecord] = []
        while True:
            left = self._native.flush()
            for record in self.take():
                (forced if record.end_reason == "forced" else waiting).append(record)
            if not left:
                break
        # The table ends them list by list; serial order is the order the flows began.
        forced.sort(key=lambda record: record.serial)
        return waiting + forced

    # -- JSON lines written by C (native/json_lines.c): `flows --json` without a Python
    # object per flow. Each line is what json.JSONEncoder(separators=(",", ":")).encode(
    # record.to_json(boot_id)) + "\n" gives for the record take()/flush() would return, in
    # the same order. They return how many records left the engine (each exactly once) and
    # raise OSError when writing fails (BrokenPipeError: the reader went away), after which
    # the records taken so far are gone, as a list of them would be.

    def poll_json_lines(self, fd: int, boot_id: bytes, timeout_ms: int = FILE_POLL_MS) -> int:
        """poll(), its records written to the file descriptor fd as JSON lines."""
        self.poll_pending(timeout_ms)
        return self.write_json_lines(fd, boot_id)

    def write_json_lines(self, fd: int, boot_id: bytes) -> int:
        """take(), written to the file descriptor fd as JSON lines."""
        return int(self._native.write_json_lines(fd, boot_id))

    def flush_json_lines(self, fd: int, boot_id: bytes) -> int:
        """flush(), written to the file descriptor fd as JSON lines (the waiting records,
        then the forced ones in the order their flows began)."""
        return int(self._native.flush_json_lines(fd, boot_id))

    # -- devices (native/devices.c; agent/devices.py makes records of them)

    @property
    def devices_enabled(self) -> bool:
        """True when the engine keeps a device table and runs the extractors."""
        return self.settings.max_devices > 0

    def collect_device_events(self) -> None:
        """Keep fingerprint events from now on for take_device_events() (the default
        discards them, so a caller that only wants flows never accumulates any)."""
        self._collect_device_events = True

    def _drain_device_events(self) -> None:
        if not self.devices_enabled:
            return
        events = self._native.take_device_events()
        if self._collect_device_events:
            self._device_events.extend(map(DeviceEvent._make, events))

    def take_device_events(self) -> list[DeviceEvent]:
        """Fingerprints found since the last call, oldest first (needs
        collect_device_events() first; empty when the device table is off)."""
        self._drain_device_events()
        events, self._device_events = self._device_events, []
        return events

    def devices(self, changed_only: bool = False) -> list[DeviceState]:
        """Device table entries: all, or those new or changed (address, VLAN, service,
        protocol) since the last changed_only call, whose change marks it clears."""
        if not self.devices_enabled:
            return []
        return list(map(DeviceState._make, self._native.devices(changed_only)))

    def device_counters(self) -> dict[str, int]:
        """Device table and extractor counters (devices_created, extract_malformed ...);
        empty when the device table is off."""
        if not self.devices_enabled:
            return {}
        counters: dict[str, int] = self._native.device_counters()
        return counters

    def counters(self) -> EngineCounters:
        """A snapshot of the engine's counters."""
        raw = self._native.counters()
        return EngineCounters(*(raw[name] for name in _COUNTER_NAMES))

    @property
    def clock_us(self) -> int:
        """The engine's clock (microseconds since the epoch): the largest packet time seen,
        or the wall clock while a live capture is idle. Drives expiry, and batch windows."""
        return int(self._native.clock_us)

    @property
    def hash_keys_from_clock(self) -> int:
        """Hash-table keys this process took from the clock because getrandom failed (no
        entropy at early boot): guessable, so hash flooding is possible again. 0 normally;
        health reports it."""
        return int(self._native.hash_keys_from_clock)

    @property
    def bytes_per_slot(self) -> float:
        """Flow table memory per flow slot (slot plus its share of hash buckets)."""
        return float(self._native.bytes_per_slot)

    def stop(self) -> None:
        """Make a poll() running in another thread return soon. Signal-safe."""
        self._native.stop()

    def close(self) -> None:
        """Close every source and free the tables; the engine is unusable afterwards."""
        self._native.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def summarize_file(
    path: str | os.PathLike[str], settings: EngineSettings | None = None
) -> Iterator[FlowRecord]:
    """Every flow of a capture file, in the order they end, the forced rest last.

    Raises UsageError when the file cannot be read as a capture (before yielding), and
    CaptureError for a truncated file after yielding every flow read up to the cut."""
    with Engine(settings) as engine:
        engine.open_file(path)
        failure: CaptureError | None = None
        while not engine.exhausted:
            try:
                yield from engine.poll()
            except CaptureError as exc:
                failure = exc
                break
        yield from engine.flush()
        if failure is not None:
            raise failure
