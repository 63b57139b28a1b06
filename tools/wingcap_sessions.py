"""One builder per kind of session in the simulated wing (tools/wingcap_wing.py).

Each builder decides addresses and ports with the planner's random generator and
returns a `Session` whose steps (packets: time, flow, side, TCP flags, payload) its own
seeded generator produces.
"""

from __future__ import annotations

from collections.abc import Iterator
from random import Random

from tools import wingcap_payloads as pay
from tools.wingcap_truth import ACK, FIN, PSH, RST, SYN
from tools.wingcap_wing import (
    ARP,
    BROADCAST_MAC,
    DHCP_SERVER,
    DNS4,
    DNS6,
    FRAG_FIRST,
    FRAG_LATER,
    GATEWAY_MAC,
    HL7_ENGINE,
    ICMP4,
    ICMP6,
    LIS,
    MSS,
    NAMES,
    NTP_SERVER,
    PACS,
    PACS_ARCHIVE,
    SNI,
    SOP_CLASSES,
    SYSLOG,
    TCP,
    UDP,
    UDP_FIRST_FRAGMENT,
    VERIFICATION,
    VRRP,
    WEB4,
    WEB6,
    FlowSpec,
    Host,
    Session,
    Step,
    Wing,
    new_flow,
    tcp_bulk,
    tcp_close,
    tcp_exchange,
    tcp_handshake,
    v4,
)

# ---- session kinds: (wing, planner rng, start time) -> Session ----


def dicom_store(
    wing: Wing, rng: Random, start_us: int, segments: int, gap_us: int, close: bool = True
) -> Session:
    """A modality stores images at the PACS: association, P-DATA bulk, response, release, FIN.

    With `close` False the transfer is still running when the capture ends (no release).
    """
    modality = rng.choice(wing.modalities)
    port = rng.choice((104, 104, 11112))
    pacs = wing.server(PACS if port == 104 else PACS_ARCHIVE, modality)
    flows = [new_flow(TCP, modality, pacs, wing.ephemeral_port(modality), port, "dicom")]
    kind = rng.choice(list(SOP_CLASSES))
    total = segments * MSS - rng.randrange(MSS)

    def steps(r: Random) -> Iterator[Step]:
        rtt = r.randrange(200, 900)
        t = yield from tcp_handshake(0, start_us, rtt)
        request = pay.dicom_associate_rq(
            "PACS_MAIN", f"{kind}_4B_{modality.name}", SOP_CLASSES[kind]
        )
        accept = pay.dicom_associate_ac("PACS_MAIN", f"{kind}_4B_{modality.name}")
        t = yield from tcp_exchange(0, t + 500, rtt, request, accept)
        t = yield from tcp_bulk(0, t, 0, total, gap_us, pay.dicom_pdata_header(total))
        if not close:
            return
        response = pay.dicom_pdata_header(120) + bytes(114)
        yield (t + 3000, 0, 1, PSH | ACK, response)
        t = yield from tcp_exchange(
            0, t + 3500, rtt, pay.dicom_release(True), pay.dicom_release(False)
        )
        yield from tcp_close(0, t + 300, rtt)

    return Session("dicom_store", flows, steps, rng.getrandbits(64))


def dicom_echo(wing: Wing, rng: Random, start_us: int) -> Session:
    """C-ECHO (verification): association, echo request/response, release, FIN.

    One in five associations is rejected (A-ASSOCIATE-RJ), after which the PACS closes.
    """
    modality = rng.choice(wing.modalities)
    pacs = wing.server(PACS, modality)
    flows = [new_flow(TCP, modality, pacs, wing.ephemeral_port(modality), 104, "dicom")]
    rejected = rng.random() < 0.2

    def steps(r: Random) -> Iterator[Step]:
        rtt = r.randrange(200, 900)
        t = yield from tcp_handshake(0, start_us, rtt)
        request = pay.dicom_associate_rq("PACS_MAIN", f"ECHO_{modality.name}", VERIFICATION)
        if rejected:
            t = yield from tcp_exchange(0, t + 400, rtt, request, pay.dicom_associate_rj())
            yield from tcp_close(0, t + 200, rtt, closer=1)
            return
        t = yield from tcp_exchange(
            0, t + 400, rtt, request, pay.dicom_associate_ac("PACS_MAIN", "X")
        )
        t = yield from tcp_exchange(0, t + 300, rtt, pay.dicom_pdata_header(80) + bytes(74), 90)
        t = yield from tcp_exchange(
            0, t + 300, rtt, pay.dicom_release(True), pay.dicom_release(False)
        )
        yield from tcp_close(0, t + 200, rtt)

    return Session("dicom_echo", flows, steps, rng.getrandbits(64))


def hl7_short(wing: Wing, rng: Random, start_us: int) -> Session:
    """A device connects to the interface engine, sends 1-3 results, gets ACKs, closes.

    One in twelve finds the port closed: SYN answered by RST (REJ); one in twenty ends
    with the engine closing its side while the device never answers (S3, then idle).
    """
    device = rng.choice(wing.monitors + wing.pumps + [wing.lab])
    engine = wing.server(LIS if device is wing.lab else HL7_ENGINE, device)
    refused = rng.random() < 1 / 12
    service = None if refused else "hl7"
    flows = [new_flow(TCP, device, engine, wing.ephemeral_port(device), 2575, service)]
    half_closed = not refused and rng.random() < 0.05
    messages = rng.randint(1, 3)
    first_id = rng.randrange(10**7)

    def steps(r: Random) -> Iterator[Step]:
        rtt = r.randrange(300, 1500)
        if refused:
            yield (start_us, 0, 0, SYN, 0)
            yield (start_us + rtt, 0, 1, RST | ACK, 0)
            return
        t = yield from tcp_handshake(0, start_us, rtt)
        for n in range(messages):
            message = pay.hl7_oru(device.name.upper(), first_id + n, r.randint(1, 12))
            t = yield from tcp_exchange(
                0, t + r.randrange(200, 50_000), rtt * 3, message, pay.hl7_ack(first_id + n)
            )
            yield (t + 40, 0, 0, ACK, 0)
            t += 40
        if half_closed:
            yield (t + 1000, 0, 1, FIN | ACK, 0)
            return
        yield from tcp_close(0, t + 1000, rtt)

    return Session("hl7_short", flows, steps, rng.getrandbits(64))


def hl7_persistent(
    wing: Wing, rng: Random, start_us: int, end_us: int, mid_stream: bool
) -> Session:
    """A long-lived MLLP connection: a result every few seconds, each acknowledged.

    `mid_stream`: the connection predates the capture, so its first packet is data.
    It never closes before the capture ends.
    """
    device = wing.lab if not mid_stream else rng.choice(wing.monitors)
    engine = wing.server(LIS if device is wing.lab else HL7_ENGINE, device)
    flows = [new_flow(TCP, device, engine, wing.ephemeral_port(device), 2575, "hl7")]
    first_id = rng.randrange(10**7)

    def steps(r: Random) -> Iterator[Step]:
        rtt = r.randrange(300, 1500)
        t = start_us
        if not mid_stream:
            t = yield from tcp_handshake(0, start_us, rtt)
        n = 0
        while True:
            message = pay.hl7_oru(device.name.upper(), first_id + n, r.randint(2, 20))
            if t + 2 * rtt + 100 > end_us:
                return
            t = yield from tcp_exchange(0, t, rtt, message, pay.hl7_ack(first_id + n))
            yield (t + 40, 0, 0, ACK, 0)
            t += r.randrange(1_000_000, 8_000_000)
            n += 1

    return Session("hl7_persistent", flows, steps, rng.getrandbits(64))


def tls(wing: Wing, rng: Random, start_us: int, ipv6: bool) -> Session:
    """A workstation or device talks HTTPS: handshake, a few requests, then one ending.

    Endings: FIN both ways (most), client RST, server RST, left open (idle expiry), or
    the client's FIN acknowledged but never answered with the server's (S2, idle).
    """
    if ipv6:
        client = rng.choice(wing.workstations6)
        server = wing.server(rng.choice(WEB6), client)
    else:
        client = rng.choice(wing.workstations + wing.pumps + wing.monitors)
        server = wing.server(rng.choice(WEB4), client)
    flows = [new_flow(TCP, client, server, wing.ephemeral_port(client), 443, "ssl")]
    endings = ("fin", "client_rst", "server_rst", "open", "client_half_close")
    ending = rng.choices(endings, (68, 12, 8, 9, 3))[0]
    sni = rng.choice(SNI)
    requests = rng.randint(1, 5)

    def steps(r: Random) -> Iterator[Step]:
        rtt = r.randrange(300, 2000) if server.addr in (WEB4[0],) else r.randrange(8000, 40000)
        t = yield from tcp_handshake(0, start_us, rtt)
        t += 200
        yield (t, 0, 0, PSH | ACK, pay.tls_client_hello(sni, 517))
        t += rtt
        yield (t, 0, 1, ACK, pay.tls_record_header(22, 2890) + bytes(MSS - 5))
        yield (t + 30, 0, 1, PSH | ACK, 2895 - MSS)
        yield (t + 60, 0, 0, ACK, 0)
        t = yield from tcp_exchange(0, t + 900, rtt, 80, 283)
        for _ in range(requests):
            t += r.randrange(500, 400_000)
            yield (
                t,
                0,
                0,
                PSH | ACK,
                pay.tls_record_header(23, 400) + bytes(r.randrange(100, 900)),
            )
            t = yield from tcp_bulk(0, t + rtt, 1, r.randrange(200, 12_000), 60)
        t += r.randrange(1000, 2_000_000)
        if ending == "fin":
            yield from tcp_close(0, t, rtt)
        elif ending == "client_rst":
            yield (t, 0, 0, RST | ACK, 0)
        elif ending == "server_rst":
            yield (t, 0, 1, RST | ACK, 0)
        elif ending == "client_half_close":
            yield (t, 0, 0, FIN | ACK, 0)
            yield (t + rtt, 0, 1, ACK, 0)

    return Session(f"tls{'6' if ipv6 else ''}", flows, steps, rng.getrandbits(64))


def dns(wing: Wing, rng: Random, start_us: int, ipv6: bool) -> Session:
    """One lookup: query, and (mostly) an answer or NXDOMAIN; 1 in 20 goes unanswered."""
    if ipv6:
        client = rng.choice(wing.workstations6)
        resolver = wing.server(DNS6, client)
    else:
        client = rng.choice(wing.workstations + wing.pumps + wing.monitors + wing.modalities)
        resolver = wing.server(DNS4, client)
    flows = [new_flow(UDP, client, resolver, wing.ephemeral_port(client), 53, "dns")]
    name = rng.choice(NAMES)
    qtype = 28 if ipv6 else 1
    outcome = rng.choices(("answer", "nxdomain", "lost"), (90, 5, 5))[0]
    query_id = rng.getrandbits(16)

    def steps(r: Random) -> Iterator[Step]:
        yield (start_us, 0, 0, 0, pay.dns_query(query_id, name, qtype))
        if outcome == "lost":
            return
        answer = None if outcome == "nxdomain" else (bytes(16) if ipv6 else bytes(4))
        yield (
            start_us + r.randrange(300, 20_000),
            0,
            1,
            0,
            pay.dns_response(query_id, name, qtype, answer),
        )

    return Session(f"dns{'6' if ipv6 else ''}", flows, steps, rng.getrandbits(64))


def dns_large(wing: Wing, rng: Random, start_us: int) -> Session:
    """A DNSKEY lookup whose answer (over 1500 bytes) comes back as two IPv4 fragments."""
    client = rng.choice(wing.workstations + wing.modalities)
    resolver = wing.server(DNS4, client)
    flows = [new_flow(UDP, client, resolver, wing.ephemeral_port(client), 53, "dns")]
    query_id = rng.getrandbits(16)
    answer_len = rng.randrange(1800, 2900)

    def steps(r: Random) -> Iterator[Step]:
        yield (start_us, 0, 0, 0, pay.dns_query(query_id, "stmary.local", 48))
        head = pay.dns_response(query_id, "stmary.local", 48, bytes(answer_len - 40))
        t = start_us + r.randrange(500, 30_000)
        yield (t, 0, 1, FRAG_FIRST | (8 + len(head)) << 16, head[:UDP_FIRST_FRAGMENT])
        yield (t + 15, 0, 1, FRAG_LATER, len(head) - UDP_FIRST_FRAGMENT)

    return Session("dns_large", flows, steps, rng.getrandbits(64))


def ntp_poll(wing: Wing, rng: Random, start_us: int, client: Host, client_port: int) -> Session:
    """One NTP poll (client 123 -> server 123 for the devices that do it that way)."""
    flows = [new_flow(UDP, client, wing.server(NTP_SERVER, client), client_port, 123)]
    stamp = rng.getrandbits(64)

    def steps(r: Random) -> Iterator[Step]:
        yield (start_us, 0, 0, 0, pay.ntp_message(False, stamp))
        yield (start_us + r.randrange(300, 3000), 0, 1, 0, pay.ntp_message(True, stamp))

    return Session("ntp", flows, steps, rng.getrandbits(64))


def dhcp_renew(wing: Wing, rng: Random, start_us: int) -> Session:
    """A device renews its lease: unicast REQUEST to the server, ACK back."""
    device = rng.choice(wing.pumps + wing.monitors)
    flows = [new_flow(UDP, device, wing.server(DHCP_SERVER, device), 68, 67, "dhcp")]
    xid = rng.getrandbits(32)

    def steps(r: Random) -> Iterator[Step]:
        request = pay.dhcp_message(
            pay.DHCP_REQUEST,
            xid,
            device.mac,
            device.addr,
            bytes(4),
            device.name,
            "PumpVendor-IV-3.2",
        )
        yield (start_us, 0, 0, 0, request)
        ack = pay.dhcp_message(pay.DHCP_ACK, xid, device.mac, device.addr, device.addr, "", "")
        yield (start_us + r.randrange(1000, 20_000), 0, 1, 0, ack)

    return Session("dhcp_renew", flows, steps, rng.getrandbits(64))


def dhcp_discover(wing: Wing, rng: Random, start_us: int) -> Session:
    """A device joins: broadcast DISCOVER/REQUEST, the relay's broadcast OFFER/ACK (2 flows)."""
    device = rng.choice(wing.pumps + wing.monitors)
    vid = device.vlans[-1]
    relay = Host("gw", GATEWAY_MAC[vid], v4(f"10.4.{vid}.1"), device.vlans)
    anyone = Host("any", BROADCAST_MAC, v4("0.0.0.0"), device.vlans)
    everyone = Host("all", BROADCAST_MAC, v4("255.255.255.255"), device.vlans)
    flows = [
        new_flow(
            UDP, Host(device.name, device.mac, anyone.addr, device.vlans), everyone, 68, 67, "dhcp"
        ),
        new_flow(UDP, relay, everyone, 67, 68, "dhcp"),
    ]
    xid = rng.getrandbits(32)

    def steps(r: Random) -> Iterator[Step]:
        vendor = "PumpVendor-IV-3.2"
        t = start_us
        for client_type, server_type in (
            (pay.DHCP_DISCOVER, pay.DHCP_OFFER),
            (pay.DHCP_REQUEST, pay.DHCP_ACK),
        ):
            yield (
                t,
                0,
                0,
                0,
                pay.dhcp_message(
                    client_type, xid, device.mac, bytes(4), bytes(4), device.name, vendor
                ),
            )
            t += r.randrange(2000, 30_000)
            yield (
                t,
                1,
                0,
                0,
                pay.dhcp_message(server_type, xid, device.mac, bytes(4), device.addr, "", ""),
            )
            t += r.randrange(100_000, 1_000_000)

    return Session("dhcp_discover", flows, steps, rng.getrandbits(64))


def ping(
    wing: Wing,
    rng: Random,
    start_us: int,
    count: int,
    gap_us: int,
    pair: tuple[Host, Host] | None = None,
) -> Session:
    """Echo request/reply pairs (ICMP or ICMPv6) between two hosts."""
    if pair is None:
        if rng.random() < 0.3:
            a = rng.choice(wing.workstations6)
            pair = (a, wing.server(rng.choice([*WEB6, DNS6]), a))
        else:
            a = rng.choice(wing.workstations)
            pair = (a, wing.server(rng.choice([PACS, HL7_ENGINE, *WEB4]), a))
    a, b = pair
    v6 = len(a.addr) == 16
    request, reply = (128, 129) if v6 else (8, 0)
    flow = new_flow(ICMP6 if v6 else ICMP4, a, b, request, reply)
    flow.icmp = ((request, 0), (reply, 0))

    def steps(r: Random) -> Iterator[Step]:
        for n in range(count):
            t = start_us + n * gap_us
            yield (t, 0, 0, 0, 56)
            yield (t + r.randrange(200, 3000), 0, 1, 0, 56)

    return Session("ping6" if v6 else "ping", [flow], steps, rng.getrandbits(64))


def port_scan(wing: Wing, rng: Random, start_us: int) -> Session:
    """An unknown laptop SYN-scans a device: closed ports answer RST (REJ), filtered ones
    stay silent (S0, one retransmission), open ones answer SYN-ACK and get a RST (RSTO);
    a few probes the scanner abandons with its own RST (RSTOS0)."""
    target = rng.choice(wing.modalities + wing.pumps + wing.monitors)
    target = Host(target.name, GATEWAY_MAC[30], target.addr, wing.scanner.vlans)
    ports = rng.sample(range(1, 10_000), rng.randint(10, 60))
    sport = rng.randrange(40000, 60000)
    flows = [new_flow(TCP, wing.scanner, target, sport, port) for port in ports]
    outcomes = ("closed", "filtered", "open", "abandoned")
    answers = [rng.choices(outcomes, (58, 27, 10, 5))[0] for _ in ports]

    def steps(r: Random) -> Iterator[Step]:
        pending: list[Step] = []
        for f, answer in enumerate(answers):
            t = start_us + f * r.randrange(500, 3000)
            pending.append((t, f, 0, SYN, 0))
            if answer == "closed":
                pending.append((t + 300, f, 1, RST | ACK, 0))
            elif answer == "filtered":
                pending.append((t + 1_000_000, f, 0, SYN, 0))
            elif answer == "abandoned":  # the scanner gives up and resets: RSTOS0
                pending.append((t + 200_000, f, 0, RST, 0))
            else:
                pending.append((t + 300, f, 1, SYN | ACK, 0))
                pending.append((t + 350, f, 0, RST, 0))
        yield from sorted(pending)

    return Session("port_scan", flows, steps, rng.getrandbits(64))


def syslog_unreachable(wing: Wing, rng: Random, start_us: int) -> Session:
    """A pump logs to a dead collector: UDP 514 out, ICMP port unreachable back (2 flows)."""
    pump = rng.choice(wing.pumps)
    collector = wing.server(SYSLOG, pump)
    sport = wing.ephemeral_port(pump)
    message = f"<134>1 2026-03-02T08:00:00Z {pump.name} infusion - - - rate changed".encode()
    unreachable = new_flow(ICMP4, collector, pump, 3, 3)
    unreachable.icmp = ((3, 3), (3, 3))
    flows = [new_flow(UDP, pump, collector, sport, 514), unreachable]

    def steps(r: Random) -> Iterator[Step]:
        yield (start_us, 0, 0, 0, message)
        # The quoted datagram: its IP header (20) and UDP header (8) and the message.
        yield (start_us + r.randrange(200, 2000), 1, 0, 0, 28 + len(message))

    return Session("syslog_unreachable", flows, steps, rng.getrandbits(64))


def arp(wing: Wing, rng: Random, start_us: int) -> Session:
    """Who-has for the gateway, and its reply: two non-IP frames."""
    host = rng.choice(wing.pumps + wing.monitors + wing.workstations)
    vid = host.vlans[-1]
    gateway = Host("gw", GATEWAY_MAC[vid], v4(f"10.4.{vid}.1"), host.vlans)
    flows = [FlowSpec(ARP, (host.addr, gateway.addr), (0, 0), (host.mac, gateway.mac), host.vlans)]

    def steps(r: Random) -> Iterator[Step]:
        yield (start_us, 0, 0, 0, 28)
        yield (start_us + r.randrange(100, 2000), 0, 1, 0, 28)

    return Session("arp", flows, steps, rng.getrandbits(64))


def vrrp(rng: Random, vid: int, first_us: int, interval_us: int, end_us: int) -> Session:
    """The VLAN's gateway advertising itself every `interval_us` (IP protocol 112)."""
    gateway = Host("gw", GATEWAY_MAC[vid], v4(f"10.4.{vid}.1"), (vid,) if vid else ())
    group = Host("vrrp", b"\x01\x00\x5e\x00\x00\x12", v4("224.0.0.18"), gateway.vlans)
    flows = [new_flow(VRRP, gateway, group, 0, 0)]
    advert = pay.vrrp_advert(vid, v4(f"10.4.{vid}.1"))

    def steps(r: Random) -> Iterator[Step]:
        for t in range(first_us, end_us + 1, interval_us):
            yield (t, 0, 0, 0, advert)

    return Session("vrrp", flows, steps, rng.getrandbits(64))


def syn_ack_first(wing: Wing, rng: Random, start_us: int) -> Session:
    """The capture starts between a SYN and its SYN-ACK: the engine flips the originator."""
    client = rng.choice(wing.workstations)
    server = wing.server(WEB4[0], client)
    flows = [new_flow(TCP, server, client, 443, wing.ephemeral_port(client), "ssl")]

    def steps(r: Random) -> Iterator[Step]:
        t = start_us
        yield (t, 0, 0, SYN | ACK, 0)
        yield (t + 50, 0, 1, ACK, 0)
        yield (t + 300, 0, 1, PSH | ACK, pay.tls_client_hello(SNI[0], 517))
        yield (t + 900, 0, 0, PSH | ACK, 1400)
        yield (t + 950, 0, 1, ACK, 0)
        yield (t + 5000, 0, 1, FIN | ACK, 0)
        yield (t + 5400, 0, 0, FIN | ACK, 0)
        yield (t + 5450, 0, 1, ACK, 0)

    return Session("syn_ack_first", flows, steps, rng.getrandbits(64))


def mid_stream_reset(wing: Wing, rng: Random, start_us: int) -> Session:
    """A connection older than the capture, which the server then resets (RSTRH)."""
    client = rng.choice(wing.workstations)
    server = wing.server(WEB4[0], client)
    flows = [new_flow(TCP, client, server, wing.ephemeral_port(client), 443)]

    def steps(r: Random) -> Iterator[Step]:
        t = start_us
        yield (t, 0, 0, PSH | ACK, pay.tls_record_header(23, 300) + bytes(300))
        yield (t + 20_000, 0, 1, PSH | ACK, 900)
        yield (t + 20_100, 0, 0, ACK, 0)
        yield (t + 1_500_000, 0, 1, RST | ACK, 0)

    return Session("mid_stream_reset", flows, steps, rng.getrandbits(64))
