"""Seeds for native/fuzz/fuzz_extract.c: one good payload per extractor, from the
capture builders of the tests (tests/support/medical.py).

    PYTHONPATH=. python native/fuzz/make_extract_seeds.py OUT_DIR

Each seed is: the extractor's index in fuzz_extract.c's EXTRACTORS, a context byte
(responder 0, start seen 1, no label), then the payload.
"""

from __future__ import annotations

import sys
from pathlib import Path

from tests.support import medical as m
from tests.support import riskproto as r

CLIENT = "00:1a:5c:00:00:38"
START_SEEN = 0x02


def dns_response() -> bytes:
    """A unicast DNS answer with an A and an AAAA record (server names, server_names.h)."""
    from scapy.layers.dns import DNS, DNSQR, DNSRR

    answers = DNSRR(rrname="pacs.example.org", type="A", rdata="10.20.0.20") / DNSRR(
        rrname="pacs.example.org", type="AAAA", rdata="2001:db8::20"
    )
    return bytes(DNS(id=7, qr=1, qd=DNSQR(qname="pacs.example.org"), an=answers, ancount=2))


def payloads() -> list[bytes]:
    """In the order of EXTRACTORS in fuzz_extract.c."""
    prt = m.prt_segment({4: "EQUIP", 5: "DOE^JOHN", 10: "MX800", 16: "(01)00884521164321(21)S1"})
    hl7 = m.mllp(m.hl7_message(segments=["PID|1||MRN1||DOE^JANE", prt], version="2.8"))
    return [
        m.dhcp_discover(CLIENT, b"host", b"vendor", bytes([1, 3, 6, 15]), b"\x01abc"),
        m.dhcpv6_solicit(311, b"MSFT 5.0"),
        dns_response(),
        m.mdns_announcement("printer", "_ipp._tcp.local"),
        m.ssdp_notify(b"Linux/3.0 UPnP/1.0 x/1"),
        m.tls_client_hello("ehr.example"),
        m.http_request(b"Agent/1.0"),
        m.dicom_associate(1, "PACS", "CT_4B", ["1.2.840.10008.5.1.4.1.1.2"]),
        hl7,
        hl7,
        m.poct1_hello("Vendor", "Model", "1.0", "SERIAL"),
        m.intellivue_connect_indication(),
        m.lldp_frame(CLIENT, b"switch-1", b"a switch")[14:],
        m.cdp_frame(CLIENT, b"switch-2", b"IOS 15", b"cisco WS-C2960")[22:],
        m.sip_register(b"Ascom i63 4.1.6", "4711"),
        m.rtsp_options(b"LibVLC/3.0.18", "cam-ward4b"),
        m.intellivue_mds_create(),
        r.TELNET_NEGOTIATION,
        b"220 (vsFTPd 3.0.3)\r\n",
        r.ssh_banner(b"OpenSSH_9.2p1 Debian-2"),
        r.rdp_connection_request(b"user"),
        r.RFB_38 + r.vnc_security_types(1, 2, 18),
        r.smb1_negotiate_request([b"NT LM 0.12", b"SMB 2.002"]),
        r.snmp_response(b"public"),
        r.http_get(authorization=r.basic_credentials(b"a", b"b")),
    ]


def main() -> None:
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    for index, payload in enumerate(payloads()):
        (out / f"extractor-{index:02d}").write_bytes(bytes([index, START_SEEN]) + payload)


if __name__ == "__main__":
    main()
