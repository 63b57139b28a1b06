"""Findings from flows and device facts, driven by the rules data file.

    evaluator = RiskEvaluator(rules, devices, now=clock(), policy=policy, advisories=advisories)
    evaluator.add_flows(flows)          # streaming: any number, any order
    findings = evaluator.finish()       # one Finding per (finding id, device, peer)

What decides each finding (docs/RISK.md has the table):
- a flow `service` label listed under a finding (the sensor saw the protocol's content),
  or, for flows without a label, the responder port listed under it (evidence basis
  "port": weaker, said so in the finding);
- cleartext_phi: an HL7/DICOM/POCT1/IntelliVue label (TLS-wrapped traffic is labelled
  `ssl`, so it never matches); critical when the two ends are in different zones;
- internet_communication: a medical category's device and a global address, unless a
  policy rule explicitly allows that flow;
- policy_violation: a flow the configured policy denies;
- port_scan: many ports of one host, or one port of many hosts, from one device within
  a window (fixed windows: a scan split across two windows may go unseen);
- new_device, identity_changed, old_tls (JA4), known_vulnerability: device facts.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from central.policy.rules import Decision, FlowFacts, Policy
from central.policy.zones import Endpoint, ZoneMap, is_internet
from central.risk.advisories import Advisory, parse_version
from central.risk.model import DeviceFacts, Finding, ObservedFlow
from central.risk.rules import FindingRule, RiskRules
from central.timestamps import iso_z

_TCP_ESTABLISHED = frozenset({"SF", "S1", "S2", "S3", "RSTO", "RSTR"})
MAX_EXAMPLES = 3


@functools.lru_cache(maxsize=1 << 16)
def _internet(address: str) -> bool:
    return is_internet(address)


def _established(flow: ObservedFlow) -> bool:
    if flow.proto == "tcp" and flow.conn_state:
        return flow.conn_state in _TCP_ESTABLISHED
    return flow.resp_pkts > 0 or flow.resp_bytes > 0


class _ScanWindow:
    __slots__ = ("first", "flows", "hosts_by_port", "last", "ports_by_host")

    def __init__(self, ts: datetime) -> None:
        self.first = self.last = ts
        self.flows = 0
        self.ports_by_host: dict[str, set[int]] = {}
        self.hosts_by_port: dict[int, set[str]] = {}


class RiskEvaluator:
    def __init__(
        self,
        rules: RiskRules,
        devices: Iterable[DeviceFacts],
        now: datetime,
        policy: Policy | None = None,
        advisories: Sequence[Advisory] = (),
    ) -> None:
        self.rules = rules
        self.now = now
        self.policy = policy if policy is not None and policy.configured else None
        self.zone_map = policy.zone_map if policy is not None else ZoneMap()
        self.advisories = advisories
        self.devices = list(devices)
        self._by_id = {device.id: device for device in self.devices}
        self._by_address: dict[tuple[str, str], DeviceFacts] = {
            (device.site, address): device
            for device in self.devices
            for address in device.addresses
        }
        self._by_label: dict[str, list[FindingRule]] = {}
        self._by_port: dict[tuple[str, int], list[FindingRule]] = {}
        for rule in rules.findings.values():
            for label in rule.get("labels", []):
                self._by_label.setdefault(label, []).append(rule)
            for port in rule.get("ports", []):
                proto, _, number = port.partition("/")
                self._by_port.setdefault((proto, int(number)), []).append(rule)
        scan = rules.findings["port_scan"]
        self._scan_window_s = int(scan.get("window_s", 300))
        self._scan_min_ports = int(scan.get("min_ports_one_host", 20))
        self._scan_min_hosts = int(scan.get("min_hosts_one_port", 20))
        self._scans: dict[tuple[str, int], _ScanWindow] = {}
        self._findings: dict[tuple[str, str, str], Finding] = {}
        self._decisions: dict[tuple, Decision] = {}
        self._zone_cache: dict[tuple[str, str], str] = {}
        # Decisions are cached per (zones, service ...); the destination address and the
        # server name join the key only when some rule looks at them.
        rules_of_policy = self.policy.rules if self.policy is not None else ()
        self._decide_by_address = any(rule.to_cidrs for rule in rules_of_policy)
        self._decide_by_server = any(rule.to_server for rule in rules_of_policy)
        self.flows_seen = 0

    # ------------------------------------------------------------------ flows
    def add_flows(self, flows: Iterable[ObservedFlow]) -> None:
        for flow in flows:
            self.add_flow(flow)

    def add_flow(self, flow: ObservedFlow) -> None:
        self.flows_seen += 1
        orig = self._by_address.get((flow.site, flow.orig_h))
        resp = self._by_address.get((flow.site, flow.resp_h))
        if orig is None and resp is None:
            return
        service = flow.service
        hits = (
            self._by_label.get(service) if service else self._by_port.get((flow.proto, flow.resp_p))
        )
        if hits:
            established = _established(flow)
            for rule in hits:
                if rule.get("established", False) and not established:
                    continue
                self._service_hit(rule, flow, orig, resp, "label" if service else "port")
        medical = self.rules.medical_categories
        if orig is not None and orig.category in medical and _internet(flow.resp_h):
            self._internet_hit(orig, flow.resp_h, flow)
        if resp is not None and resp.category in medical and _internet(flow.orig_h):
            self._internet_hit(resp, flow.orig_h, flow)
        if self.policy is not None:
            self._policy_check(flow, orig, resp)
        # Scans and sweeps are what goes unanswered: an NMS polling hundreds of devices
        # that answer is not a sweep (and tracking only these keeps the cost down).
        if orig is not None and flow.proto in ("tcp", "udp") and not _established(flow):
            self._scan_track(orig, flow)

    def _zones(self, device: DeviceFacts | None, site: str, address: str) -> str:
        # Per (site, address): the device behind an address is fixed for one evaluation,
        # and building an Endpoint per flow was the evaluator's largest cost (bench_risk).
        key = (site, address)
        zone = self._zone_cache.get(key)
        if zone is None:
            if device is None:
                endpoint = Endpoint(address, site)
            else:
                endpoint = Endpoint(address, site, device.wings, device.vlans, device.category)
            zone = self._zone_cache[key] = self.zone_map.zone_of(endpoint)
        return zone

    def _service_hit(
        self,
        rule: FindingRule,
        flow: ObservedFlow,
        orig: DeviceFacts | None,
        resp: DeviceFacts | None,
        basis: str,
    ) -> None:
        side = rule.get("side", "both")
        orig_zone = self._zones(orig, flow.site, flow.orig_h)
        resp_zone = self._zones(resp, flow.site, flow.resp_h)
        severity = rule.severity
        across = orig_zone != resp_zone
        if across and "severity_across_zones" in rule.options:
            severity = rule.options["severity_across_zones"]
        what = flow.service or f"{flow.proto}/{flow.resp_p}"
        where = (
            f" across zones {orig_zone} -> {resp_zone}" if across else f" within zone {orig_zone}"
        )
        basis_note = "" if basis == "label" else " (by port only: the sensor did not label it)"
        if side in ("originator", "both") and orig is not None:
            detail = f"{rule.title}: {what} to {flow.resp_h}:{flow.resp_p}{where}{basis_note}"
            self._record(
                rule.id, orig, flow.resp_h, severity, flow, detail, basis, (orig_zone, resp_zone)
            )
        if side in ("responder", "both") and resp is not None:
            detail = (
                f"{rule.title}: {what} from {flow.orig_h} on port {flow.resp_p}{where}{basis_note}"
            )
            self._record(
                rule.id, resp, flow.orig_h, severity, flow, detail, basis, (resp_zone, orig_zone)
            )

    def _internet_hit(self, device: DeviceFacts, peer: str, flow: ObservedFlow) -> None:
        if self.policy is not None:
            decision = self._decide(flow, None, None)
            if decision.allowed and decision.rule not in ("default",):
                return  # a person's rule allows this destination: an exception, not a finding
        rule = self.rules.findings["internet_communication"]
        severity = rule.get("severity_phi", rule.severity) if device.handles_phi else rule.severity
        zone = self._zones(device, flow.site, device.addresses[0] if device.addresses else "")
        name = f" ({flow.server_name})" if flow.server_name else ""
        detail = (
            f"{rule.title}: {device.category} with {peer}{name} over {flow.proto}/{flow.resp_p}"
        )
        self._record(rule.id, device, peer, severity, flow, detail, "address", (zone, "internet"))

    def _decide(
        self, flow: ObservedFlow, orig: DeviceFacts | None, resp: DeviceFacts | None
    ) -> Decision:
        assert self.policy is not None
        if orig is None:
            orig = self._by_address.get((flow.site, flow.orig_h))
        if resp is None:
            resp = self._by_address.get((flow.site, flow.resp_h))
        src = self._zones(orig, flow.site, flow.orig_h)
        dst = self._zones(resp, flow.site, flow.resp_h)
        key = (
            src,
            dst,
            flow.proto,
            flow.resp_p,
            flow.service,
            flow.server_name if self._decide_by_server else None,
            flow.resp_h if self._decide_by_address else None,
        )
        decision = self._decisions.get(key)
        if decision is None:
            facts = FlowFacts(flow.proto, flow.resp_p, flow.service, flow.server_name, flow.resp_h)
            decision = self._decisions[key] = self.policy.decide(src, dst, facts)
        return decision

    def _policy_check(
        self, flow: ObservedFlow, orig: DeviceFacts | None, resp: DeviceFacts | None
    ) -> None:
        decision = self._decide(flow, orig, resp)
        if decision.allowed:
            return
        src = self._zones(orig, flow.site, flow.orig_h)
        dst = self._zones(resp, flow.site, flow.resp_h)
        rule = self.rules.findings["policy_violation"]
        detail = (
            f"{rule.title}: {flow.orig_h} ({src}) -> {flow.resp_h} ({dst}) "
            f"{flow.service or flow.proto}/{flow.resp_p}: {decision.reason}"
        )
        if orig is not None:
            self._record(
                rule.id, orig, flow.resp_h, rule.severity, flow, detail, "policy", (src, dst)
            )
        elif resp is not None:
            self._record(
                rule.id, resp, flow.orig_h, rule.severity, flow, detail, "policy", (dst, src)
            )

    def _scan_track(self, device: DeviceFacts, flow: ObservedFlow) -> None:
        bucket = int(flow.ts.timestamp()) // self._scan_window_s
        window = self._scans.get((device.id, bucket))
        if window is None:
            window = self._scans[(device.id, bucket)] = _ScanWindow(flow.ts)
        window.flows += 1
        window.first = min(window.first, flow.ts)
        window.last = max(window.last, flow.ts)
        window.ports_by_host.setdefault(flow.resp_h, set()).add(flow.resp_p)
        window.hosts_by_port.setdefault(flow.resp_p, set()).add(flow.resp_h)

    def _flowless(
        self,
        rule: FindingRule,
        device: DeviceFacts,
        detail: str,
        basis: str,
        when: tuple[datetime, datetime],
        peer: str | None = None,
        severity: str | None = None,
        extra: dict | None = None,
    ) -> None:
        """A finding not tied to one flow (the device's facts, a window of flows): the
        rule's id and severity, unless the severity is given."""
        self._record(
            rule.id,
            device,
            peer,
            severity or rule.severity,
            None,
            detail,
            basis,
            when=when,
            extra=extra,
        )

    def _record(
        self,
        finding: str,
        device: DeviceFacts,
        peer: str | None,
        severity: str,
        flow: ObservedFlow | None,
        detail: str,
        basis: str,
        zones: tuple[str, ...] = (),
        when: tuple[datetime, datetime] | None = None,
        extra: dict | None = None,
    ) -> Finding:
        key = (finding, device.id, peer or "")
        first, last = (
            when if when is not None else (flow.ts, flow.ts) if flow else (self.now, self.now)
        )
        found = self._findings.get(key)
        if found is None:
            found = self._findings[key] = Finding(
                finding=finding,
                device_id=device.id,
                severity=severity,
                first_seen=first,
                last_seen=last,
                detail=detail,
                peer=peer,
                count=0,
                community_id=flow.community_id if flow else None,
                zones=zones,
                evidence={"basis": basis, "examples": [], **(extra or {})},
            )
        found.count += 1
        if first < found.first_seen:
            found.first_seen = first
        if last > found.last_seen:
            found.last_seen = last
        if _rank(severity) > _rank(found.severity):
            found.severity, found.detail = severity, detail
        if flow is not None:
            if found.community_id is None:
                found.community_id = flow.community_id
            examples = found.evidence["examples"]
            if len(examples) < MAX_EXAMPLES:
                examples.append(_example(flow))
        return found

    # ------------------------------------------------------------------ device facts
    def finish(self) -> list[Finding]:
        """Add the device-level findings and the scans; every finding, sorted."""
        for (device_id, _bucket), window in self._scans.items():
            self._scan_finding(device_id, window)
        self._scans.clear()
        fingerprint_rules = [r for r in self.rules.findings.values() if r.get("fingerprints")]
        for device in self.devices:
            if device.fingerprints:
                for rule in fingerprint_rules:
                    self._fingerprint_finding(rule, device)
            self._new_device(device)
            self._identity(device)
            self._old_tls_ja4(device)
            self._vulnerabilities(device)
        return sorted(self._findings.values(), key=lambda f: (f.device_id, f.finding, f.peer or ""))

    def _device(self, device_id: str) -> DeviceFacts:
        return self._by_id[device_id]

    def _scan_finding(self, device_id: str, window: _ScanWindow) -> None:
        host, ports = max(window.ports_by_host.items(), key=lambda item: len(item[1]))
        port, hosts = max(window.hosts_by_port.items(), key=lambda item: len(item[1]))
        rule = self.rules.findings["port_scan"]
        device = self._device(device_id)
        if len(ports) >= self._scan_min_ports:
            detail = f"Port scan: {len(ports)} ports of {host} within {self._scan_window_s} s"
            self._flowless(
                rule,
                device,
                detail,
                "flows",
                (window.first, window.last),
                peer=host,
                extra={"ports": len(ports), "flows": window.flows},
            )
        elif len(hosts) >= self._scan_min_hosts:
            detail = (
                f"Address sweep: {len(hosts)} hosts on port {port} within {self._scan_window_s} s"
            )
            self._flowless(
                rule,
                device,
                detail,
                "flows",
                (window.first, window.last),
                extra={"hosts": len(hosts), "port": port, "flows": window.flows},
            )

    def _fingerprint_finding(self, rule: FindingRule, device: DeviceFacts) -> None:
        unless = set(rule.get("fingerprint_unless_tokens", []))
        for kind, wanted in rule.get("fingerprints", {}).items():
            for value in device.fingerprints.get(kind, ()):
                tokens = {token.strip() for token in value.value.split(",")}
                if tokens & set(wanted) and not tokens & unless:
                    detail = f"{rule.title}: {kind} = {value.value}"
                    self._flowless(
                        rule,
                        device,
                        detail,
                        "fingerprints",
                        (value.first_seen, value.last_seen),
                        extra={"kind": kind, "value": value.value},
                    )

    def _new_device(self, device: DeviceFacts) -> None:
        rule = self.rules.findings["new_device"]
        stored = device.created_at or device.first_seen
        if stored is None or stored < self.now - timedelta(
            seconds=int(rule.get("window_s", 86400))
        ):
            return
        detail = f"New device: {device.category}, first stored {stored.isoformat()}"
        self._flowless(rule, device, detail, "inventory", (stored, stored))

    def _identity(self, device: DeviceFacts) -> None:
        rule = self.rules.findings["identity_changed"]
        for kind in rule.get("single_value_kinds", []):
            values = sorted(device.fingerprints.get(kind, ()), key=lambda v: v.first_seen)
            if len(values) < 2:
                continue
            old, new = values[-2], values[-1]
            detail = f"{kind} changed from {old.value!r} to {new.value!r} on the same MAC"
            self._flowless(
                rule,
                device,
                detail,
                "fingerprints",
                (new.first_seen, new.last_seen),
                extra={"kind": kind, "before": old.value, "after": new.value},
            )
        evidence_beyond_oui = [k for k in device.evidence_kinds if k != "oui"]
        if device.oui_vendor and device.vendor and evidence_beyond_oui:
            aliases = rule.get("vendor_aliases", {})
            if not _same_company(device.oui_vendor, device.vendor, aliases):
                detail = (
                    f"MAC registered to {device.oui_vendor!r} but its fingerprints "
                    f"({', '.join(sorted(set(evidence_beyond_oui)))}) say {device.vendor!r}"
                )
                seen = device.first_seen or self.now
                self._flowless(
                    rule,
                    device,
                    detail,
                    "oui",
                    (seen, seen),
                    extra={"oui_vendor": device.oui_vendor, "vendor": device.vendor},
                )

    def _old_tls_ja4(self, device: DeviceFacts) -> None:
        rule = self.rules.findings["old_tls"]
        old = set(rule.get("ja4_versions", []))
        for value in device.fingerprints.get("tls_ja4", ()):
            version = value.value[1:3]
            if value.value[:1] in ("t", "q") and version in old:
                detail = f"Offers at most TLS {version} (JA4 {value.value.split('_')[0]})"
                self._flowless(rule, device, detail, "ja4", (value.first_seen, value.last_seen))

    def _vulnerabilities(self, device: DeviceFacts) -> None:
        if not self.advisories:
            return
        rule = self.rules.findings["known_vulnerability"]
        versions = []
        for kind in rule.get("version_kinds", []):
            for value in device.fingerprints.get(kind, ()):
                parsed = parse_version(value.value)
                if parsed is not None:
                    versions.append(parsed)
        vendors = [v for v in (device.vendor, device.oui_vendor) if v]
        seen = device.first_seen or self.now
        for advisory in self.advisories:
            if advisory.matches(vendors, device.model, versions):
                detail = f"{advisory.advisory_id}: {advisory.title or 'affected product'}"
                self._flowless(
                    rule,
                    device,
                    detail,
                    "advisory",
                    (seen, seen),
                    peer=advisory.advisory_id,
                    severity=advisory.severity,
                    extra={"advisory": advisory.advisory_id, "url": advisory.url},
                )


def _rank(severity: str) -> int:
    return ("low", "medium", "high", "critical").index(severity)


def _same_company(oui_vendor: str, vendor: str, aliases: dict) -> bool:
    def words(text: str) -> set[str]:
        return {
            w
            for w in "".join(c if c.isalnum() else " " for c in text.lower()).split()
            if len(w) >= 2
        }

    a, b = words(oui_vendor), words(vendor)
    ignore = {
        "inc",
        "ltd",
        "co",
        "corp",
        "corporation",
        "gmbh",
        "ag",
        "llc",
        "medical",
        "systems",
        "healthcare",
        "technologies",
        "the",
        "and",
        "of",
        "sa",
        "bv",
    }
    if (a - ignore) & (b - ignore):
        return True
    for name, others in aliases.items():
        group = {name, *others}
        if any(g in oui_vendor.lower() for g in group) and any(g in vendor.lower() for g in group):
            return True
    return False


def _example(flow: ObservedFlow) -> dict:
    return {
        "ts": iso_z(flow.ts),
        "orig": f"{flow.orig_h}:{flow.orig_p}",
        "resp": f"{flow.resp_h}:{flow.resp_p}",
        "proto": flow.proto,
        "service": flow.service,
        "community_id": flow.community_id,
    }
