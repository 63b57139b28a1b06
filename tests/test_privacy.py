"""No patient data leaves the process: planted names, record numbers and birth dates are
in no byte the agent writes or sends.

A capture carries patient identifiers where real traffic carries them: HL7 PID/OBX/NK1
segments after an MSH, DICOM P-DATA (and a user-identity password in the association),
an HTTP request body, DHCP options the agent must not read (and a hostname that must be
hashed). The real agent replays it into a real mosquitto; a raw MQTT subscriber keeps
every message byte; `flows --json` and every log line are kept; a second replay towards
a dead broker leaves every message in the spool. All of it is searched.

The protocols that make a device risky carry credentials (a telnet or FTP password, an
HTTP Basic header, an SNMP community, an RDP cookie's user, an SMB session's user, a VNC
authentication response): they are planted too, and only facts about them may leave.

The positive control plants allowed values (an AE title, an HL7 sending application, an
SNI) in the same capture and finds them in the same bytes, so the search can fail.
"""

from __future__ import annotations

import base64
import subprocess
import threading
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from tests.support import broker as broker_support
from tests.support import medical as m
from tests.support import riskproto as r
from tests.support.agent_setup import REPO, agent_command, environment, make_sensor

mosquitto = broker_support.mosquitto

pytestmark = pytest.mark.skipif(
    not Path("/usr/sbin/mosquitto").exists(), reason="mosquitto is not installed"
)

# What must never appear (each also in a different case / encoding where it could).
PATIENT_VALUES = [
    b"DOE^JANE",
    b"JANE",
    b"MRN0099123",
    b"19800101",  # birth date, HL7 form
    b"1980-01-01",
    b"SMITH^JOHN",
    b"MRN7766554",
    b"19511224",
    b"PATIENT-BODY-42",
    b"radtech-password",
    b"JSMITH",  # inside a DHCP hostname, which is shipped hashed
    b"ward4b-jdoe",  # inside DHCP option 81 (FQDN), never read
    b"MSGCTRL",  # MSH-10 control ids
    b"20261129151500",  # MSH-7 time
    b"SN9988776655",  # a device's serial number (PRT-20, and inside its UDI)
    b"LOT20261129",  # its lot (PRT-19)
]
# Credentials of the protocols that make a device risky (issue 14): only facts about
# them (yes/no, a scheme, a dialect) may leave, never the secrets.
CREDENTIAL_VALUES = [
    b"Telnet-Pass-9931",
    b"ftpuser-biomed",
    b"Ftp-Pass-5521",
    b"Http-Pass-7788",
    base64.b64encode(b"biomed:Http-Pass-7788"),
    b"Wx7-ward4-ro",  # an SNMP community (not a default one)
    b"rdpuser-jsmith",  # RDP's mstshash cookie
    b"smbuser-jdoe",  # an SMB session setup
    b"VncResp-1234567!",  # a VNC authentication response
    b"Ssh-Pass-4410",
]
ALLOWED_VALUES = [
    b"CT_4B_01",
    b"MONITOR7",
    b"ehr.stmary.example",
    b"PUMP-AE-77",
    b"Ascom i63 4.1.6",
    b"AXIS P3245",
    b"IntelliVue MX800",  # PRT-10 model text
    b"00884521164321",  # the GTIN of its UDI (PRT-16)
    b"M8007A",  # an IntelliVue monitor's model
    b"SSH-2.0-PumpSSH_1.2",
    b"snmp_default_community",
    b"http_basic_auth",
    b"ftp_cleartext_login",
]

MODALITY = m.Host("00:0b:7e:00:00:05", "10.4.3.5")
PACS = m.Host("00:50:56:00:00:99", "10.9.0.99")
MONITOR = m.Host("00:09:fb:00:00:07", "10.4.2.7")
EHR = m.Host("00:50:56:00:00:42", "10.9.0.42")
LAPTOP = m.Host("00:1c:42:00:00:11", "10.4.2.11")


def _capture(path: Path) -> Path:
    cap = m.CaptureBuilder()
    # HL7: MSH then PID, NK1, OBX with names, record numbers, birth dates.
    segments = [
        "PID|1||MRN0099123^^^STMARY^MR||DOE^JANE^Q||19800101|F|||1 Main St^^Town",
        "NK1|1|SMITH^JOHN|SPO",
        # A device's participation, with the clinician who used it (PRT-5) and its serial.
        m.prt_segment(
            {
                4: "EQUIP",
                5: "77^SMITH^JOHN",
                10: "IntelliVue MX800",
                16: "(01)00884521164321(10)LOT20261129(21)SN9988776655",
                19: "LOT20261129",
                20: "SN9988776655",
            }
        ),
        "OBX|1|NM|8867-4^Heart rate^LN||72|/min|||||F|||19511224 MRN7766554",
    ]
    message = m.hl7_message(segments=segments, version="2.8")  # PRT: v2.7 and later
    messages = [("c", m.mllp(message)), ("s", m.mllp(b"MSA|AA|x\r"))]
    cap.tcp_session(MONITOR, EHR, 50001, 2575, messages)
    # HL7 with a missing MSH (malformed): its PID must not leak either.
    cap.tcp_session(MONITOR, EHR, 50002, 2575, [("c", m.mllp(segments[0].encode() + b"\r"))])
    # DICOM: association (with a user-identity password), then P-DATA with demographics.
    rq = m.dicom_associate(
        1,
        "PACS_MAIN",
        "CT_4B_01",
        ["1.2.840.10008.5.1.4.1.1.2"],
        user_identity=b"radtech-password",
    )
    ac = m.dicom_associate(2, "PACS_MAIN", "CT_4B_01", ["x"])
    pdata = m.dicom_pdata(b"\x10\x00\x10\x00\x08\x00\x00\x00DOE^JANE\x10\x00\x20\x00MRN0099123")
    cap.tcp_session(MODALITY, PACS, 40001, 104, [("c", rq), ("s", ac), ("c", pdata)])
    # A P-DATA as the first payload of a flow (mid-association capture start).
    cap.tcp_session(MODALITY, PACS, 40002, 104, [("c", pdata)])
    # A segment met mid-stream (no handshake) that looks like an A-ASSOCIATE-RQ of PDU
    # length 68: its "AE titles" are a patient's name and record number.
    cap.tcp_packet(
        MODALITY, PACS, 40004, 104, m.PSH_ACK, m.dicom_lookalike(b"DOE^JANE", b"MRN0099123")
    )
    cap.tcp_packet(
        MODALITY, PACS, 40005, 4242, m.PSH_ACK, m.dicom_lookalike(b"JANE", b"MRN0099123")
    )
    # SIP: a person's name in From (never read) beside the phone's User-Agent; RTSP: a
    # record number in the stream path (never read) beside the camera's Server header.
    cap.udp(LAPTOP, EHR, 5060, 5060, m.sip_register(b"Ascom i63 4.1.6", "4711", "SMITH^JOHN"))
    rtsp = [("c", m.rtsp_options(b"VMS/2", "MRN7766554")), ("s", m.rtsp_response(b"AXIS P3245"))]
    cap.tcp_session(LAPTOP, EHR, 50010, 554, rtsp)
    # IntelliVue: the MDS Create report after the association carries a bed label with a
    # patient's name and the serial (never read) beside the model.
    cap.udp(EHR, MONITOR, 24105, 24105, b"\x0d\x00\x00\x10" + bytes(16))
    cap.udp(MONITOR, EHR, 24105, 24105, b"\x0e\x00\x00\x10" + bytes(16))
    create = m.intellivue_mds_create(b"M8007A", bed_label=b"DOE^JANE", serial=b"SN9988776655")
    cap.udp(MONITOR, EHR, 24105, 24105, create)
    _plant_credentials(cap)
    # HTTP body, and a DICOM AE title in a POCT-style allowed header for the control.
    body = b'{"name":"DOE^JANE","mrn":"MRN0099123","dob":"1980-01-01","id":"PATIENT-BODY-42"}'
    cap.tcp_session(LAPTOP, EHR, 50003, 80, [("c", m.http_request(b"Browser/1.0", body))])
    cap.tcp_session(LAPTOP, EHR, 50004, 443, [("c", m.tls_client_hello("ehr.stmary.example"))])
    rq2 = m.dicom_associate(1, "PACS_MAIN", "PUMP-AE-77", ["1.2.840.10008.1.1"])
    cap.tcp_session(LAPTOP, PACS, 40003, 11112, [("c", rq2)])
    # DHCP: a hostname with a person's name (hashed), an FQDN option 81 (never read).
    fqdn = b"\x00\x00\x00" + m.dns_name("ward4b-jdoe.stmary.example")
    discover = m.dhcp(
        1,
        LAPTOP.mac,
        [(53, b"\x01"), (12, b"ICU4-JSMITH-PC"), (81, fqdn), (55, bytes([1, 3, 6]))],
    )
    anyone = m.Host("ff:ff:ff:ff:ff:ff", "255.255.255.255")
    cap.udp(m.Host(LAPTOP.mac, "0.0.0.0"), anyone, 68, 67, discover)
    return cap.write(path)


def _plant_credentials(cap: m.CaptureBuilder) -> None:
    """Logins, passwords and communities where the risky protocols carry them."""
    telnet = [("s", r.TELNET_NEGOTIATION), ("c", b"admin\r\n"), ("c", b"Telnet-Pass-9931\r\n")]
    cap.tcp_session(LAPTOP, MONITOR, 50020, 23, telnet)
    ftp = [
        ("s", b"220 FTP ready\r\n"),
        ("c", b"USER ftpuser-biomed\r\n"),
        ("s", b"331 Password required\r\n"),
        ("c", b"PASS Ftp-Pass-5521\r\n"),
    ]
    cap.tcp_session(LAPTOP, MONITOR, 50021, 21, ftp)
    basic = r.basic_credentials(b"biomed", b"Http-Pass-7788")
    http = [
        ("c", r.http_get()),
        ("s", r.http_401([b'Basic realm="monitor"'])),
        ("c", r.http_get(authorization=basic)),
    ]
    cap.tcp_session(LAPTOP, MONITOR, 50022, 80, http)
    cap.udp(LAPTOP, MONITOR, 50023, 161, r.snmp_get(b"Wx7-ward4-ro"))
    cap.udp(MONITOR, LAPTOP, 161, 50023, r.snmp_response(b"Wx7-ward4-ro"))
    cap.udp(LAPTOP, MONITOR, 50024, 161, r.snmp_get(b"public"))
    cap.udp(MONITOR, LAPTOP, 161, 50024, r.snmp_response(b"public"))
    rdp = [("c", r.rdp_connection_request(b"rdpuser-jsmith")), ("s", r.rdp_connection_confirm(1))]
    cap.tcp_session(LAPTOP, MONITOR, 50025, 3389, rdp)
    smb = [
        ("c", r.smb2_negotiate_request([0x0202, 0x0311])),
        ("s", r.smb2_negotiate_response(0x0311)),
        ("c", r.smb2_session_setup(b"smbuser-jdoe")),
    ]
    cap.tcp_session(LAPTOP, EHR, 50026, 445, smb)
    vnc = [
        ("s", r.RFB_38),
        ("c", r.RFB_38),
        ("s", r.vnc_security_types(2)),
        ("c", b"\x02"),
        ("s", bytes(16)),
        ("c", b"VncResp-1234567!"),
    ]
    cap.tcp_session(LAPTOP, MONITOR, 50027, 5900, vnc)
    ssh = [("s", r.ssh_banner(b"PumpSSH_1.2")), ("c", r.ssh_banner(b"x") + b"Ssh-Pass-4410")]
    cap.tcp_session(LAPTOP, MONITOR, 50028, 22, ssh)


class RawSubscriber:
    """Every byte of every message on iomt/#, as the broker delivered it."""

    def __init__(self, port: int) -> None:
        self.payloads: list[bytes] = []
        self.topics: list[str] = []
        self._subscribed = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="privacy-probe")
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *args: self._subscribed.set()
        self.client.connect("127.0.0.1", port)
        self.client.subscribe("iomt/#", qos=1)
        self.client.loop_start()
        assert self._subscribed.wait(10), "subscription not acknowledged"

    def _on_message(self, client, userdata, message) -> None:
        self.topics.append(message.topic)
        self.payloads.append(bytes(message.payload))

    def stop(self) -> bytes:
        self.client.loop_stop()
        self.client.disconnect()
        return b"\n".join(self.payloads)


def _spool_bytes(spool: Path) -> bytes:
    return b"\n".join(p.read_bytes() for p in sorted(spool.rglob("*")) if p.is_file())


def _run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        agent_command(*args), capture_output=True, timeout=timeout, cwd=REPO, env=environment()
    )


def test_no_planted_patient_value_in_any_byte_written_or_sent(tmp_path, mosquitto):
    capture = _capture(tmp_path / "ward.pcap")
    secret = tmp_path / "hostname.secret"
    secret.write_bytes(b"site-secret-0123456789")
    secret.chmod(0o600)
    privacy = f'[privacy]\nhostname_hash_secret_file = "{secret}"\n[logging]\nlevel = "debug"\n'

    # 1. Delivered: every MQTT byte a subscriber gets, and the replay's logs.
    sensor = make_sensor(tmp_path / "live", mosquitto.url, extra_toml=privacy)
    subscriber = RawSubscriber(mosquitto.port)
    replay = _run("--debug", "replay", str(capture), "-c", str(sensor.config))
    assert replay.returncode == 0, replay.stderr.decode()
    broker_support.wait_until(lambda: any("/devices" in t for t in subscriber.topics), 10)
    sent = subscriber.stop()
    # 2. Spooled: the same replay towards a broker that is not there keeps everything.
    dead_url = f"mqtt://127.0.0.1:{broker_support.free_port()}"
    offline = make_sensor(tmp_path / "offline", dead_url, extra_toml=privacy)
    stuck = _run("replay", str(capture), "-c", str(offline.config), "--drain-timeout", "1")
    spooled = _spool_bytes(offline.spool)
    # 3. The local summary.
    flows = _run("flows", str(capture), "--json")
    assert flows.returncode == 0, flows.stderr.decode()

    places = {
        "mqtt": sent,
        "spool": spooled,
        "flows --json": flows.stdout,
        "logs": replay.stderr + replay.stdout + stuck.stderr + stuck.stdout + flows.stderr,
    }
    assert len(sent) > 1000 and len(spooled) > 1000, "nothing to search: the test is broken"
    assert any("/devices" in topic for topic in subscriber.topics)
    for place, data in places.items():
        for value in PATIENT_VALUES + CREDENTIAL_VALUES:
            assert value not in data, f"{value!r} leaked into {place}"
            assert value.lower() not in data.lower(), f"{value!r} (any case) leaked into {place}"
    # The positive control: allowed identifiers of devices do get out, in the same bytes.
    for place in ("mqtt", "spool"):
        for value in ALLOWED_VALUES:
            assert value in places[place], f"allowed {value!r} missing from {place}"
    assert b"hmac-sha256:" in sent  # the hostname went out, hashed
    assert b"dicom" in flows.stdout and b"hl7" in flows.stdout  # labels, not contents
