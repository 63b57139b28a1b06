"""Device observations: the engine's device table and fingerprints in, wire maps out.

The engine (native/devices.c) keeps per-MAC facts in fixed memory and hands over the
fingerprints it reads from the first packets of flows as events. `DeviceInventory`
keeps, per device, the distinct values of each fingerprint kind (bounded), turns raw
values into what is shipped (JA4 from its inputs, names keyed-hashed with the site
secret per [privacy], OUI vendor from the IEEE registry) and says which devices changed, so the
pipeline can ship changes promptly and a full snapshot now and then.

Only the kinds in `FINGERPRINT_KINDS` are ever shipped: the allowlist of docs/DEVICES.md.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import os
import re
from array import array
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from agent.engine import DeviceEvent, DeviceState
from agent.errors import UsageError
from agent.flowrecord import FlowRecord

log = logging.getLogger(__name__)

OUI_REGISTRY = Path("/usr/share/ieee-data/oui.txt")  # Debian's ieee-data package
MAX_VALUES_PER_KIND = 16  # distinct values kept per fingerprint kind and device
# A MAC with this many addresses of one family (the engine keeps at most 4 and counts the
# rest) answers for a network: a router. Fingerprints its IP packets carry then belong to
# the hosts behind it, one record per (MAC, address); central/inventory reads the same.
ROUTER_ADDRESSES = 4
MAX_ROUTED_HOSTS = 64  # (MAC, address) records kept per router, the least recent goes
MAX_VALUE_CHARS = 256
HASH_PREFIX = "hmac-sha256:"

# Every fingerprint kind that may leave the process (native/devices.c FP_KIND_NAMES
# names the engine's; tls_ja4 is made here from tls_ja4_raw, which is never shipped).
FINGERPRINT_KINDS = frozenset(
    {
        "dhcp_parameter_list",
        "dhcp_vendor_class",
        "dhcp_hostname",
        "dhcp_client_id",
        "dhcp_assigned_address",
        "dhcpv6_vendor_class",
        "lldp_system_name",
        "lldp_system_description",
        "cdp_device_id",
        "cdp_platform",
        "cdp_software_version",
        "mdns_service",
        "ssdp_server",
        "tls_sni",
        "tls_ja4",
        "http_user_agent",
        "http_server",
        "dicom_ae_title",
        "dicom_called_ae_title",
        "dicom_implementation_class_uid",
        "dicom_implementation_version",
        "dicom_abstract_syntax",
        "dicom_modality",
        "dicom_association_result",
        "hl7_sending_application",
        "hl7_sending_facility",
        "hl7_receiving_application",
        "hl7_receiving_facility",
        "hl7_message_type",
        "hl7_processing_id",
        "hl7_version",
        "poct1_vendor",
        "poct1_model",
        "poct1_version",
        "intellivue",
        "sip_user_agent",
        "sip_server",
        "rtsp_user_agent",
        "rtsp_server",
        "hl7_device_model",
        "hl7_device_udi_di",
        "hl7_device_type",
        "intellivue_model",
        # issue 14: what makes a device risky (facts, never credentials: docs/DEVICES.md)
        "ssh_banner",
        "ftp_auth_tls",
        "ftp_cleartext_login",
        "rdp_security",
        "vnc_security",
        "vnc_security_chosen",
        "smb_dialect",
        "snmp_version",
        "snmp_default_community",
        "http_basic_auth",
        "tls_version_offered",
        "tls_version",
    }
)
# User agents of every text protocol follow [privacy] http_user_agent.
USER_AGENT_KINDS = frozenset({"http_user_agent", "sip_user_agent", "rtsp_user_agent"})
# Kinds that name a host, often after a person ("ICU4-JSMITH-PC"), or tie one client to
# a person's device for good (the DHCP client id): hashed with the secret by default
# ([privacy] hostnames). Classification needs none of them: vendor classes, system
# descriptions, platforms and protocols stay clear.
HOSTNAME_KINDS = frozenset({"dhcp_hostname", "dhcp_client_id", "lldp_system_name", "cdp_device_id"})
NAME_TREATMENTS = ("hash", "clear", "drop")
_IP_PROTOCOLS = {6: "tcp", 17: "udp", 132: "sctp"}
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f]")


# ---------------------------------------------------------------------------- OUI


class OuiRegistry:
    """MAC prefix (first 3 bytes) to the vendor the IEEE registered it to.

    Read lazily from Debian's ieee-data (oui.txt, ~32k entries) the first time a vendor
    is asked for: a lookup is per device record, never per packet, so the registry stays
    a plain file the OS keeps current rather than a table compiled into the engine. The
    file is read line by line into packed prefixes and one blob of names (about 1 MB): a
    dict of names read from the whole file at once cost 3 MB to keep and 8 MB at its
    peak, an eighth of the agent's memory budget. A missing registry means no vendor
    names (logged once), not an error.
    """

    _LINE = re.compile(rb"^([0-9A-F]{6})\s+\(base 16\)\s+(.+?)\s*$")

    def __init__(self, path: Path = OUI_REGISTRY) -> None:
        self.path = path
        self._prefixes: bytes | None = None  # 3 bytes each, in the file's order
        self._name_ends = array("I")  # name i is _names[_name_ends[i - 1]:_name_ends[i]]
        self._names = b""

    def _load(self) -> None:
        prefixes, names = bytearray(), bytearray()
        try:
            with self.path.open("rb") as registry:
                for line in registry:
                    match = self._LINE.match(line)
                    if match:
                        prefixes += bytes.fromhex(match.group(1).decode())
                        names += match.group(2)
                        self._name_ends.append(len(names))
        except OSError as exc:
            log.info("no OUI vendor names: %s (install the ieee-data package)", exc)
        self._prefixes, self._names = bytes(prefixes), bytes(names)

    def vendor(self, mac: bytes) -> str | None:
        """The registered vendor of a universally administered MAC, else None."""
        if mac[0] & 0x02:  # locally administered (random, virtual): no registrant
            return None
        if self._prefixes is None:
            self._load()
        assert self._prefixes is not None
        # A find in 100 kB of packed prefixes: tens of microseconds, per device record.
        at = self._prefixes.find(mac[:3])
        while at > 0 and at % 3:  # a match across two prefixes: look on
            at = self._prefixes.find(mac[:3], at + 1)
        if at < 0:
            return None
        i = at // 3
        start = self._name_ends[i - 1] if i else 0
        return self._names[start : self._name_ends[i]].decode("utf-8", "replace")


# ---------------------------------------------------------------------------- hashing


@dataclass(frozen=True, slots=True)
class NamePrivacy:
    """How names leave the box ([privacy]): "hash" (keyed, with the site secret),
    "clear" (as seen) or "drop" (never shipped), per group of kinds."""

    hostnames: str = "hash"  # HOSTNAME_KINDS
    tls_sni: str = "clear"  # server names: the services a device talks to, not people
    http_user_agent: str = "clear"

    def treatment(self, kind: str) -> str:
        """What happens to a value of `kind`: "hash", "clear" or "drop"."""
        if kind in HOSTNAME_KINDS:
            return self.hostnames
        if kind == "tls_sni":
            return self.tls_sni
        if kind in USER_AGENT_KINDS:
            return self.http_user_agent
        return "clear"


class ServerNamePrivacy:
    """[privacy] tls_sni applied to the flows' server names (FlowRecord.server_name: a DNS
    answer's, an SNI's or a Host's name; the same names SNI gives): "clear" keeps them,
    "hash" ships the keyed hash the tls_sni fingerprints get, "drop" ships none."""

    _CACHE_MAX = 4096  # a wing talks to a few hundred names: hash each once, not per flow

    def __init__(self, treatment: str, hasher: HostnameHasher) -> None:
        self._treatment = treatment
        self._hasher = hasher
        self._hashed: dict[str, str] = {}

    @property
    def collects(self) -> bool:
        """False when no name is to be shipped ("drop"): the engine's batch keeps none."""
        return self._treatment != "drop"

    def names(self, names: list[str]) -> list[str]:
        """A batch's distinct server names (agent.engine.FlowBatch) as the setting says, in
        the same order: the same list when clear; "drop" never collects any."""
        if self._treatment == "clear":
            return names
        return [self._hashed_name(name) for name in names]

    def _hashed_name(self, name: str) -> str:
        hashed = self._hashed.get(name)
        if hashed is None:
            if len(self._hashed) >= self._CACHE_MAX:
                self._hashed.clear()
            hashed = self._hashed[name] = self._hasher(name)
        return hashed

    def __call__(self, records: list[FlowRecord]) -> list[FlowRecord]:
        """`records` with their server names as the setting says (the same list when clear)."""
        if self._treatment == "clear":
            return records
        return [r if r.server_name is None else self._treated(r) for r in records]

    def _treated(self, record: FlowRecord) -> FlowRecord:
        name = record.server_name
        if self._treatment == "drop" or name is None:
            return replace(record, server_name=None)
        return replace(record, server_name=self._hashed_name(name))


OWN_SECRET_NAME = "own-hostname.secret"
SECRET_BYTES = 32


def make_secret_file(path: Path) -> None:
    """Write a new random secret (32 bytes, mode 0600) to `path`, never overwriting.

    Raises FileExistsError when `path` exists, OSError when it cannot be written.
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, os.urandom(SECRET_BYTES).hex().encode() + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)


class HostnameHasher:
    """Names as a keyed hash (HMAC-SHA256 with the site secret), or as seen (no secret)."""

    def __init__(self, secret: bytes | None) -> None:
        self._secret = secret

    @classmethod
    def from_file(cls, path: Path | None) -> HostnameHasher:
        """From [privacy] hostname_hash_secret_file (None: no hashing). Raises UsageError
        naming the file when it cannot be read or holds fewer than 16 bytes."""
        if path is None:
            return cls(None)
        try:
            secret = path.read_bytes().strip()
        except OSError as exc:
            raise UsageError(
                f"{path}: cannot read the hostname hash secret ({exc.strerror}); "
                "set privacy.hostname_hash_secret_file to a readable file"
            ) from None
        if len(secret) < 16:
            raise UsageError(f"{path}: the hostname hash secret must hold at least 16 bytes")
        return cls(secret)

    @classmethod
    def for_sensor(cls, site_secret: Path | None, state_dir: Path) -> tuple[HostnameHasher, str]:
        """The hasher for a sensor, and whose secret it uses: "site" (the configured
        [privacy] hostname_hash_secret_file, shared by a site's sensors) or "own" (none
        configured: a secret this sensor made in `state_dir` once and keeps; its hashes
        match nothing another sensor sends). Raises UsageError when a secret cannot be
        read or made."""
        if site_secret is not None:
            return cls.from_file(site_secret), "site"
        own = state_dir / OWN_SECRET_NAME
        try:
            make_secret_file(own)
        except FileExistsError:
            pass
        except OSError as exc:
            raise UsageError(
                f"{own}: cannot make this sensor's own hash secret ({exc.strerror}); "
                "set privacy.hostname_hash_secret_file to the site secret"
            ) from None
        else:
            log.warning(
                "no site secret ([privacy] hostname_hash_secret_file): names are hashed "
                "with this sensor's own secret %s, so they match nothing other sensors "
                "send; make a site secret with iomt-agent keygen --site-secret "
                "(docs/CONFIG.md)",
                own,
            )
        return cls.from_file(own), "own"

    @property
    def enabled(self) -> bool:
        return self._secret is not None

    def __call__(self, hostname: str) -> str:
        if self._secret is None:
            return hostname
        digest = hmac.new(self._secret, hostname.lower().encode(), hashlib.sha256)
        return HASH_PREFIX + digest.hexdigest()[:32]


# ---------------------------------------------------------------------------- JA4


def ja4_from_raw(raw: str) -> str | None:
    """JA4 from the engine's GREASE-free ClientHello inputs (native/extract_tls.c):
    "<t><version><d|i>|<first ALPN: first and last byte, hex>|<ciphers>|<extensions>|
    <signature algorithms>", lists of 4-digit hex, comma separated. None when malformed.

    JA4 = a_b_c: a = t, version, d/i, cipher count, extension count (2 digits, at most
    99), ALPN first+last character ("00" without ALPN; hex digits when not alphanumeric);
    b = sha256 of the sorted ciphers, 12 hex digits; c = sha256 of the sorted extensions
    without SNI (0000) and ALPN (0010), "_", then the signature algorithms in their
    order ("000000000000" for an empty list).
    """
    parts = raw.split("|")
    if len(parts) != 5 or len(parts[0]) != 4:
        return None
    head, alpn_hex, ciphers_text, exts_text, sigalgs_text = parts
    ciphers = [c for c in ciphers_text.split(",") if c]
    exts = [e for e in exts_text.split(",") if e]
    if alpn_hex:
        try:
            first, last = bytes.fromhex(alpn_hex)
        except ValueError:
            return None
        if _alnum(first) and _alnum(last):
            alpn = chr(first) + chr(last)
        else:
            alpn = f"{first:02x}"[0] + f"{last:02x}"[1]
    else:
        alpn = "00"
    a = f"{head}{min(len(ciphers), 99):02d}{min(len(exts), 99):02d}{alpn}"
    b = _sha12(",".join(sorted(ciphers))) if ciphers else "000000000000"
    kept = sorted(e for e in exts if e not in ("0000", "0010"))
    c_input = ",".join(kept)
    if sigalgs_text:
        c_input += "_" + sigalgs_text
    c = _sha12(c_input) if kept else "000000000000"
    return f"{a}_{b}_{c}"


def _alnum(byte: int) -> bool:
    return 0x30 <= byte <= 0x39 or 0x41 <= byte <= 0x5A or 0x61 <= byte <= 0x7A


def _sha12(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


# ---------------------------------------------------------------------------- records


def mac_text(mac: bytes) -> str:
    """aa:bb:cc:dd:ee:ff"""
    return ":".join(f"{b:02x}" for b in mac)


def _clean(value: bytes) -> str:
    """Shippable text: UTF-8 (bad bytes replaced), no control characters, bounded."""
    return _UNPRINTABLE.sub("", value.decode("utf-8", "replace"))[:MAX_VALUE_CHARS]


def _add_value(fingerprints: dict[str, list[str]], kind: str, value: str) -> bool:
    """Keep a value (at most MAX_VALUES_PER_KIND per kind); True when it is new."""
    values = fingerprints.setdefault(kind, [])
    if value in values or len(values) >= MAX_VALUES_PER_KIND:
        return False
    values.append(value)
    return True


def _ip_text(ip: bytes) -> str:
    return str(ipaddress.IPv4Address(ip) if len(ip) == 4 else ipaddress.IPv6Address(ip))


@dataclass(slots=True)
class DeviceRecord:
    """What the agent knows of one device: the engine's latest state and fingerprints.

    Fingerprints of its own (link layer, DHCP for its chaddr) are in `fingerprints`; those
    its IP packets carried, per sender address, in `hosts`. A device that is no router
    ships them all as one record; a router ships its own, and one record per address
    behind it (`host_wire`)."""

    mac: bytes
    state: DeviceState | None = None
    fingerprints: dict[str, list[str]] = field(default_factory=dict)
    shipped: bool = False  # a record of it went out this boot
    hosts: OrderedDict[bytes, dict[str, list[str]]] = field(default_factory=OrderedDict)
    changed_hosts: set[bytes] = field(default_factory=set)  # since the last shipping
    shipped_hosts: set[bytes] = field(default_factory=set)

    def add_fingerprint(self, kind: str, value: str, ip: bytes = b"") -> bool:
        """Keep a value, the device's own or (ip) its IP sender's; True when it is new."""
        if not ip:
            return _add_value(self.fingerprints, kind, value)
        host = self.hosts.get(ip)
        if host is None:
            host = self.hosts[ip] = {}
            if len(self.hosts) > MAX_ROUTED_HOSTS:
                gone, _ = self.hosts.popitem(last=False)
                self.changed_hosts.discard(gone)
                self.shipped_hosts.discard(gone)
        else:
            self.hosts.move_to_end(ip)
        if not _add_value(host, kind, value):
            return False
        self.changed_hosts.add(ip)
        return True

    def is_router(self) -> bool:
        s = self.state
        return s is not None and (
            len(s.ipv4) >= ROUTER_ADDRESSES or len(s.ipv6) >= ROUTER_ADDRESSES
        )

    def shipped_fingerprints(self) -> dict[str, list[str]]:
        """What the device's own record carries: a router its own only, any other device
        its own and every value its IP packets carried."""
        if self.is_router() or not self.hosts:
            return self.fingerprints
        merged = {kind: list(values) for kind, values in self.fingerprints.items()}
        for host in self.hosts.values():
            for kind, values in host.items():
                for value in values:
                    _add_value(merged, kind, value)
        return merged

    def host_wire(self, ip: bytes, change: str) -> dict[str, Any]:
        """The `device` map of a host behind this router: keyed (mac, ip)."""
        fingerprints = self.hosts.get(ip, {})
        return {
            "mac": mac_text(self.mac),
            "ip": _ip_text(ip),
            "change": change,
            "fingerprints": {k: list(v) for k, v in sorted(fingerprints.items())},
        }

    def routed_wire(self, change: str | None) -> list[dict[str, Any]]:
        """The maps of the hosts behind this router that changed since the last call (all
        of them, as `change`, when change is "snapshot"); none when it is no router."""
        if not self.is_router():  # its own record carries them; kept for when it turns out one
            return []
        ips = sorted(self.hosts) if change == "snapshot" else sorted(self.changed_hosts)
        out = []
        for ip in ips:
            kind = change or ("update" if ip in self.shipped_hosts else "new")
            out.append(self.host_wire(ip, kind))
            self.shipped_hosts.add(ip)
        self.changed_hosts.clear()
        return out

    def to_wire(self, change: str, vendor: str | None) -> dict[str, Any]:
        """The `device` map of docs/summary.cddl; change is new, update or snapshot."""
        out: dict[str, Any] = {"mac": mac_text(self.mac), "change": change}
        if vendor:
            out["vendor"] = vendor
        s = self.state
        if s is not None:
            out["first_seen_us"] = s.first_seen_us
            out["last_seen_us"] = s.last_seen_us
            out["pkts_sent"] = s.pkts_sent
            out["bytes_sent"] = s.bytes_sent
            out["pkts_received"] = s.pkts_received
            out["bytes_received"] = s.bytes_received
            out["peers"] = s.peers_estimate
            if s.ipv4:
                out["ipv4"] = [str(ipaddress.IPv4Address(a)) for a in s.ipv4]
            if s.ipv6:
                out["ipv6"] = [str(ipaddress.IPv6Address(a)) for a in s.ipv6]
            if s.vlans:
                out["vlans"] = list(s.vlans)
            if s.services:
                out["services"] = [
                    f"{_IP_PROTOCOLS.get(proto, str(proto))}/{port}" for proto, port in s.services
                ]
            if s.protocols:
                out["protocols"] = list(s.protocols)
            if s.hl7_messages:
                out["hl7_messages"] = s.hl7_messages
        fingerprints = self.shipped_fingerprints()
        if fingerprints:
            out["fingerprints"] = {k: list(v) for k, v in sorted(fingerprints.items())}
        return out


class DeviceInventory:
    """Per-device records, bounded by max_devices (the least recently changed goes)."""

    def __init__(
        self,
        max_devices: int,
        hasher: HostnameHasher | None = None,
        oui: OuiRegistry | None = None,
        privacy: NamePrivacy | None = None,
    ) -> None:
        """Without a hasher, names are hashed with a secret made for this inventory only
        (never shipped in clear by omission)."""
        self.max_devices = max(1, max_devices)
        self.hasher = hasher or HostnameHasher(os.urandom(SECRET_BYTES))
        self.privacy = privacy or NamePrivacy()
        self.oui = oui or OuiRegistry()
        self._records: OrderedDict[bytes, DeviceRecord] = OrderedDict()
        self.evicted = 0

    def __len__(self) -> int:
        return len(self._records)

    def get(self, mac: bytes) -> DeviceRecord | None:
        return self._records.get(mac)

    def _record(self, mac: bytes) -> DeviceRecord:
        record = self._records.get(mac)
        if record is None:
            record = self._records[mac] = DeviceRecord(mac)
            if len(self._records) > self.max_devices:
                self._records.popitem(last=False)
                self.evicted += 1
        else:
            self._records.move_to_end(mac)
        return record

    def _shippable(self, event: DeviceEvent) -> tuple[str, str] | None:
        kind, value = event.kind, _clean(event.value)
        if kind == "tls_ja4_raw":
            ja4 = ja4_from_raw(value)
            return None if ja4 is None else ("tls_ja4", ja4)
        if kind not in FINGERPRINT_KINDS or not value:
            return None
        treatment = self.privacy.treatment(kind)
        if treatment == "drop":
            return None
        if treatment == "hash":
            value = self.hasher(value)
        return kind, value

    def absorb(
        self, events: Iterable[DeviceEvent], changed: Iterable[DeviceState]
    ) -> list[dict[str, Any]]:
        """Take the engine's new fingerprints and changed device states; the wire maps of
        every device that is new or changed (new address, VLAN, service, protocol or
        fingerprint value), in MAC order."""
        touched: set[bytes] = set()
        for state in changed:
            self._record(state.mac).state = state
            touched.add(state.mac)
        for event in events:
            shippable = self._shippable(event)
            if shippable is not None and self._record(event.mac).add_fingerprint(
                *shippable, event.ip
            ):
                touched.add(event.mac)
        out = []
        for mac in sorted(touched):
            record = self._records.get(mac)
            if record is None:  # evicted again in this very batch
                continue
            out.append(record.to_wire("update" if record.shipped else "new", self._vendor(mac)))
            out.extend(record.routed_wire(None))
            record.shipped = True
        return out

    def snapshot(self, states: Iterable[DeviceState]) -> list[dict[str, Any]]:
        """Every device the engine holds now, with its fingerprints, in MAC order."""
        for state in states:
            self._record(state.mac).state = state
        out = []
        for mac in sorted(self._records):
            out.append(self._records[mac].to_wire("snapshot", self._vendor(mac)))
            out.extend(self._records[mac].routed_wire("snapshot"))
            self._records[mac].shipped = True
        return out

    def _vendor(self, mac: bytes) -> str | None:
        return self.oui.vendor(mac)
