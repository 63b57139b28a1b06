"""The protocols that make a device risky (issue 14) are labelled from their content and
give facts, never credentials: telnet, FTP (AUTH TLS), SSH (banner), RDP (security), VNC
(security types), SMB (dialect), SNMP (version, default community yes/no), HTTP Basic
authentication, TLS versions. Each reader: traffic that must give the fact, traffic
that must not."""

from __future__ import annotations

from tests.support import medical as m
from tests.support import riskproto as r
from tests.support.devicerun import run_devices

PUMP = m.Host("00:1a:5c:00:00:17", "10.4.2.17")
PRINTER = m.Host("00:00:aa:00:00:30", "10.4.5.30")
ADMIN = m.Host("00:50:56:00:00:05", "10.9.0.5")
SERVER = m.Host("00:50:56:00:00:10", "10.9.0.10")

PASSWORD = b"Pump-Secret-77"


def _run(tmp_path, cap, name="cap.pcap"):
    return run_devices(cap.write(tmp_path / name))


# ---------------------------------------------------------------- telnet


def test_telnet_is_labelled_from_negotiation_on_any_port_and_text_only_on_23(tmp_path):
    cap = m.CaptureBuilder()
    session = [("s", r.TELNET_NEGOTIATION), ("c", b"admin\r\n"), ("c", PASSWORD + b"\r\n")]
    cap.tcp_session(ADMIN, PUMP, 40000, 23, session)
    cap.tcp_session(ADMIN, PUMP, 40001, 2323, session)  # by content, not port
    cap.tcp_session(ADMIN, PUMP, 40002, 23, [("s", b"\r\nPump login: ")])
    cap.tcp_session(ADMIN, PUMP, 40003, 2323, [("s", b"\r\nPump login: ")])  # text elsewhere
    run = _run(tmp_path, cap)
    assert run.services() == ["telnet", "telnet", "telnet", None]
    assert PASSWORD not in run.all_event_bytes
    assert run.fingerprints == {}  # the label is the fact


# ---------------------------------------------------------------- FTP


def test_ftp_cleartext_login_is_seen_and_the_password_never_read(tmp_path):
    cap = m.CaptureBuilder()
    exchange = [
        ("s", b"220 (vsFTPd 3.0.3)\r\n"),
        ("c", b"USER service\r\n"),
        ("s", b"331 Please specify the password.\r\n"),
        ("c", b"PASS " + PASSWORD + b"\r\n"),
        ("s", b"230 Login successful.\r\n"),
    ]
    cap.tcp_session(ADMIN, PUMP, 40010, 21, exchange)
    run = _run(tmp_path, cap)
    assert run.services() == ["ftp"]
    assert run.of(ADMIN.mac) == {"ftp_cleartext_login": [b"yes"]}
    assert run.of(PUMP.mac) == {"ftp_cleartext_login": [b"yes"]}
    assert PASSWORD not in run.all_event_bytes and b"service" not in run.all_event_bytes


def test_ftp_auth_tls_after_feat_is_seen_on_both_sides_without_a_cleartext_login(tmp_path):
    cap = m.CaptureBuilder()
    exchange = [
        ("s", b"220-Welcome\r\n220 ready\r\n"),
        ("c", b"FEAT\r\n"),
        ("s", b"211-Features:\r\n AUTH TLS\r\n211 End\r\n"),
        ("c", b"AUTH TLS\r\n"),
        ("s", b"234 Proceed with negotiation.\r\n"),
        ("c", m.tls_client_hello("ftp.stmary.example")),
    ]
    cap.tcp_session(ADMIN, SERVER, 40011, 21, exchange)  # the greeting names no FTP: port 21
    run = _run(tmp_path, cap)
    assert run.services() == ["ftp"]
    assert run.of(ADMIN.mac).get("ftp_auth_tls") == [b"yes"]
    assert run.of(SERVER.mac) == {"ftp_auth_tls": [b"yes"]}
    assert "ftp_cleartext_login" not in run.of(ADMIN.mac)


def test_ftp_greeting_off_port_21_needs_the_name_and_smtp_and_pop3_are_not_ftp(tmp_path):
    cap = m.CaptureBuilder()
    cap.tcp_session(ADMIN, SERVER, 40012, 2121, [("s", b"220 ProFTPD Server ready\r\n")])
    cap.tcp_session(ADMIN, SERVER, 40013, 25, [("s", b"220 mail.example ESMTP Postfix\r\n")])
    cap.tcp_session(ADMIN, SERVER, 40014, 110, [("s", b"+OK POP3\r\n"), ("c", b"USER bob\r\n")])
    cap.tcp_session(ADMIN, SERVER, 40015, 2121, [("s", b"220 Welcome\r\n")])
    run = _run(tmp_path, cap)
    assert run.services() == ["ftp", None, None, None]
    assert run.fingerprints == {}


# ---------------------------------------------------------------- SSH


def test_ssh_banner_of_each_side_is_read_and_nothing_after_it(tmp_path):
    cap = m.CaptureBuilder()
    exchange = [
        ("s", r.ssh_banner(b"OpenSSH_7.4")),
        ("c", r.ssh_banner(b"PuTTY_Release_0.78") + b"\x00\x00\x01\x0c" + PASSWORD),
    ]
    cap.tcp_session(ADMIN, PUMP, 40020, 22, exchange)
    cap.tcp_session(ADMIN, PUMP, 40021, 22, [("s", b"SSH-2.0-\x01\x02bad\r\n")])
    run = _run(tmp_path, cap)
    assert run.services() == ["ssh", None]
    assert run.of(PUMP.mac) == {"ssh_banner": [b"SSH-2.0-OpenSSH_7.4"]}
    assert run.of(ADMIN.mac) == {"ssh_banner": [b"SSH-2.0-PuTTY_Release_0.78"]}
    assert PASSWORD not in run.all_event_bytes
    assert run.counters["extract_malformed"] == 1


# ---------------------------------------------------------------- RDP


def test_rdp_security_chosen_by_the_server_and_the_cookie_user_never_read(tmp_path):
    cap = m.CaptureBuilder()
    exchange = [("c", r.rdp_connection_request(b"DrSmith")), ("s", r.rdp_connection_confirm(0))]
    cap.tcp_session(ADMIN, PUMP, 40030, 3389, exchange)
    nla = [("c", r.rdp_connection_request(b"nurse4")), ("s", r.rdp_connection_confirm(2))]
    cap.tcp_session(ADMIN, SERVER, 40031, 13389, nla)  # by content
    old = [("s", r.rdp_connection_confirm(None))]
    cap.tcp_session(ADMIN, PRINTER, 40032, 3389, old)
    run = _run(tmp_path, cap)
    assert run.services() == ["rdp", "rdp", "rdp"]
    assert run.of(PUMP.mac) == {"rdp_security": [b"rdp"]}
    assert run.of(SERVER.mac) == {"rdp_security": [b"credssp"]}
    assert run.of(PRINTER.mac) == {"rdp_security": [b"rdp"]}
    assert b"DrSmith" not in run.all_event_bytes and b"nurse4" not in run.all_event_bytes


def test_iso_tsap_over_tpkt_is_not_rdp(tmp_path):
    cap = m.CaptureBuilder()
    cap.tcp_session(ADMIN, PUMP, 40033, 102, [("c", r.iso_tsap_connection_request())])
    run = _run(tmp_path, cap)
    assert run.services() == [None]


# ---------------------------------------------------------------- VNC


def test_vnc_offered_and_chosen_security_types_are_read_and_the_auth_exchange_never(tmp_path):
    cap = m.CaptureBuilder()
    challenge, response = bytes(range(16)), PASSWORD + b"\x00\x00"
    exchange = [
        ("s", r.RFB_38),
        ("c", r.RFB_38),
        ("s", r.vnc_security_types(1, 2)),
        ("c", bytes([2])),
        ("s", challenge),
        ("c", response),
    ]
    cap.tcp_session(ADMIN, PUMP, 40040, 5900, exchange)
    tls_only = [("s", r.RFB_38), ("c", r.RFB_38), ("s", r.vnc_security_types(19)), ("c", b"\x13")]
    cap.tcp_session(ADMIN, SERVER, 40041, 5901, tls_only)
    v33 = [("s", r.RFB_33), ("c", r.RFB_33), ("s", b"\x00\x00\x00\x02"), ("c", response)]
    cap.tcp_session(ADMIN, PRINTER, 40042, 5900, v33)
    run = _run(tmp_path, cap)
    assert run.services() == ["vnc", "vnc", "vnc"]
    assert run.of(PUMP.mac) == {"vnc_security": [b"none,vnc-auth"]}
    assert run.of(SERVER.mac) == {"vnc_security": [b"vencrypt"]}
    assert run.of(PRINTER.mac) == {"vnc_security": [b"vnc-auth"]}
    assert run.of(ADMIN.mac) == {"vnc_security_chosen": [b"vnc-auth", b"vencrypt"]}
    assert PASSWORD not in run.all_event_bytes


# ---------------------------------------------------------------- SMB


def test_smb_dialects_smb1_server_and_client_and_smb3_after_a_multi_protocol_negotiate(tmp_path):
    cap = m.CaptureBuilder()
    old_client = [
        ("c", r.smb1_negotiate_request([b"PC NETWORK PROGRAM 1.0", b"NT LM 0.12"])),
        ("s", r.smb1_negotiate_response_nt_lm()),
        ("c", r.smb1_session_setup(b"ward4-admin")),
    ]
    cap.tcp_session(PUMP, SERVER, 40050, 445, old_client)
    modern = [
        ("c", r.smb1_negotiate_request([b"NT LM 0.12", b"SMB 2.002", b"SMB 2.???"])),
        ("s", r.smb2_negotiate_response(0x02FF)),
        ("c", r.smb2_negotiate_request([0x0202, 0x0210, 0x0300, 0x0302, 0x0311])),
        ("s", r.smb2_negotiate_response(0x0311)),
        ("c", r.smb2_session_setup(b"ward4-admin")),
    ]
    cap.tcp_session(ADMIN, PRINTER, 40051, 445, modern)
    run = _run(tmp_path, cap)
    assert run.services() == ["smb", "smb"]
    assert run.of(PUMP.mac) == {"smb_dialect": [b"1"]}
    assert run.of(SERVER.mac) == {"smb_dialect": [b"1"]}
    assert run.of(PRINTER.mac) == {"smb_dialect": [b"2.x", b"3.1.1"]}
    assert "smb_dialect" not in run.of(ADMIN.mac)  # it offered SMB 2: not SMB1-only
    assert b"ward4-admin" not in run.all_event_bytes


# ---------------------------------------------------------------- SNMP


def test_snmp_default_community_is_a_yes_on_the_answering_agent_never_the_string(tmp_path):
    cap = m.CaptureBuilder()
    cap.udp(ADMIN, PRINTER, 40060, 161, r.snmp_get(b"public"))
    cap.udp(PRINTER, ADMIN, 161, 40060, r.snmp_response(b"public"))
    cap.udp(ADMIN, PUMP, 40061, 161, r.snmp_get(b"Wx7-ward4-ro", version=0))
    cap.udp(PUMP, ADMIN, 161, 40061, r.snmp_response(b"Wx7-ward4-ro", version=0))
    cap.udp(SERVER, ADMIN, 40062, 162, r.snmp_trap_v2(b"PRIVATE"))
    cap.udp(SERVER, ADMIN, 40063, 161, r.snmp_v3_message())
    cap.udp(SERVER, ADMIN, 40064, 161, b"\x01\x02 not snmp")
    run = _run(tmp_path, cap)
    assert run.services() == ["snmp", "snmp", "snmp", "snmp", None]
    assert run.of(PRINTER.mac) == {"snmp_version": [b"2c"], "snmp_default_community": [b"yes"]}
    assert run.of(PUMP.mac) == {"snmp_version": [b"1"], "snmp_default_community": [b"no"]}
    assert run.of(SERVER.mac) == {
        "snmp_version": [b"2c", b"3"],
        "snmp_default_community": [b"yes"],
    }
    assert run.of(ADMIN.mac) == {"snmp_version": [b"2c", b"1"]}  # requests: no yes/no
    for secret in (b"public", b"Wx7-ward4-ro", b"PRIVATE", b"nurse1"):
        assert secret not in run.all_event_bytes
    assert run.counters["extract_malformed"] == 1


# ---------------------------------------------------------------- HTTP Basic


def test_http_basic_after_a_401_is_seen_on_both_sides_and_credentials_never(tmp_path):
    cap = m.CaptureBuilder()
    credentials = r.basic_credentials(b"biomed", PASSWORD)
    exchange = [
        ("c", r.http_get()),
        ("s", r.http_401([b"Negotiate", b'Basic realm="pump"'])),
        ("c", r.http_get(authorization=credentials)),
        ("s", r.http_200()),
    ]
    cap.tcp_session(ADMIN, PUMP, 40070, 80, exchange)
    run = _run(tmp_path, cap)
    assert run.services() == ["http"]
    assert run.of(PUMP.mac)["http_basic_auth"] == [b"offered"]
    assert run.of(ADMIN.mac)["http_basic_auth"] == [b"sent"]
    assert credentials[6:] not in run.all_event_bytes and PASSWORD not in run.all_event_bytes


def test_http_without_basic_and_digest_or_bearer_give_no_basic_fact(tmp_path):
    cap = m.CaptureBuilder()
    digest = [
        ("c", r.http_get()),
        ("s", r.http_401([b'Digest realm="pump", nonce="abc"'])),
        ("c", r.http_get(authorization=b'Digest username="biomed", response="x"')),
    ]
    cap.tcp_session(ADMIN, PUMP, 40071, 80, digest)
    bearer = [("c", r.http_get(authorization=b"Bearer eyJhbGciOi")), ("s", r.http_200())]
    cap.tcp_session(ADMIN, SERVER, 40072, 8080, bearer)
    # "Basic" only in a later body segment, and a realm that merely mentions it
    body = [("c", r.http_get()), ("s", r.http_200(b"x" * 10)), ("s", b"Authorization: Basic x\r\n")]
    cap.tcp_session(ADMIN, PRINTER, 40073, 80, body)
    run = _run(tmp_path, cap)
    assert run.services() == ["http", "http", "http"]
    for host in (ADMIN, PUMP, SERVER, PRINTER):
        assert "http_basic_auth" not in run.of(host.mac)


def test_http_basic_past_the_first_4_kib_of_a_direction_is_not_read(tmp_path):
    cap = m.CaptureBuilder()
    big = b"POST /upload HTTP/1.1\r\nContent-Length: 5000\r\n\r\n" + b"x" * 5000
    late = [("c", big), ("c", r.http_get(authorization=r.basic_credentials(b"a", b"b")))]
    cap.tcp_session(ADMIN, PUMP, 40074, 80, late)
    run = _run(tmp_path, cap)
    assert "http_basic_auth" not in run.of(ADMIN.mac)


# ---------------------------------------------------------------- TLS versions


def test_tls_versions_offered_by_clients_and_accepted_by_servers(tmp_path):
    cap = m.CaptureBuilder()
    modern = [
        ("c", m.tls_client_hello("ehr.stmary.example")),
        ("s", r.tls_server_hello(0x0303, 0x0304)),
    ]
    cap.tcp_session(ADMIN, SERVER, 40080, 443, modern)
    legacy = [("c", r.tls_client_hello_legacy(0x0301)), ("s", r.tls_server_hello(0x0301))]
    cap.tcp_session(PUMP, PRINTER, 40081, 443, legacy)
    run = _run(tmp_path, cap)
    assert run.services() == ["ssl", "ssl"]
    assert run.of(ADMIN.mac)["tls_version_offered"] == [b"tls1.3"]
    assert run.of(SERVER.mac) == {"tls_version": [b"tls1.3"]}
    assert run.of(PUMP.mac)["tls_version_offered"] == [b"tls1.0"]
    assert run.of(PRINTER.mac) == {"tls_version": [b"tls1.0"]}


def test_a_server_hello_cut_before_its_extensions_is_partial_with_no_version(tmp_path):
    cap = m.CaptureBuilder()
    hello = r.tls_server_hello(0x0303, 0x0304)
    cap.tcp_session(ADMIN, SERVER, 40082, 443, [("s", hello[:50])])
    run = _run(tmp_path, cap)
    assert run.services() == ["ssl"]
    assert run.fingerprints == {}
    assert run.counters["extract_partial"] == 1


# ---------------------------------------------------------------- malformed and cut input


def _sessions():
    """(server port, exchange) of every handshake above, the values they must give."""
    return [
        (23, [("s", r.TELNET_NEGOTIATION)]),
        (21, [("s", b"220 FTP\r\n"), ("c", b"AUTH TLS\r\n"), ("s", b"234 ok\r\n")]),
        (22, [("s", r.ssh_banner(b"OpenSSH_9.2")), ("c", r.ssh_banner(b"PuTTY"))]),
        (3389, [("c", r.rdp_connection_request(b"u")), ("s", r.rdp_connection_confirm(2))]),
        (5900, [("s", r.RFB_38), ("c", r.RFB_38), ("s", r.vnc_security_types(1, 2, 18))]),
        (
            445,
            [
                ("c", r.smb1_negotiate_request([b"NT LM 0.12"])),
                ("s", r.smb2_negotiate_response(0x0311)),
            ],
        ),
        (80, [("c", r.http_get(authorization=r.basic_credentials(b"a", b"b")))]),
        (443, [("s", r.tls_server_hello(0x0303, 0x0304))]),
    ]


def test_every_payload_cut_at_every_length_gives_no_value_the_whole_one_does_not(tmp_path):
    """A snap length or a segment boundary anywhere in a message: what the readers send
    is a subset of what the whole messages give (no cut banner, no half dialect, no
    "yes" from "AUTH T"), and a cut never counts as recognised-whole."""
    whole = m.CaptureBuilder()
    for i, (port, exchange) in enumerate(_sessions()):
        whole.tcp_session(ADMIN, PUMP, 41000 + i, port, exchange)
    allowed = {
        (kind, value)
        for kinds in _run(tmp_path, whole, "whole.pcap").fingerprints.values()
        for kind, values in kinds.items()
        for value in values
    }
    assert len(allowed) >= 10, "the whole messages give the facts: the test is broken"
    for cut in (1, 2, 3, 4, 5, 8, 11, 12, 13, 16, 20, 30, 45, 60, 70):
        cap = m.CaptureBuilder()
        for i, (port, exchange) in enumerate(_sessions()):
            sport = 42000 + i
            cap.tcp_packet(ADMIN, PUMP, sport, port, m.SYN)
            cap.tcp_packet(PUMP, ADMIN, port, sport, m.SYN_ACK)
            for side, payload in exchange:
                src, dst, a, b = (
                    (ADMIN, PUMP, sport, port) if side == "c" else (PUMP, ADMIN, port, sport)
                )
                cap.tcp_packet(src, dst, a, b, m.PSH_ACK, payload, caplen=54 + cut)
        run = _run(tmp_path, cap, f"cut{cut}.pcap")
        got = {
            (kind, value)
            for kinds in run.fingerprints.values()
            for kind, values in kinds.items()
            for value in values
        }
        assert got <= allowed, f"cut at {cut}: {got - allowed}"


def test_smb_snmp_and_vnc_that_lie_about_their_lengths_send_nothing(tmp_path):
    cap = m.CaptureBuilder()
    smb = bytearray(r.smb2_negotiate_response(0x0311))
    smb[4 + 64] = 0x99  # StructureSize is not 65
    cap.tcp_session(ADMIN, PUMP, 43000, 445, [("s", bytes(smb))])
    snmp = bytearray(r.snmp_response(b"public"))
    snmp[6] = 0x50  # the community's length runs past the datagram
    cap.udp(PRINTER, ADMIN, 161, 43001, bytes(snmp))
    cap.udp(PRINTER, ADMIN, 161, 43002, b"\x30\x84\x00\x00\x00\x10")  # 4 length bytes
    vnc = [("s", r.RFB_38), ("c", r.RFB_38), ("s", bytes([3, 1, 0, 2]))]  # type 0: invalid
    cap.tcp_session(ADMIN, SERVER, 43003, 5900, vnc)
    run = _run(tmp_path, cap)
    assert "smb_dialect" not in run.of(PUMP.mac)
    assert "snmp_default_community" not in run.of(PRINTER.mac)
    assert "vnc_security" not in run.of(SERVER.mac)
    assert run.counters["extract_malformed"] >= 2  # SMB and the 4-byte BER length
