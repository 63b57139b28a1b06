"""Golden captures, one per protocol: the engine finds exactly the allowlisted fingerprints,
attributes them to the right device, and labels the flow from its content."""

from __future__ import annotations

from agent.devices import ja4_from_raw
from tests.support import medical as m
from tests.support.devicerun import run_devices

CLIENT = m.Host("00:1a:5c:00:00:38", "10.4.2.38")  # an infusion pump's NIC
SERVER = m.Host("00:00:5e:00:01:14", "10.9.0.20")
MODALITY = m.Host("00:0b:7e:00:00:05", "10.4.3.5")
PACS = m.Host("00:50:56:00:00:99", "10.9.0.99")


def test_dhcp_discover_and_ack_give_the_client_fingerprint_and_its_address(tmp_path):
    cap = m.CaptureBuilder()
    anyone = m.Host("ff:ff:ff:ff:ff:ff", "255.255.255.255")
    client = m.Host(CLIENT.mac, "0.0.0.0")
    params = bytes([1, 121, 3, 6, 15, 119, 252])
    discover = m.dhcp_discover(CLIENT.mac, b"PUMP-0038", b"Alaris 8015", params, b"\x01ab")
    cap.udp(client, anyone, 68, 67, discover)
    cap.udp(SERVER, anyone, 67, 68, m.dhcp_ack(CLIENT.mac, "10.4.2.38"))
    run = run_devices(cap.write(tmp_path / "dhcp.pcap"))
    fp = run.of(CLIENT.mac)
    assert fp["dhcp_parameter_list"] == [b"1,121,3,6,15,119,252"]  # order kept
    assert fp["dhcp_vendor_class"] == [b"Alaris 8015"]
    assert fp["dhcp_hostname"] == [b"PUMP-0038"]
    assert fp["dhcp_client_id"] == [b"016162"]
    assert fp["dhcp_assigned_address"] == [b"10.4.2.38"]
    assert run.device(CLIENT.mac).ipv4 == (bytes([10, 4, 2, 38]),)  # learnt from the ACK
    assert set(run.services()) == {"dhcp"}


def test_dhcpv6_vendor_class(tmp_path):
    cap = m.CaptureBuilder()
    host = m.Host(CLIENT.mac, "fe80::21a:5cff:fe00:38")
    servers = m.Host("33:33:00:01:00:02", "ff02::1:2")
    cap.udp(host, servers, 546, 547, m.dhcpv6_solicit(311, b"MSFT 5.0"))
    run = run_devices(cap.write(tmp_path / "dhcpv6.pcap"))
    assert run.of(CLIENT.mac)["dhcpv6_vendor_class"] == [b"311:MSFT 5.0"]
    assert run.services() == ["dhcpv6"]
    assert run.device(CLIENT.mac).ipv6 == (bytes.fromhex("fe80000000000000021a5cfffe000038"),)


def test_lldp_and_cdp_name_the_switches(tmp_path):
    cap = m.CaptureBuilder()
    cap.add(m.lldp_frame("00:11:22:33:44:55", b"sw-4b-core", b"Cisco IOS 15.2"))
    cap.add(m.cdp_frame("00:11:22:33:44:66", b"sw-4b-edge", b"IOS 12.2(55)SE", b"WS-C2960"))
    run = run_devices(cap.write(tmp_path / "l2.pcap"))
    assert run.of("00:11:22:33:44:55") == {
        "lldp_system_name": [b"sw-4b-core"],
        "lldp_system_description": [b"Cisco IOS 15.2"],
    }
    assert run.of("00:11:22:33:44:66") == {
        "cdp_device_id": [b"sw-4b-edge"],
        "cdp_software_version": [b"IOS 12.2(55)SE"],
        "cdp_platform": [b"WS-C2960"],
    }
    assert run.device("00:11:22:33:44:55").protocols == ["lldp"]
    assert run.device("00:11:22:33:44:66").protocols == ["cdp"]


def test_arp_teaches_an_address_to_its_mac(tmp_path):
    cap = m.CaptureBuilder()
    cap.add(m.arp_reply(CLIENT.mac, "10.4.2.38", SERVER.mac, "10.9.0.20"))
    run = run_devices(cap.write(tmp_path / "arp.pcap"))
    assert run.device(CLIENT.mac).ipv4 == (bytes([10, 4, 2, 38]),)
    assert run.device(CLIENT.mac).protocols == ["arp"]


def test_mdns_ships_service_types_never_instance_names(tmp_path):
    cap = m.CaptureBuilder()
    group = m.Host("01:00:5e:00:00:fb", "224.0.0.251")
    cap.udp(CLIENT, group, 5353, 5353, m.mdns_announcement("Dr Jones iPad", "_ipp._tcp.local"))
    run = run_devices(cap.write(tmp_path / "mdns.pcap"))
    assert run.of(CLIENT.mac) == {"mdns_service": [b"_ipp._tcp.local"]}
    assert b"Jones" not in run.all_event_bytes
    assert run.services() == ["mdns"]


def test_ssdp_server_header(tmp_path):
    cap = m.CaptureBuilder()
    group = m.Host("01:00:5e:7f:ff:fa", "239.255.255.250")
    cap.udp(CLIENT, group, 1900, 1900, m.ssdp_notify(b"Linux/3.10 UPnP/1.0 GE-CARESCAPE/2.1"))
    run = run_devices(cap.write(tmp_path / "ssdp.pcap"))
    assert run.of(CLIENT.mac) == {"ssdp_server": [b"Linux/3.10 UPnP/1.0 GE-CARESCAPE/2.1"]}
    assert run.services() == ["ssdp"]


def test_tls_client_hello_gives_sni_and_a_grease_free_ja4(tmp_path):
    cap = m.CaptureBuilder()
    cap.tcp_session(CLIENT, SERVER, 50000, 443, [("c", m.tls_client_hello("ehr.stmary.example"))])
    cap.tcp_session(
        CLIENT, SERVER, 50001, 8443, [("c", m.tls_client_hello("ehr.stmary.example", grease=False))]
    )
    run = run_devices(cap.write(tmp_path / "tls.pcap"))
    fp = run.of(CLIENT.mac)
    assert fp["tls_sni"] == [b"ehr.stmary.example"]
    # GREASE left out: the same client with and without GREASE has one JA4 (deduplicated).
    assert len(fp["tls_ja4_raw"]) == 1
    raw = fp["tls_ja4_raw"][0].decode()
    assert raw == "t13d|6832|1301,1302,1303,c02b,c02f|0000,0010,000a,000d,002b|0403,0804,0401"
    ja4 = ja4_from_raw(raw)
    assert ja4 is not None and ja4.startswith("t13d0505h2_")
    assert run.services() == ["ssl", "ssl"]  # labelled by content, 8443 too


def test_ja4_matches_a_published_fingerprint():
    # A Chrome ClientHello as a public JA4 service printed it (ja4_ro and ja4).
    ciphers = "1301,1302,1303,c02b,c02f,c02c,c030,cca9,cca8,c013,c014,009c,009d,002f,0035"
    exts = "002d,0033,0010,fe0d,0017,44cd,0000,000b,000a,002b,ff01,0023,0012,0005,000d,001b"
    sigalgs = "0403,0804,0401,0503,0805,0501,0806,0601"
    raw = f"t13d|6832|{ciphers}|{exts}|{sigalgs}"
    assert ja4_from_raw(raw) == "t13d1516h2_8daaf6152771_d8a2da3f94cd"


def test_http_user_agent_of_the_first_request_only_from_its_headers(tmp_path):
    cap = m.CaptureBuilder()
    body = b'{"patient":"DOE^JANE","mrn":"MRN0099123"}'
    cap.tcp_session(CLIENT, SERVER, 50010, 80, [("c", m.http_request(b"Sigma Spectrum/8.1", body))])
    run = run_devices(cap.write(tmp_path / "http.pcap"))
    assert run.of(CLIENT.mac) == {"http_user_agent": [b"Sigma Spectrum/8.1"]}
    assert b"MRN0099123" not in run.all_event_bytes
    assert run.services() == ["http"]


def test_dicom_association_request_and_accept(tmp_path):
    cap = m.CaptureBuilder()
    rq = m.dicom_associate(
        1,
        "PACS_MAIN",
        "CT_4B_01",
        ["1.2.840.10008.5.1.4.1.1.2", "1.2.840.10008.1.1"],
        user_identity=b"radtech:secret-password",
    )
    ac = m.dicom_associate(
        2, "PACS_MAIN", "CT_4B_01", ["x"], impl_uid="1.2.3.4", impl_version="PACS_9"
    )
    cap.tcp_session(MODALITY, PACS, 40001, 104, [("c", rq), ("s", ac)])
    run = run_devices(cap.write(tmp_path / "dicom.pcap"))
    assert run.of(MODALITY.mac) == {
        "dicom_ae_title": [b"CT_4B_01"],
        "dicom_called_ae_title": [b"PACS_MAIN"],
        "dicom_abstract_syntax": [b"1.2.840.10008.5.1.4.1.1.2", b"1.2.840.10008.1.1"],
        "dicom_modality": [b"CT"],
        "dicom_implementation_class_uid": [b"1.2.826.0.1.3680043.2.1143"],
        "dicom_implementation_version": [b"MODALITY_1.0"],
    }
    assert run.of(PACS.mac) == {
        "dicom_ae_title": [b"PACS_MAIN"],
        "dicom_implementation_class_uid": [b"1.2.3.4"],
        "dicom_implementation_version": [b"PACS_9"],
        "dicom_association_result": [b"accepted"],
    }
    assert b"secret-password" not in run.all_event_bytes  # user identity: never read
    assert run.services() == ["dicom"]
    assert run.device(PACS.mac).services == ((6, 104),)  # it answered on 104


def test_dicom_rejection_is_the_result(tmp_path):
    cap = m.CaptureBuilder()
    rq = m.dicom_associate(1, "PACS_MAIN", "US_4B_02", ["1.2.840.10008.5.1.4.1.1.6.1"])
    cap.tcp_session(MODALITY, PACS, 40002, 11112, [("c", rq), ("s", m.dicom_reject(2))])
    run = run_devices(cap.write(tmp_path / "dicom_rj.pcap"))
    assert run.of(PACS.mac) == {"dicom_association_result": [b"rejected-transient"]}
    assert run.of(MODALITY.mac)["dicom_modality"] == [b"US"]


def test_hl7_msh_allowlist_and_message_counts(tmp_path):
    cap = m.CaptureBuilder()
    messages = [
        ("c", m.mllp(m.hl7_message(message_type="ORU^R01^ORU_R01"))),
        ("s", m.mllp(m.hl7_message("EHR", "STMARY", "ACK^R01", "ACK0001"))),
        ("c", m.mllp(m.hl7_message(message_type="ORU^R01", control_id="MSGCTRL0002"))),
        ("c", m.mllp(m.hl7_message(message_type="ADT^A08", control_id="MSGCTRL0003"))),
    ]
    cap.tcp_session(CLIENT, SERVER, 50020, 2575, messages)
    run = run_devices(cap.write(tmp_path / "hl7.pcap"))
    assert run.of(CLIENT.mac) == {
        "hl7_sending_application": [b"MONITOR7"],
        "hl7_sending_facility": [b"WARD4B"],
        "hl7_receiving_application": [b"EHR"],
        "hl7_receiving_facility": [b"STMARY"],
        "hl7_message_type": [b"ORU^R01", b"ADT^A08"],
        "hl7_processing_id": [b"P"],
        "hl7_version": [b"2.5.1"],
    }
    assert run.of(SERVER.mac)["hl7_message_type"] == [b"ACK^R01"]
    assert run.device(CLIENT.mac).hl7_messages == 3
    assert run.device(SERVER.mac).hl7_messages == 1
    # MSH-7 (time) and MSH-10 (control id) never leave.
    assert b"20261129151500" not in run.all_event_bytes
    assert b"MSGCTRL" not in run.all_event_bytes
    assert run.services() == ["hl7"]


def test_poct1_hello_names_vendor_model_version_not_the_serial(tmp_path):
    cap = m.CaptureBuilder()
    hello = m.poct1_hello("Abbott", "i-STAT 1", "4.2", serial="SN-7781234")
    cap.tcp_session(CLIENT, SERVER, 50030, 6001, [("c", hello)])
    run = run_devices(cap.write(tmp_path / "poct1.pcap"))
    assert run.of(CLIENT.mac) == {
        "poct1_vendor": [b"Abbott"],
        "poct1_model": [b"i-STAT 1"],
        "poct1_version": [b"4.2"],
    }
    assert b"SN-7781234" not in run.all_event_bytes
    assert run.services() == ["poct1"]


def test_intellivue_connect_indication(tmp_path):
    cap = m.CaptureBuilder()
    anyone = m.Host("ff:ff:ff:ff:ff:ff", "10.4.255.255")
    cap.udp(CLIENT, anyone, 24005, 24005, m.intellivue_connect_indication())
    run = run_devices(cap.write(tmp_path / "intellivue.pcap"))
    assert run.of(CLIENT.mac) == {"intellivue": [b"connect-indication"]}
    assert run.services() == ["intellivue"]


def test_unknown_payload_on_an_unknown_port_gets_no_label(tmp_path):
    cap = m.CaptureBuilder()
    cap.tcp_session(CLIENT, SERVER, 50040, 9999, [("c", b"\x99hello there")])
    run = run_devices(cap.write(tmp_path / "other.pcap"))
    assert run.services() == [None]
    assert run.fingerprints == {}
