"""Capture builders for the device extractors: medical and discovery protocols, byte by byte.

Frames are built with struct (every length under the test's control, so lying lengths,
short PDUs and cut segments are as easy as good ones) and written with
tests.support.pcapgen.write_pcap. Payload builders follow the public specs:
DICOM PS3.8 9.3, HL7 v2 / MLLP, RFC 2131/2132 (DHCP), RFC 8415 (DHCPv6), IEEE 802.1AB
(LLDP), CDP, RFC 6762/6763 (mDNS), UPnP SSDP, RFC 8446 (TLS ClientHello), POCT1-A.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.pcapgen import T0_US, Frame, write_pcap

ROUTER_MAC = "00:00:5e:00:01:01"


def mac_bytes(mac: str) -> bytes:
    return bytes.fromhex(mac.replace(":", ""))


# ---------------------------------------------------------------- link, IP, transport


def ether(src_mac: str, dst_mac: str, ethertype: int, payload: bytes, vlan: int | None = None):
    head = mac_bytes(dst_mac) + mac_bytes(src_mac)
    if vlan is not None:
        head += struct.pack(">HH", 0x8100, vlan)
    return head + struct.pack(">H", ethertype) + payload


def ipv4(src: str, dst: str, proto: int, l4: bytes, ident: int = 1) -> bytes:
    header = struct.pack(
        ">BBHHHBBH4s4s",
        0x45,
        0,
        20 + len(l4),
        ident,
        0,
        64,
        proto,
        0,
        ipaddress.IPv4Address(src).packed,
        ipaddress.IPv4Address(dst).packed,
    )
    return header + l4


def ipv6(src: str, dst: str, proto: int, l4: bytes) -> bytes:
    return (
        struct.pack(">IHBB", 6 << 28, len(l4), proto, 64)
        + ipaddress.IPv6Address(src).packed
        + ipaddress.IPv6Address(dst).packed
        + l4
    )


def tcp(sport: int, dport: int, flags: int, payload: bytes = b"", seq: int = 1) -> bytes:
    return struct.pack(">HHIIBBHHH", sport, dport, seq, 1, 5 << 4, flags, 65535, 0, 0) + payload


def udp(sport: int, dport: int, payload: bytes) -> bytes:
    return struct.pack(">HHHH", sport, dport, 8 + len(payload), 0) + payload


SYN, ACK, PSH_ACK, FIN_ACK, SYN_ACK = 0x02, 0x10, 0x18, 0x11, 0x12


@dataclass
class Host:
    mac: str
    ip: str


@dataclass
class CaptureBuilder:
    """Frames one after the other, 10 ms apart; write() makes the pcap file."""

    frames: list[Frame] = field(default_factory=list)
    clock_us: int = T0_US

    def add(self, data: bytes, caplen: int | None = None) -> None:
        self.clock_us += 10_000
        captured = data if caplen is None else data[:caplen]
        self.frames.append(Frame(self.clock_us, captured, len(data)))

    def udp(self, src: Host, dst: Host, sport: int, dport: int, payload: bytes, **kw) -> None:
        proto_ip = ipv6 if ":" in src.ip else ipv4
        packet = proto_ip(src.ip, dst.ip, 17, udp(sport, dport, payload))
        self.add(ether(src.mac, dst.mac, 0x86DD if ":" in src.ip else 0x0800, packet), **kw)

    def tcp_packet(
        self,
        src: Host,
        dst: Host,
        sport: int,
        dport: int,
        flags: int,
        payload: bytes = b"",
        caplen: int | None = None,
        vlan: int | None = None,
    ) -> None:
        packet = ipv4(src.ip, dst.ip, 6, tcp(sport, dport, flags, payload))
        self.add(ether(src.mac, dst.mac, 0x0800, packet, vlan), caplen)

    def tcp_session(
        self,
        client: Host,
        server: Host,
        cport: int,
        sport: int,
        exchanges: Sequence[tuple[str, bytes]],
        vlan: int | None = None,
    ) -> None:
        """Handshake, then each ("c"|"s", payload) in order, then FIN both ways."""
        self.tcp_packet(client, server, cport, sport, SYN, vlan=vlan)
        self.tcp_packet(server, client, sport, cport, SYN_ACK, vlan=vlan)
        self.tcp_packet(client, server, cport, sport, ACK, vlan=vlan)
        for side, payload in exchanges:
            if side == "c":
                self.tcp_packet(client, server, cport, sport, PSH_ACK, payload, vlan=vlan)
            else:
                self.tcp_packet(server, client, sport, cport, PSH_ACK, payload, vlan=vlan)
        self.tcp_packet(client, server, cport, sport, FIN_ACK, vlan=vlan)
        self.tcp_packet(server, client, sport, cport, FIN_ACK, vlan=vlan)

    def write(self, path: Path) -> Path:
        return write_pcap(path, self.frames)


# ---------------------------------------------------------------- DHCP


def dhcp(
    op: int,
    mac: str,
    options: Iterable[tuple[int, bytes]],
    yiaddr: str = "0.0.0.0",
    end: bool = True,
) -> bytes:
    fixed = struct.pack(
        ">BBBBIHH4s4s4s4s16s64s128s",
        op,
        1,
        6,
        0,
        0x1234,
        0,
        0,
        bytes(4),
        ipaddress.IPv4Address(yiaddr).packed,
        bytes(4),
        bytes(4),
        mac_bytes(mac) + bytes(10),
        bytes(64),
        bytes(128),
    )
    body = b"".join(struct.pack(">BB", code, len(value)) + value for code, value in options)
    return fixed + b"\x63\x82\x53\x63" + body + (b"\xff" if end else b"")


def dhcp_discover(mac: str, hostname: bytes, vendor: bytes, params: bytes, client_id: bytes):
    return dhcp(
        1, mac, [(53, b"\x01"), (61, client_id), (12, hostname), (60, vendor), (55, params)]
    )


def dhcp_ack(mac: str, yiaddr: str) -> bytes:
    return dhcp(2, mac, [(53, b"\x05"), (54, bytes([10, 0, 0, 1]))], yiaddr=yiaddr)


def dhcpv6_solicit(enterprise: int, vendor: bytes) -> bytes:
    item = struct.pack(">H", len(vendor)) + vendor
    option = struct.pack(">HHI", 16, 4 + len(item), enterprise) + item
    return b"\x01\x00\x00\x01" + option


# ---------------------------------------------------------------- LLDP, CDP


def lldp_frame(src_mac: str, name: bytes, description: bytes) -> bytes:
    def tlv(t: int, v: bytes) -> bytes:
        return struct.pack(">H", (t << 9) | len(v)) + v

    body = (
        tlv(1, b"\x04" + mac_bytes(src_mac))
        + tlv(2, b"\x03" + mac_bytes(src_mac))
        + tlv(3, b"\x00\x78")
        + tlv(5, name)
        + tlv(6, description)
        + tlv(0, b"")
    )
    return ether(src_mac, "01:80:c2:00:00:0e", 0x88CC, body)


def cdp_frame(src_mac: str, device_id: bytes, version: bytes, platform: bytes) -> bytes:
    def tlv(t: int, v: bytes) -> bytes:
        return struct.pack(">HH", t, 4 + len(v)) + v

    body = b"\x02\xb4\x00\x00" + tlv(1, device_id) + tlv(5, version) + tlv(6, platform)
    llc = b"\xaa\xaa\x03\x00\x00\x0c\x20\x00" + body
    return mac_bytes("01:00:0c:cc:cc:cc") + mac_bytes(src_mac) + struct.pack(">H", len(llc)) + llc


def arp_reply(mac: str, ip: str, target_mac: str, target_ip: str) -> bytes:
    body = struct.pack(
        ">HHBBH6s4s6s4s",
        1,
        0x0800,
        6,
        4,
        2,
        mac_bytes(mac),
        ipaddress.IPv4Address(ip).packed,
        mac_bytes(target_mac),
        ipaddress.IPv4Address(target_ip).packed,
    )
    return ether(mac, target_mac, 0x0806, body)


# ---------------------------------------------------------------- mDNS, SSDP, HTTP


def dns_name(name: str) -> bytes:
    return b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\x00"


def mdns_announcement(instance: str, service: str) -> bytes:
    """A response: PTR service -> instance (the instance name carries a person's name)."""
    target = dns_name(f"{instance}.{service}")
    answer = dns_name(service) + struct.pack(">HHIH", 12, 1, 120, len(target)) + target
    return struct.pack(">HHHHHH", 0, 0x8400, 0, 1, 0, 0) + answer


def ssdp_notify(server: bytes) -> bytes:
    return (
        b"NOTIFY * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nNT: upnp:rootdevice\r\n"
        b"SERVER: " + server + b"\r\nNTS: ssdp:alive\r\n\r\n"
    )


def http_request(user_agent: bytes, body: bytes = b"") -> bytes:
    return (
        b"POST /api/results HTTP/1.1\r\nHost: lis.example\r\nUser-Agent: "
        + user_agent
        + b"\r\nContent-Length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body
    )


# ---------------------------------------------------------------- TLS


def tls_client_hello(
    sni: str | None, alpn: Sequence[bytes] = (b"h2", b"http/1.1"), grease: bool = True
) -> bytes:
    """A TLS 1.3 ClientHello (record + handshake) with GREASE values sprinkled in."""
    ciphers = ([0x0A0A] if grease else []) + [0x1301, 0x1302, 0x1303, 0xC02B, 0xC02F]
    exts: list[tuple[int, bytes]] = []
    if grease:
        exts.append((0x1A1A, b""))
    if sni is not None:
        name = sni.encode()
        exts.append((0x0000, struct.pack(">HBH", len(name) + 3, 0, len(name)) + name))
    if alpn:
        protos = b"".join(bytes([len(p)]) + p for p in alpn)
        exts.append((0x0010, struct.pack(">H", len(protos)) + protos))
    exts.append((0x000A, struct.pack(">HHH", 4, 0x001D, 0x0017)))
    exts.append((0x000D, struct.pack(">HHHH", 6, 0x0403, 0x0804, 0x0401)))
    versions = ([0x2A2A] if grease else []) + [0x0304, 0x0303]
    exts.append(
        (0x002B, bytes([2 * len(versions)]) + b"".join(struct.pack(">H", v) for v in versions))
    )
    ext_bytes = b"".join(struct.pack(">HH", t, len(v)) + v for t, v in exts)
    body = (
        struct.pack(">H", 0x0303)
        + bytes(32)
        + b"\x00"
        + struct.pack(">H", 2 * len(ciphers))
        + b"".join(struct.pack(">H", c) for c in ciphers)
        + b"\x01\x00"
        + struct.pack(">H", len(ext_bytes))
        + ext_bytes
    )
    handshake = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + struct.pack(">H", len(handshake)) + handshake


# ---------------------------------------------------------------- DICOM


def _item(item_type: int, value: bytes) -> bytes:
    return struct.pack(">BBH", item_type, 0, len(value)) + value


def _ae(title: str) -> bytes:
    return title.encode().ljust(16, b" ")


def dicom_associate(
    pdu_type: int,
    called: str,
    calling: str,
    abstract_syntaxes: Sequence[str] = (),
    impl_uid: str = "1.2.826.0.1.3680043.2.1143",
    impl_version: str = "MODALITY_1.0",
    user_identity: bytes | None = None,
    length_delta: int = 0,
) -> bytes:
    """A-ASSOCIATE-RQ (1) or -AC (2); length_delta makes the PDU length lie."""
    items = _item(0x10, b"1.2.840.10008.3.1.1.1")
    for i, uid in enumerate(abstract_syntaxes):
        ctx_type = 0x20 if pdu_type == 1 else 0x21
        sub = (_item(0x30, uid.encode()) if pdu_type == 1 else b"") + _item(
            0x40, b"1.2.840.10008.1.2"
        )
        items += _item(ctx_type, bytes([2 * i + 1, 0, 0, 0]) + sub)
    user = _item(0x51, struct.pack(">I", 16384)) + _item(0x52, impl_uid.encode())
    user += _item(0x55, impl_version.encode())
    if user_identity is not None:
        user += _item(
            0x58, b"\x02\x00" + struct.pack(">H", len(user_identity)) + user_identity + b"\x00\x00"
        )
    items += _item(0x50, user)
    body = struct.pack(">HH", 1, 0) + _ae(called) + _ae(calling) + bytes(32) + items
    return struct.pack(">BBI", pdu_type, 0, len(body) + length_delta) + body


def dicom_lookalike(called: bytes, calling: bytes, items: bytes = b"") -> bytes:
    """Bytes shaped like an A-ASSOCIATE-RQ (PDU length 68 + items) whose AE-title slots
    carry whatever is given: what a stranger's (or a patient record's) segment met
    mid-stream can look like. No application context item unless `items` brings one."""
    fixed = struct.pack(">HH16s16s32s", 1, 0, called.ljust(16), calling.ljust(16), bytes(32))
    return struct.pack(">BBI", 1, 0, len(fixed) + len(items)) + fixed + items


def dicom_pdata(data: bytes) -> bytes:
    """P-DATA-TF with one presentation data value (patient data lives here)."""
    pdv = struct.pack(">IBB", len(data) + 2, 1, 0x02) + data
    return struct.pack(">BBI", 4, 0, len(pdv)) + pdv


def dicom_reject(result: int = 1) -> bytes:
    return struct.pack(">BBIBBBB", 3, 0, 4, 0, result, 1, 1)


def dicom_release_rq() -> bytes:
    return struct.pack(">BBII", 5, 0, 4, 0)


# ---------------------------------------------------------------- HL7 / MLLP


def mllp(message: bytes) -> bytes:
    return b"\x0b" + message + b"\x1c\x0d"


def hl7_message(
    sending_app: str = "MONITOR7",
    sending_facility: str = "WARD4B",
    message_type: str = "ORU^R01^ORU_R01",
    control_id: str = "MSGCTRL0001",
    timestamp: str = "20261129151500",
    segments: Sequence[str] = (),
    version: str = "2.5.1",
) -> bytes:
    msh = (
        f"MSH|^~\\&|{sending_app}|{sending_facility}|EHR|STMARY|{timestamp}||"
        f"{message_type}|{control_id}|P|{version}"
    )
    return "\r".join([msh, *segments]).encode() + b"\r"


def prt_segment(fields: dict[int, str]) -> str:
    """A PRT segment with PRT-n = fields[n] (empty otherwise), up to PRT-22."""
    return "PRT|" + "|".join(fields.get(i, "") for i in range(1, 23))


# ---------------------------------------------------------------- SIP, RTSP


def sip_register(user_agent: bytes, extension: str, caller: str = "Nurse Jones") -> bytes:
    """A REGISTER from a phone: its User-Agent, and a person's name and extension in
    From/To/Contact (never read)."""
    return (
        (
            f"REGISTER sip:pbx.stmary.example SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 10.4.2.60:5060;branch=z9hG4bK776\r\n"
            f'From: "{caller}" <sip:{extension}@pbx.stmary.example>;tag=1\r\n'
            f"To: <sip:{extension}@pbx.stmary.example>\r\n"
            f"Call-ID: 8842@10.4.2.60\r\nCSeq: 1 REGISTER\r\n"
            f"Contact: <sip:{extension}@10.4.2.60>\r\n"
        ).encode()
        + b"User-Agent: "
        + user_agent
        + b"\r\nContent-Length: 0\r\n\r\n"
    )


def sip_response(server: bytes) -> bytes:
    return b"SIP/2.0 200 OK\r\nCSeq: 1 REGISTER\r\nServer: " + server + b"\r\n\r\n"


def rtsp_options(user_agent: bytes, stream: str) -> bytes:
    """A camera client's first request: the stream path (a room's name) is never read."""
    return (
        f"OPTIONS rtsp://10.4.9.20:554/{stream} RTSP/1.0\r\nCSeq: 1\r\n".encode()
        + b"User-Agent: "
        + user_agent
        + b"\r\n\r\n"
    )


def rtsp_response(server: bytes) -> bytes:
    return b"RTSP/1.0 200 OK\r\nCSeq: 1\r\nServer: " + server + b"\r\nPublic: OPTIONS\r\n\r\n"


# ---------------------------------------------------------------- POCT1-A, IntelliVue


def poct1_hello(vendor: str, model: str, version: str, serial: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?><HEL.R01><HDR><HDR.message_type V="HEL.R01"/>'
        '<HDR.control_id V="1"/><HDR.version_id V="POCT1"/></HDR><DEV>'
        f'<DEV.device_id V="{serial}"/><DEV.vendor_id V="{vendor}"/>'
        f'<DEV.model_id V="{model}"/><DEV.serial_id V="{serial}"/>'
        f'<DEV.sw_version V="{version}"/></DEV></HEL.R01>'
    ).encode()


def intellivue_connect_indication() -> bytes:
    """Session header 0xE100, length, then a ROSE invoke (ro_type 1) event report."""
    rose = struct.pack(">HH", 1, 20) + struct.pack(">HHH", 0, 0, 14) + bytes(14)
    return struct.pack(">HH", 0xE100, len(rose)) + rose


def _variable_label(text: bytes) -> bytes:
    padded = text + b"\x00" * (len(text) % 2)  # IntelliVue strings are padded to even length
    return struct.pack(">H", len(padded)) + padded


def intellivue_mds_create(
    model: bytes = b"M8007A",
    manufacturer: bytes = b"Philips",
    bed_label: bytes = b"ICU 4",
    serial: bytes = b"DE12345678",
) -> bytes:
    """A monitor's MDS Create event report (after its association, UDP 24105): bed label
    (NOM_ATTR_ID_BED_LABEL), model (NOM_ATTR_ID_MODEL: manufacturer, model number), a
    production specification carrying the serial (NOM_ATTR_ID_PROD_SPECN)."""
    attrs = [
        (0x0927, _variable_label(bed_label)),
        (0x0928, _variable_label(manufacturer) + _variable_label(model)),
        (0x092D, struct.pack(">HH", 1, 4 + len(serial)) + struct.pack(">HH", 1, 0) + serial),
    ]
    body = b"".join(struct.pack(">HH", aid, len(v)) + v for aid, v in attrs)
    create = struct.pack(">HHH", 33, 0, 0) + struct.pack(">HH", len(attrs), len(body)) + body
    event = struct.pack(">HHHIHH", 33, 0, 0, 0, 0x0D06, len(create)) + create
    command = struct.pack(">HHH", 1, 1, len(event)) + event
    rose = struct.pack(">HH", 1, len(command)) + command
    return struct.pack(">HH", 0xE100, 2) + rose


# ---------------------------------------------------------------- fuzz seeds


_SEED_PRT = {4: "EQUIP", 5: "DOE^JOHN", 10: "MX800", 16: "(01)00884521164321(21)S1", 22: "1^x^MDC"}


def write_seed_captures(out_dir: Path) -> list[Path]:
    """One small capture per protocol, good and broken, for the fuzzer's seed corpus
    (tools/sanitize.sh turns them into seeds with native/fuzz/make_seeds.py)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    a, b = Host("00:1a:5c:00:00:38", "10.4.2.38"), Host("00:50:56:00:00:42", "10.9.0.42")
    anyone = Host("ff:ff:ff:ff:ff:ff", "255.255.255.255")
    rq = dicom_associate(1, "PACS", "CT_4B", ["1.2.840.10008.5.1.4.1.1.2"], user_identity=b"u")
    hl7 = mllp(hl7_message(segments=["PID|1||MRN1||DOE^JANE"]))
    sessions: dict[str, list[tuple[int, list[tuple[str, bytes]]]]] = {
        "dicom": [
            (104, [("c", rq), ("s", dicom_associate(2, "PACS", "CT_4B", ["x"]))]),
            (104, [("c", rq[:50])]),
            (104, [("c", dicom_pdata(b"x" * 40))]),
            (11112, [("c", dicom_associate(1, "P", "C", ["1.2"], length_delta=-9))]),
        ],
        "hl7": [
            (2575, [("c", hl7), ("s", mllp(b"MSH|^~\\&|A|B|C|D|1||ACK|2|P|2.5\r"))]),
            (2575, [("c", hl7[:30])]),
            (2575, [("c", b"\x0bPID|1\r\x1c\r")]),
        ],
        "tls_http_poct": [
            (443, [("c", tls_client_hello("ehr.example"))]),
            (80, [("c", http_request(b"UA/1", b"body"))]),
            (6001, [("c", poct1_hello("V", "M", "1", "S"))]),
            (5060, [("c", sip_register(b"Phone/1", "4711")), ("s", sip_response(b"PBX/2"))]),
            (554, [("c", rtsp_options(b"VMS/1", "cam")), ("s", rtsp_response(b"Cam/3"))]),
        ],
        "hl7_prt": [
            (2575, [("c", mllp(hl7_message(segments=[prt_segment(_SEED_PRT)], version="2.8")))]),
        ],
    }
    paths = []
    for name, flows in sessions.items():
        cap = CaptureBuilder()
        for i, (port, exchanges) in enumerate(flows):
            cap.tcp_session(a, b, 40000 + i, port, exchanges)
        paths.append(cap.write(out_dir / f"{name}.pcap"))
    from tests.support import riskproto  # telnet ... SNMP (issue 14); it imports this module

    paths.append(riskproto.write_seed_capture(out_dir / "risk.pcap"))
    cap = CaptureBuilder()
    cap.udp(
        Host(a.mac, "0.0.0.0"),
        anyone,
        68,
        67,
        dhcp_discover(a.mac, b"H", b"V", bytes([1, 3, 6]), b"\x01a"),
    )
    cap.udp(b, anyone, 67, 68, dhcp_ack(a.mac, "10.4.2.38"))
    cap.udp(
        Host(a.mac, "fe80::1"),
        Host("33:33:00:01:00:02", "ff02::1:2"),
        546,
        547,
        dhcpv6_solicit(311, b"MSFT 5.0"),
    )
    cap.udp(
        a,
        Host("01:00:5e:00:00:fb", "224.0.0.251"),
        5353,
        5353,
        mdns_announcement("X", "_ipp._tcp.local"),
    )
    cap.udp(a, anyone, 1900, 1900, ssdp_notify(b"S/1"))
    cap.udp(a, anyone, 24005, 24005, intellivue_connect_indication())
    cap.udp(b, a, 24105, 24105, b"\x0d\x00\x00\x10" + bytes(16))
    cap.udp(a, b, 24105, 24105, b"\x0e\x00\x00\x10" + bytes(16))
    cap.udp(a, b, 24105, 24105, intellivue_mds_create())
    cap.udp(a, b, 5060, 5060, sip_register(b"Phone/1", "4711"))
    cap.add(lldp_frame(a.mac, b"sw", b"desc"))
    cap.add(cdp_frame(b.mac, b"sw2", b"ios", b"plat"))
    cap.add(arp_reply(a.mac, a.ip, b.mac, b.ip))
    paths.append(cap.write(out_dir / "udp_l2.pcap"))
    return paths


if __name__ == "__main__":
    import sys

    for written in write_seed_captures(Path(sys.argv[1])):
        print(written)
