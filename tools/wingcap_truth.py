"""Ground-truth bookkeeping for the wing-capture generator, per docs/flow-semantics.md.

The generator knows, for every packet it decides to write, which flow it belongs to,
which side sent it, its TCP flags and its header and payload sizes. `FlowTruth` turns
that sequence into the records the engine must emit with default settings: no packet
is ever parsed back from the file. The generator keeps the design unambiguous (no gap
near a timeout, no key reused within a timeout), and `FlowTruth` raises if it does not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

# Default timeouts of the engine, in microseconds (docs/flow-semantics.md, "Expiry").
TCP_IDLE_US = 300_000_000
TCP_SYN_IDLE_US = 30_000_000
UDP_IDLE_US = 60_000_000
ICMP_IDLE_US = 60_000_000
OTHER_IDLE_US = 60_000_000
TCP_LINGER_US = 5_000_000
ACTIVE_US = 300_000_000

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10

INACTIVE, SYN_SENT, SYN_ACK_SENT, ESTABLISHED, PARTIAL, CLOSED, RESET = range(7)

_RSTOS0_HISTORY = re.compile(r"^\^?S[^HAFGIQ]*R")
_MAX_HISTORY = 16


@dataclass(frozen=True, slots=True)
class FlowIdentity:
    """What the generator decided about a flow: side 0 and side 1, as it addresses them."""

    proto: int
    addr: tuple[str, str]  # text form of side 0's and side 1's address
    port: tuple[int, int]  # side 0's and side 1's port (ICMP: type, counterpart/code)
    vlan: int | None
    inner_vlan: int | None
    service: str | None = None  # the label the engine's extractors must give it


class _Direction:
    __slots__ = (
        "ip_bytes",
        "letters",
        "payload_bytes",
        "payload_life",
        "pkts",
        "pkts_life",
        "state",
        "tcp_flags",
    )

    def __init__(self) -> None:
        self.state = INACTIVE
        self.letters: set[str] = set()
        # Life totals: conn_state is cumulative, record counters restart at `active`.
        self.pkts_life = 0
        self.payload_life = 0
        self.reset_counters()

    def reset_counters(self) -> None:
        self.pkts = 0
        self.ip_bytes = 0
        self.payload_bytes = 0
        self.tcp_flags = 0


class FlowTruth:
    """One flow's expected records, fed packet by packet in time order.

    `packet()` takes the sending side (0 or 1, as in `FlowIdentity`), the time, TCP
    flags (0 for other protocols), the IP length and the L4 payload length. `finish()`
    closes the flow at the capture's last timestamp and returns every record.
    """

    def __init__(self, flow_id: int, identity: FlowIdentity) -> None:
        self.flow_id = flow_id
        self.identity = identity
        self.orig_side = -1  # unknown until the first packet
        self.flipped = False
        self.dirs = (_Direction(), _Direction())  # indexed by generator side
        self.history = ""
        self.first_ts_us = 0
        self.record_start_us = 0
        self.last_ts_us = 0
        self.record_last_us = 0
        self.records: list[dict[str, Any]] = []

    # ---- per packet ----

    def packet(self, ts_us: int, side: int, flags: int, ip_len: int, payload_len: int) -> None:
        """Account one packet; raises AssertionError if the generator broke its own rules."""
        if self.orig_side < 0:
            self.orig_side = side
            if self.identity.proto == 6 and flags & (SYN | ACK) == SYN | ACK:
                self.orig_side = 1 - side
                self.flipped = True
                self.history = "^"
            self.first_ts_us = self.record_start_us = ts_us
        else:
            assert ts_us >= self.last_ts_us, "packets of a flow out of order"
            timeout_us, _ = self.timeout()
            assert ts_us - self.last_ts_us <= timeout_us, "gap beyond the flow's timeout"
            if ts_us >= self.record_start_us + ACTIVE_US:
                self.records.append(self._record("active"))
                for direction in self.dirs:
                    direction.reset_counters()
                self.record_start_us = ts_us
        self.last_ts_us = self.record_last_us = ts_us
        sender = self.dirs[side]
        sender.pkts += 1
        sender.ip_bytes += ip_len
        sender.payload_bytes += payload_len
        sender.tcp_flags |= flags
        sender.pkts_life += 1
        sender.payload_life += payload_len
        upper = side == self.orig_side
        if self.identity.proto == 6:
            self._tcp_letters(sender, upper, flags, payload_len)
            self._tcp_state(sender, self.dirs[1 - side], flags)
        elif payload_len > 0:
            self._letter(sender, upper, "d")

    def _letter(self, sender: _Direction, upper: bool, letter: str) -> None:
        if letter in sender.letters:
            return
        sender.letters.add(letter)
        if len(self.history) < _MAX_HISTORY:
            self.history += letter.upper() if upper else letter

    def _tcp_letters(self, sender: _Direction, upper: bool, flags: int, payload_len: int) -> None:
        if flags & SYN and not flags & ACK:
            self._letter(sender, upper, "s")
        if flags & SYN and flags & ACK:
            self._letter(sender, upper, "h")
        if flags & SYN and flags & (FIN | RST):
            self._letter(sender, upper, "q")
        if payload_len > 0:
            self._letter(sender, upper, "d")
        if flags & FIN:
            self._letter(sender, upper, "f")
        if flags & RST:
            self._letter(sender, upper, "r")
        if flags & ACK and not flags & (SYN | FIN | RST) and payload_len == 0:
            self._letter(sender, upper, "a")

    @staticmethod
    def _tcp_state(sender: _Direction, peer: _Direction, flags: int) -> None:
        if sender.state in (CLOSED, RESET):
            return  # final; the generator never sends RST after its own FIN
        if flags & RST:
            sender.state = RESET
        elif flags & FIN:
            sender.state = CLOSED
        elif flags & SYN and not flags & ACK:
            if sender.state == INACTIVE:
                sender.state = SYN_SENT
        elif flags & SYN:
            if sender.state == INACTIVE:
                sender.state = SYN_ACK_SENT
        elif sender.state in (SYN_SENT, SYN_ACK_SENT):
            sender.state = ESTABLISHED
            if peer.state in (SYN_ACK_SENT, SYN_SENT):
                peer.state = ESTABLISHED
        elif sender.state == INACTIVE:
            sender.state = PARTIAL

    # ---- state as the spec derives it ----

    def _orig_resp(self) -> tuple[_Direction, _Direction]:
        return self.dirs[self.orig_side], self.dirs[1 - self.orig_side]

    def tcp_closed(self) -> bool:
        """Both endpoints CLOSED, or either RESET: the flow ends after the linger."""
        orig, resp = self._orig_resp()
        return (orig.state == CLOSED and resp.state == CLOSED) or RESET in (
            orig.state,
            resp.state,
        )

    def timeout(self) -> tuple[int, str]:
        """(timeout in microseconds, end reason) that applies to the flow as it stands."""
        proto = self.identity.proto
        if proto == 6:
            orig, resp = self._orig_resp()
            if self.tcp_closed():
                return TCP_LINGER_US, "end"
            if orig.state == SYN_SENT and resp.state == INACTIVE:
                return TCP_SYN_IDLE_US, "idle"
            return TCP_IDLE_US, "idle"
        if proto == 17:
            return UDP_IDLE_US, "idle"
        if proto in (1, 58):
            return ICMP_IDLE_US, "idle"
        return OTHER_IDLE_US, "idle"

    def conn_state(self) -> str:
        """Zeek's conn_state from the endpoint states and history (flow-semantics.md)."""
        orig, resp = self._orig_resp()
        proto = self.identity.proto
        if proto == 17:
            return "SF" if orig.pkts_life and resp.pkts_life else "S0"
        if proto != 6:
            return "OTH"
        os_, rs = orig.state, resp.state
        if rs == RESET:
            if os_ in (SYN_SENT, SYN_ACK_SENT) or (
                os_ == RESET and orig.payload_life == 0 and resp.payload_life == 0
            ):
                return "REJ"
            return "RSTRH" if os_ in (INACTIVE, PARTIAL) else "RSTR"
        if os_ == RESET:
            if rs in (INACTIVE, PARTIAL):
                return "RSTOS0" if _RSTOS0_HISTORY.match(self.history) else "OTH"
            return "RSTO"
        if os_ == CLOSED and rs == CLOSED:
            return "SF"
        if os_ == CLOSED:
            return "SH" if rs in (INACTIVE, PARTIAL) else "S2"
        if rs == CLOSED:
            return "SHR" if os_ in (INACTIVE, PARTIAL) else "S3"
        if os_ == SYN_SENT and rs == INACTIVE:
            return "S0"
        if os_ == ESTABLISHED and rs == ESTABLISHED:
            return "S1"
        return "OTH"

    # ---- records ----

    def _record(self, end_reason: str) -> dict[str, Any]:
        orig, resp = self._orig_resp()
        o, r = self.orig_side, 1 - self.orig_side
        ident = self.identity
        return {
            "flow": self.flow_id,
            "ts_us": self.record_start_us,
            "duration_us": self.record_last_us - self.record_start_us,
            "proto": ident.proto,
            "orig_addr": ident.addr[o],
            "orig_port": ident.port[o],
            "resp_addr": ident.addr[r],
            "resp_port": ident.port[r],
            "vlan": ident.vlan,
            "inner_vlan": ident.inner_vlan,
            "orig_pkts": orig.pkts,
            "orig_ip_bytes": orig.ip_bytes,
            "orig_bytes": orig.payload_bytes,
            "resp_pkts": resp.pkts,
            "resp_ip_bytes": resp.ip_bytes,
            "resp_bytes": resp.payload_bytes,
            "orig_tcp_flags": orig.tcp_flags,
            "resp_tcp_flags": resp.tcp_flags,
            "conn_state": self.conn_state(),
            "history": self.history,
            "end_reason": end_reason,
            "service": ident.service,
        }

    def finish(self, capture_end_us: int, slack_us: int) -> list[dict[str, Any]] | None:
        """Every record of the flow, the last one ended as the engine will end it.

        The engine's clock at end of file is the capture's last timestamp: a flow idle
        longer than its timeout by then has expired (`idle` / `end`), any other is
        `forced`. Returns None when the flow ended within `slack_us` after its timeout
        (an engine that expires lazily could reasonably say either): the generator then
        drops the whole session instead of guessing.
        """
        timeout_us, reason = self.timeout()
        idle_us = capture_end_us - self.last_ts_us
        if timeout_us < idle_us <= timeout_us + slack_us:
            return None
        last = self._record(reason if idle_us > timeout_us else "forced")
        return [*self.records, last]

    def busy_until_us(self, capture_end_us: int) -> int:
        """When the flow's key is free again (its last packet + timeout, or the end)."""
        timeout_us, _ = self.timeout()
        return min(capture_end_us, self.last_ts_us + timeout_us)
