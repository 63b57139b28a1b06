"""A hospital wing as a capture file, with the device roles a central inventory must tell
apart, and what each device is (the truth the central tests compare against).

    path = write_wing_capture(tmp_path / "wing.pcap")
    for device in WING_DEVICES: ...      # mac (or address), category, vendor, model, PHI

Built byte by byte with tests.support.medical. MACs use the real IEEE OUI blocks of the
makers (Debian's ieee-data names them), so the sensors' OUI vendor is what a real unit
would show. Behind the router (ROUTER_MAC) sit four servers the wing's sensor sees only
by address. Every payload is one the sensor's extractors read in real traffic: DHCP
option 60, LLDP/CDP, mDNS, SSDP, HTTP Server/User-Agent, TLS ClientHello, DICOM
A-ASSOCIATE, HL7 MSH over MLLP, POCT1-A hello, IntelliVue connect indication.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tests.support import medical as m
from tests.support.medical import CaptureBuilder, Host

ROUTER = Host("00:00:0c:9f:f0:01", "10.4.0.1")  # Cisco HSRP virtual MAC block
SWITCH_MAC = "f4:bd:9e:00:00:02"


@dataclass(frozen=True)
class WingDevice:
    """One device of the wing and what the inventory must say about it."""

    role: str
    host: Host
    category: str
    vendor: str | None
    model: str | None = None
    modality: str | None = None
    handles_phi: bool = False
    behind_router: bool = False  # known by address only (mac None)


PUMP_ALARIS = Host("f8:c6:78:00:00:11", "10.4.2.11")
PUMP_BAXTER = Host("58:46:e1:00:00:12", "10.4.2.12")
PUMP_BRAUN = Host("00:12:21:00:00:13", "10.4.2.13")
MONITOR_PHILIPS = Host("00:09:5c:00:00:21", "10.4.2.21")
MONITOR_MINDRAY = Host("00:a0:37:00:00:22", "10.4.2.22")
CT = Host("44:4b:5d:00:00:31", "10.4.3.31")
ULTRASOUND = Host("00:09:5c:00:00:32", "10.4.3.32")
PACS = Host("98:e7:43:00:00:41", "10.4.9.41")
HL7_ENGINE = Host("00:50:56:00:00:51", "10.4.9.51")
EHR = Host("00:50:56:00:00:52", "10.4.9.52")
WORKSTATION_1 = Host("98:e7:43:00:00:61", "10.4.5.61")
WORKSTATION_2 = Host("98:e7:43:00:00:62", "10.4.5.62")
PRINTER = Host("00:07:4d:00:00:71", "10.4.5.71")
NURSE_CALL = Host("00:90:5e:00:00:81", "10.4.6.81")
CAMERA = Host("b8:a4:4f:00:00:91", "10.4.6.91")
ANALYZER = Host("00:0e:2f:00:00:a1", "10.4.7.101")
SWITCH = Host(SWITCH_MAC, "10.4.0.2")
# Behind the router: their frames carry ROUTER's MAC.
READING_SERVER = Host(ROUTER.mac, "10.20.0.5")
FILE_SERVER = Host(ROUTER.mac, "10.20.0.6")
BACKUP_SERVER = Host(ROUTER.mac, "10.20.0.7")
DNS_SERVER = Host(ROUTER.mac, "10.20.0.8")
INTERNET = Host(ROUTER.mac, "93.184.216.34")

WING_DEVICES: tuple[WingDevice, ...] = (
    WingDevice("pump", PUMP_ALARIS, "infusion_pump", "BD", "8015"),
    WingDevice("pump", PUMP_BAXTER, "infusion_pump", "Baxter", "Spectrum IQ"),
    WingDevice("pump", PUMP_BRAUN, "infusion_pump", "B. Braun", "Space"),
    WingDevice("monitor", MONITOR_PHILIPS, "patient_monitor", "Philips", "IntelliVue", None, True),
    WingDevice(
        "monitor", MONITOR_MINDRAY, "patient_monitor", "Mindray DS USA, Inc.", None, None, True
    ),
    WingDevice("ct", CT, "imaging", "GE Healthcare", "REVOLUTION_CT", "CT", True),
    WingDevice(
        "ultrasound",
        ULTRASOUND,
        "imaging",
        "Philips Medical Systems - Cardiac and Monitoring Systems (CM",
        "EPIQ7",
        "US",
        True,
    ),
    WingDevice("pacs", PACS, "pacs", "Dell Inc.", None, None, True),
    WingDevice("hl7 engine", HL7_ENGINE, "hl7_interface", "VMware, Inc.", "CLOVERLEAF", None, True),
    WingDevice("ehr", EHR, "ehr_server", "VMware, Inc.", "Epic", None, True),
    WingDevice("workstation", WORKSTATION_1, "workstation", "Dell Inc."),
    WingDevice("workstation", WORKSTATION_2, "workstation", "Dell Inc."),
    WingDevice("label printer", PRINTER, "label_printer", "Zebra"),
    WingDevice("nurse call", NURSE_CALL, "nurse_call", "RAULAND-BORG CORPORATION", "Responder 5"),
    WingDevice("camera", CAMERA, "ip_camera", "Axis Communications AB", "AXIS P3245-LV"),
    WingDevice(
        "analyzer", ANALYZER, "lab_analyzer", "Roche Diagnostics GmbH", "cobas b 123", None, True
    ),
    WingDevice("switch", SWITCH, "network_infrastructure", "Cisco Systems, Inc", "C9300-48P"),
    WingDevice("router", ROUTER, "network_infrastructure", "Cisco", "cisco ISR4331"),
    WingDevice("reading server", READING_SERVER, "server", None, behind_router=True),
    WingDevice("file server", FILE_SERVER, "server", None, behind_router=True),
    WingDevice("backup server", BACKUP_SERVER, "server", None, behind_router=True),
    WingDevice("dns server", DNS_SERVER, "unknown", None, behind_router=True),
)

BROADCAST = Host("ff:ff:ff:ff:ff:ff", "255.255.255.255")
MDNS = Host("01:00:5e:00:00:fb", "224.0.0.251")
SSDP = Host("01:00:5e:7f:ff:fa", "239.255.255.250")
CT_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
US_STORAGE = "1.2.840.10008.5.1.4.1.1.6.1"


def _http_response(server: bytes) -> bytes:
    return b"HTTP/1.1 200 OK\r\nServer: " + server + b"\r\nContent-Length: 2\r\n\r\nok"


def _dhcp(cap: CaptureBuilder, host: Host, vendor: bytes, hostname: bytes) -> None:
    client = Host(host.mac, "0.0.0.0")
    discover = m.dhcp_discover(
        host.mac, hostname, vendor, b"\x01\x03\x06\x0f", b"\x01" + m.mac_bytes(host.mac)
    )
    cap.udp(client, BROADCAST, 68, 67, discover)
    cap.udp(ROUTER, BROADCAST, 67, 68, m.dhcp_ack(host.mac, host.ip))
    # Every discover shares one flow (0.0.0.0:68 -> broadcast:67), and sensors read a
    # flow's first payload only; a renewal (unicast from the leased address) is each
    # device's own flow, as on a real network over a day.
    renew = m.dhcp(1, host.mac, [(53, b"\x03"), (60, vendor), (55, b"\x01\x03\x06\x0f")])
    cap.udp(host, ROUTER, 68, 67, renew)


def build_wing(rounds: int = 1) -> CaptureBuilder:
    """The wing's traffic; `rounds` repeats the clinical exchanges (more flows, same devices)."""
    cap = CaptureBuilder()
    cap.add(
        m.lldp_frame(
            SWITCH.mac,
            b"sw-4b-idf",
            b"Cisco IOS Software [Amsterdam], Catalyst L3 Switch Software (C9300-48P), "
            b"Version 17.3.4",
        )
    )
    cap.add(
        m.cdp_frame(
            ROUTER.mac, b"rtr-4b", b"Cisco IOS XE Software, Version 17.06.01", b"cisco ISR4331"
        )
    )
    cap.add(m.arp_reply(ROUTER.mac, ROUTER.ip, SWITCH.mac, SWITCH.ip))
    cap.add(m.arp_reply(SWITCH.mac, SWITCH.ip, ROUTER.mac, ROUTER.ip))
    _dhcp(cap, PUMP_ALARIS, b"CareFusion Alaris 8015", b"pump-4b-11")
    _dhcp(cap, PUMP_BAXTER, b"Baxter Sigma Spectrum IQ", b"pump-4b-12")
    _dhcp(cap, PUMP_BRAUN, b"B.Braun Space", b"pump-4b-13")
    _dhcp(cap, WORKSTATION_1, b"MSFT 5.0", b"ws-4b-61")
    _dhcp(cap, WORKSTATION_2, b"MSFT 5.0", b"ws-4b-62")
    _dhcp(cap, NURSE_CALL, b"Rauland Responder 5", b"nc-4b-81")
    cap.udp(
        MONITOR_PHILIPS,
        Host("ff:ff:ff:ff:ff:ff", "10.4.2.255"),
        24005,
        24005,
        m.intellivue_connect_indication(),
    )
    cap.udp(
        PRINTER,
        MDNS,
        5353,
        5353,
        m.mdns_announcement("Zebra ZD621 4B", "_pdl-datastream._tcp.local"),
    )
    cap.udp(CAMERA, SSDP, 1900, 1900, m.ssdp_notify(b"Linux/4.9 UPnP/1.0 AXIS P3245-LV"))
    for round_no in range(rounds):
        port = 40000 + round_no * 100
        # Monitors send vitals to the HL7 engine, which forwards ADT/ORU to the EHR.
        for offset, monitor, app in (
            (0, MONITOR_PHILIPS, "INTELLIVUE"),
            (1, MONITOR_MINDRAY, "BENEVISION"),
        ):
            oru = m.mllp(m.hl7_message(app, "WARD4B", "ORU^R01^ORU_R01", f"C{round_no}{offset}"))
            ack = m.mllp(m.hl7_message("CLOVERLEAF", "STMARY", "ACK^R01", f"A{round_no}{offset}"))
            cap.tcp_session(monitor, HL7_ENGINE, port + offset, 2575, [("c", oru), ("s", ack)])
        adt = m.mllp(m.hl7_message("CLOVERLEAF", "STMARY", "ADT^A08", f"D{round_no}"))
        ehr_ack = m.mllp(m.hl7_message("EHR", "STMARY", "ACK^A08", f"E{round_no}"))
        cap.tcp_session(HL7_ENGINE, EHR, port + 2, 2575, [("c", adt), ("s", ehr_ack)])
        # Modalities store images at the PACS.
        for offset, modality, ae, sop, version in (
            (3, CT, "CT_4B_01", CT_STORAGE, "REVOLUTION_CT"),
            (4, ULTRASOUND, "US_4B_02", US_STORAGE, "EPIQ7"),
        ):
            rq = m.dicom_associate(1, "PACS_MAIN", ae, [sop], impl_version=version)
            ac = m.dicom_associate(2, "PACS_MAIN", ae, impl_version="PACS_9")
            cap.tcp_session(
                modality,
                PACS,
                port + offset,
                104,
                [("c", rq), ("s", ac), ("c", m.dicom_pdata(b"\x08\x00" * 8))],
            )
        # Workstations use the EHR's web front end, the reading server, print labels.
        for offset, ws in ((5, WORKSTATION_1), (6, WORKSTATION_2)):
            ua = b"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36"
            request = b"GET / HTTP/1.1\r\nHost: ehr\r\nUser-Agent: " + ua + b"\r\n\r\n"
            cap.tcp_session(
                ws,
                EHR,
                port + offset,
                80,
                [("c", request), ("s", _http_response(b"Epic-Interconnect/2023"))],
            )
            cap.tcp_session(
                ws,
                READING_SERVER,
                port + offset + 10,
                443,
                [("c", m.tls_client_hello("reading.stmary.example"))],
            )
            cap.tcp_session(
                ws, FILE_SERVER, port + offset + 20, 445, [("c", b"\x00\x00\x00\x04SMB!")]
            )
            cap.tcp_session(
                ws,
                INTERNET,
                port + offset + 30,
                443,
                [("c", m.tls_client_hello("updates.example.com"))],
            )
        cap.tcp_session(
            WORKSTATION_1, PRINTER, port + 7, 9100, [("c", b"^XA^FO50,50^FDLABEL^FS^XZ")]
        )
        cap.tcp_session(
            WORKSTATION_2,
            CAMERA,
            port + 8,
            554,
            [("c", b"OPTIONS rtsp://cam RTSP/1.0\r\n\r\n"), ("s", b"RTSP/1.0 200 OK\r\n\r\n")],
        )
        cap.tcp_session(
            PACS, BACKUP_SERVER, port + 9, 443, [("c", m.tls_client_hello("backup.stmary.example"))]
        )
        cap.udp(
            WORKSTATION_1,
            DNS_SERVER,
            port + 11,
            53,
            b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00\x01",
        )
        cap.udp(
            DNS_SERVER,
            WORKSTATION_1,
            53,
            port + 11,
            b"\x12\x34\x81\x80\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00\x01",
        )
        # Pumps report to their server behind the router; the analyser says hello to the LIS.
        for offset, pump in ((12, PUMP_ALARIS), (13, PUMP_BAXTER), (14, PUMP_BRAUN)):
            cap.tcp_session(
                pump,
                READING_SERVER,
                port + offset,
                443,
                [("c", m.tls_client_hello("pumps.stmary.example"))],
            )
        hello = m.poct1_hello("Roche", "cobas b 123", "4.2", serial="SN-0001")
        cap.tcp_session(ANALYZER, EHR, port + 15, 6001, [("c", hello)])
        cap.tcp_session(
            NURSE_CALL, EHR, port + 16, 443, [("c", m.tls_client_hello("ehr.stmary.example"))]
        )
    return cap


def write_wing_capture(path: Path, rounds: int = 1) -> Path:
    """The wing as a pcap file at `path`."""
    return build_wing(rounds).write(path)
