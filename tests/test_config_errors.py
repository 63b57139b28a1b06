"""Every class of configuration error: one line naming the file that set the key, the key,
what is wrong and what would be right. And all of them at once."""

from __future__ import annotations

import datetime
import os
import pwd
import subprocess
from pathlib import Path

import pytest

from tests.support.certs import make_pki
from tests.test_config_support import ConfigDir, make_config_dir, run_cli


@pytest.fixture
def config_dir(tmp_path: Path) -> ConfigDir:
    return make_config_dir(tmp_path)


def _with(config_dir: ConfigDir, old: str, new: str) -> Path:
    text = config_dir.main.read_text()
    assert old in text
    return config_dir.write(text.replace(old, new))


# ---- keys and sections --------------------------------------------------------------


def test_misspelt_key_is_an_error_with_did_you_mean(config_dir: ConfigDir) -> None:
    path = config_dir.drop_in("10.toml", "[flows]\nmax_flow = 1000\n")
    assert config_dir.errors() == [
        f"{path}: flows.max_flow: unknown key; did you mean flows.max_flows?"
    ]


def test_key_in_the_wrong_section_names_the_right_one(config_dir: ConfigDir) -> None:
    path = config_dir.drop_in("10.toml", "[mqtt]\ninterval_s = 30\n")
    assert config_dir.errors() == [
        f"{path}: mqtt.interval_s: unknown key in [mqtt]; interval_s belongs under [health]"
    ]


def test_unknown_key_without_a_close_match_lists_the_section_keys(config_dir: ConfigDir) -> None:
    path = config_dir.drop_in("10.toml", "[batch]\nzzz = 1\n")
    assert config_dir.errors() == [
        f"{path}: batch.zzz: unknown key; the keys of [batch] are: window_s, max_records"
    ]


def test_misspelt_section_is_an_error_with_did_you_mean(config_dir: ConfigDir) -> None:
    path = config_dir.drop_in("10.toml", "[helth]\ninterval_s = 30\n")
    assert config_dir.errors() == [f"{path}: [helth]: unknown section; did you mean [health]?"]


def test_key_outside_any_section_names_its_section(config_dir: ConfigDir) -> None:
    path = config_dir.write('interfaces = ["eth1"]\n' + config_dir.main.read_text())
    assert config_dir.errors() == [
        f"{path}: interfaces: is outside any section; put it under [capture]"
    ]


def test_qos_is_refused_with_the_reason(config_dir: ConfigDir) -> None:
    path = config_dir.drop_in("10.toml", "[mqtt]\nqos = 0\n")
    assert config_dir.errors() == [
        f"{path}: mqtt.qos: not a setting: QoS is fixed at 1 (at least once, with the spool "
        "behind it); remove this key"
    ]


def test_password_in_the_config_is_refused_without_repeating_it(config_dir: ConfigDir) -> None:
    path = config_dir.drop_in("10.toml", '[mqtt]\nusername = "u"\npassword = "hunter2"\n')
    assert config_dir.errors() == [
        f"{path}: mqtt.password: not a setting: passwords are not written into the "
        "configuration; put it in a file readable only by the agent and set password_file"
    ]


def test_typo_in_agent_toml_is_reported_even_when_a_drop_in_sets_the_key(
    config_dir: ConfigDir,
) -> None:
    path = _with(config_dir, "[spool]", '[spool]\non_full = "drop_olddest"')
    config_dir.drop_in("10.toml", '[spool]\non_full = "drop_oldest"\n')
    assert config_dir.errors() == [
        f'{path}: spool.on_full: "drop_olddest" is not allowed; '
        'use one of "drop_oldest", "drop_newest"'
    ]


# ---- values -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            '[flows]\nmax_flows = "lots"',
            'flows.max_flows: expected a whole number, got the string "lots"; '
            "write max_flows = 65536",
        ),
        (
            "[flows]\nmax_flows = true",
            "flows.max_flows: expected a whole number, got true; write max_flows = 65536",
        ),
        (
            "[capture]\npromiscuous = 1",
            "capture.promiscuous: expected true or false, got 1; write promiscuous = true",
        ),
        (
            "[mqtt]\nprotocol = 5",
            'mqtt.protocol: expected a string in quotes, got 5; write protocol = "5"',
        ),
        (
            '[capture]\ninterfaces = "eth1"',
            'capture.interfaces: expected a list of strings, got the string "eth1"; '
            'write interfaces = ["eth1"]',
        ),
        (
            '[spool]\nmax_bytes = "lots"',
            "spool.max_bytes: expected a size in bytes (a whole number, or a string such as "
            '"256 MiB"), got the string "lots"; write max_bytes = 268435456',
        ),
        (
            "[flows]\nmax_flows = 10",
            "flows.max_flows: 10 is out of range; use a value from 1024 to 4194304",
        ),
        (
            "[batch]\nwindow_s = 0.5",
            "batch.window_s: 0.5 is out of range; use a value from 1 to 3600",
        ),
        (
            "[flows]\ntcp_idle_timeout_s = inf",
            "flows.tcp_idle_timeout_s: inf is out of range; use a value from 1 to 86400",
        ),
        (
            '[logging]\nlevel = "verbose"',
            'logging.level: "verbose" is not allowed; '
            'use one of "debug", "info", "warning", "error"',
        ),
        (
            '[sensor]\nwing = "4b/icu"',
            "sensor.wing: \"4b/icu\" cannot be used in a topic; use 1 to 64 letters, digits, '.', "
            "'_' or '-', starting with a letter or digit",
        ),
        (
            '[mqtt]\ntopic_prefix = "iomt/#"',
            'mqtt.topic_prefix: "iomt/#" is not a valid topic prefix; use levels of letters, '
            "digits, '.', '_' or '-' separated by '/', with no leading or trailing '/' and no "
            "'+' or '#'",
        ),
        (
            "[capture]\ninterfaces = []",
            "capture.interfaces: the list is empty; "
            'name at least one capture interface, e.g. ["eth1"]',
        ),
        (
            '[capture]\ninterfaces = ["lo", "lo"]',
            "capture.interfaces: lo listed twice; name each interface once",
        ),
    ],
)
def test_wrong_type_or_range_names_file_key_and_a_right_value(
    config_dir: ConfigDir, line: str, message: str
) -> None:
    path = config_dir.drop_in("10.toml", line + "\n")
    assert config_dir.errors() == [f"{path}: {message}"]


def test_missing_required_keys_are_named_with_a_line_to_add(config_dir: ConfigDir) -> None:
    path = _with(config_dir, 'id = "anne4b-01"\n', "")
    text = path.read_text()
    path.write_text(text.replace('url = "mqtt://127.0.0.1:1883"\n', ""))
    assert config_dir.errors() == [
        f"{path}: sensor.id: required key is missing; "
        'add a line such as id = "wing4b-01" under [sensor]',
        f"{path}: mqtt.url: required key is missing; "
        'add a line such as url = "mqtts://broker.example:8883" under [mqtt]',
    ]


# ---- files --------------------------------------------------------------------------


def test_invalid_toml_names_the_file_line_and_column(config_dir: ConfigDir) -> None:
    path = config_dir.drop_in("10.toml", "[mqtt]\nkeepalive_s = = 5\n")
    assert config_dir.errors() == [
        f"{path}: is not valid TOML: Invalid value (at line 2, column 15); fix the syntax there"
    ]


def test_missing_config_is_one_error_not_a_list_of_missing_keys(tmp_path: Path) -> None:
    result = run_cli("check-config", "-c", str(tmp_path / "nowhere" / "agent.toml"))
    assert result.returncode == 2
    assert result.stderr.splitlines()[0] == (
        f"{tmp_path}/nowhere/agent.toml: does not exist; give -c the configuration "
        "directory (e.g. /etc/iomt-agent) or its agent.toml"
    )
    assert len(result.stderr.splitlines()) == 2  # the error and the count


def test_unreadable_config_file_is_named(config_dir: ConfigDir) -> None:
    path = config_dir.drop_in("10.toml", "[health]\ninterval_s = 30\n")
    path.chmod(0o000)
    result = run_cli("check-config", "-c", str(config_dir.root), drop_root_file_access=True)
    assert result.returncode == 2, result.stdout
    assert f"{path}: cannot be read (permission denied); run as root or chmod 640 it" in (
        result.stderr.splitlines()
    )
    assert "Traceback" not in result.stderr


def test_signing_key_readable_by_others_says_chmod_600(config_dir: ConfigDir) -> None:
    config_dir.key.chmod(0o644)
    assert config_dir.errors() == [
        f"{config_dir.main}: signing.key: {config_dir.key} can be read by group or others "
        f"(mode 0644); run chmod 600 {config_dir.key}"
    ]


def test_password_file_readable_by_group_says_chmod_600(config_dir: ConfigDir) -> None:
    secret = config_dir.secret("mqtt.password", mode=0o640)
    path = config_dir.drop_in(
        "10.toml", f'[mqtt]\nusername = "sensor"\npassword_file = "{secret}"\n'
    )
    assert config_dir.errors() == [
        f"{path}: mqtt.password_file: {secret} can be read by group or others (mode 0640); "
        f"run chmod 600 {secret}"
    ]


def test_missing_key_file_is_named(config_dir: ConfigDir) -> None:
    path = config_dir.drop_in("10.toml", '[signing]\nkey = "/nonexistent/sensor.key"\n')
    assert config_dir.errors() == [
        f"{path}: signing.key: /nonexistent/sensor.key does not exist; check the path or "
        "create the file"
    ]


def test_signing_key_that_is_not_a_key_is_refused(config_dir: ConfigDir) -> None:
    config_dir.key.write_text("not a key\n")
    assert config_dir.errors() == [
        f"{config_dir.main}: signing.key: {config_dir.key} is not an unencrypted PEM private "
        "key (make one with iomt-agent keygen)"
    ]


def test_short_hostname_hash_secret_is_refused(config_dir: ConfigDir) -> None:
    secret = config_dir.secret("hostname.secret", content="short")
    path = config_dir.drop_in("10.toml", f'[privacy]\nhostname_hash_secret_file = "{secret}"\n')
    assert config_dir.errors() == [
        f"{path}: privacy.hostname_hash_secret_file: {secret} holds 5 bytes; a hash secret "
        f"needs at least 16 (e.g. head -c 32 /dev/urandom > {secret})"
    ]


# ---- host ---------------------------------------------------------------------------


@pytest.fixture
def span_port():
    """A veth pair whose first end, without an address, stands for a SPAN port (root)."""
    if os.geteuid() != 0:
        pytest.skip("creating a veth pair needs root")
    name = f"sp{os.getpid() % 100000}ab"  # ends in two different letters
    subprocess.run(
        ["ip", "link", "add", name, "type", "veth", "peer", "name", name + "p"], check=True
    )
    try:
        yield name
    finally:
        subprocess.run(["ip", "link", "del", name], check=False)


def test_interface_that_does_not_exist_is_named_with_a_suggestion(
    config_dir: ConfigDir, span_port: str
) -> None:
    typo = span_port[:-2] + span_port[-1] + span_port[-2]  # two letters swapped
    path = _with(config_dir, '["lo"]', f'["{typo}"]')
    [error] = config_dir.errors()
    assert error.startswith(
        f"{path}: capture.interfaces: interface {typo} does not exist on this host; "
        f"did you mean {span_port}? SPAN port candidates here: "
    )
    assert "capture.optional_interfaces" in error  # how to say "it appears later"


def test_the_management_port_and_lo_are_never_suggested(config_dir: ConfigDir) -> None:
    _with(config_dir, '["lo"]', '["lo0"]')
    [error] = config_dir.errors()
    assert "does not exist" in error and "did you mean" not in error


def test_lo_and_an_addressed_interface_are_refused_as_span_ports(
    config_dir: ConfigDir, span_port: str
) -> None:
    subprocess.run(["ip", "addr", "add", "192.0.2.77/32", "dev", span_port], check=True)
    path = _with(config_dir, "allow_management_interfaces = true\n", "")
    _with(config_dir, '["lo"]', f'["lo", "{span_port}"]')
    assert config_dir.errors() == [
        f"{path}: capture.interfaces: lo is not a SPAN port: the loopback interface; name the "
        "mirror port, or set capture.allow_management_interfaces = true to capture here anyway",
        f"{path}: capture.interfaces: {span_port} is not a SPAN port: it has the address "
        "192.0.2.77; name the mirror port, or set capture.allow_management_interfaces = true "
        "to capture here anyway",
    ]


def test_an_optional_interface_may_be_missing_and_must_be_listed(config_dir: ConfigDir) -> None:
    path = _with(config_dir, '["lo"]', '["lo", "usbeth9"]\noptional_interfaces = ["usbeth9"]')
    config = config_dir.load()
    assert config.capture.optional_interfaces == ("usbeth9",)
    assert any(
        "usbeth9 does not exist on this host yet; it is optional" in w for w in config.warnings
    )
    _with(config_dir, 'optional_interfaces = ["usbeth9"]', 'optional_interfaces = ["wlan7"]')
    assert f"{path}: capture.optional_interfaces: wlan7 is not in capture.interfaces" in (
        " ".join(config_dir.errors())
    )


def test_spool_dir_under_a_file_cannot_be_created(config_dir: ConfigDir, tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    path = config_dir.drop_in("10.toml", f'[spool]\ndir = "{blocker}/spool"\n')
    assert config_dir.errors() == [
        f"{path}: spool.dir: {blocker}/spool cannot be created: {blocker}: not a directory; "
        "choose a directory the agent may write (the service's own is "
        "/var/lib/iomt-agent/spool)"
    ]


def test_spool_dir_that_is_a_file_is_refused(config_dir: ConfigDir, tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    path = config_dir.drop_in("10.toml", f'[spool]\ndir = "{blocker}"\n')
    assert config_dir.errors() == [f"{path}: spool.dir: {blocker} exists but is not a directory"]


def test_read_only_spool_dir_is_refused_even_for_root(config_dir: ConfigDir) -> None:
    config_dir.spool.mkdir(parents=True)
    config_dir.spool.chmod(0o500)
    result = run_cli("check-config", "-c", str(config_dir.root), drop_root_file_access=True)
    assert result.returncode == 2
    assert result.stderr.splitlines()[0] == (
        f"{config_dir.main}: spool.dir: {config_dir.spool} is not writable: {config_dir.spool}: "
        "permission denied; choose a directory the agent may write (the service's own is "
        "/var/lib/iomt-agent/spool)"
    )


# ---- broker -------------------------------------------------------------------------


def test_plain_mqtt_to_another_host_is_a_warning_not_an_error(config_dir: ConfigDir) -> None:
    path = config_dir.drop_in("10.toml", '[mqtt]\nurl = "mqtt://broker.st-anne.org:1883"\n')
    assert config_dir.load().warnings == (
        f"{path}: mqtt.url: mqtt://broker.st-anne.org:1883 is plain TCP to another host: summaries "
        "and the password cross the network unencrypted; use mqtts:// (port 8883)",
    )


def test_plain_mqtt_to_this_host_is_not_warned_about(config_dir: ConfigDir) -> None:
    config_dir.drop_in(
        "10.toml", '[mqtt]\nfailover_urls = ["mqtt://localhost", "mqtt://[::1]:1884"]\n'
    )
    assert config_dir.load().warnings == ()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "http://broker.example",
            "http://broker.example has scheme http; use mqtts://HOST:8883 (TLS) or "
            "mqtt://HOST:1883 (plain TCP)",
        ),
        (
            "mqtts://user:pw@broker.example",
            "the URL holds a user name or password, which would end up in logs; remove it "
            "and set username and password_file instead",
        ),
        (
            "mqtts://broker.example:99999",
            "mqtts://broker.example:99999 is not a valid URL (Port out of range 0-65535); "
            "write e.g. mqtts://broker.example:8883",
        ),
        ("mqtts://", "mqtts:// names no host; write e.g. mqtts://broker.example:8883"),
    ],
)
def test_bad_broker_url_says_how_to_write_it(config_dir: ConfigDir, url: str, message: str) -> None:
    path = config_dir.drop_in("10.toml", f'[mqtt]\nurl = "{url}"\n')
    assert config_dir.errors() == [f"{path}: mqtt.url: {message}"]
    assert "pw@" not in message or "user:pw" in url  # the message never repeats a password


def test_client_certificate_without_its_key_is_an_error(config_dir: ConfigDir) -> None:
    cert = config_dir.secret("client.pem", mode=0o644)
    path = config_dir.drop_in(
        "10.toml", f'[mqtt]\nurl = "mqtts://127.0.0.1"\ncert_file = "{cert}"\n'
    )
    assert config_dir.errors() == [
        f"{path}: mqtt.cert_file: is set without mqtt.key_file; set both or neither"
    ]


def test_tls_files_with_only_plain_urls_would_do_nothing(config_dir: ConfigDir) -> None:
    ca = config_dir.secret("ca.pem", mode=0o644)
    path = config_dir.drop_in("10.toml", f'[mqtt]\nca_file = "{ca}"\n')
    assert config_dir.errors() == [
        f"{path}: mqtt.ca_file: is set but every broker URL is mqtt:// (no TLS), so it would "
        "do nothing; use mqtts:// URLs or remove it"
    ]


def test_password_without_user_name_is_an_error(config_dir: ConfigDir) -> None:
    secret = config_dir.secret("pw")
    path = config_dir.drop_in("10.toml", f'[mqtt]\npassword_file = "{secret}"\n')
    assert config_dir.errors() == [
        f"{path}: mqtt.password_file: is set without mqtt.username; set the user name the "
        "password belongs to"
    ]


def test_message_expiry_needs_mqtt_5(config_dir: ConfigDir) -> None:
    path = config_dir.drop_in("10.toml", '[mqtt]\nprotocol = "3.1.1"\nmessage_expiry_s = 60\n')
    assert config_dir.errors() == [
        f'{path}: mqtt.message_expiry_s: needs MQTT 5, but mqtt.protocol is "3.1.1"; set '
        'protocol = "5" or message_expiry_s = 0'
    ]


# ---- broker TLS files --------------------------------------------------------------


def _tls_drop_in(config_dir: ConfigDir, cert: Path, key: Path, ca: Path | None = None) -> Path:
    ca_line = f'ca_file = "{ca}"\n' if ca else ""
    return config_dir.drop_in(
        "10.toml",
        f'[mqtt]\nurl = "mqtts://127.0.0.1"\ncert_file = "{cert}"\nkey_file = "{key}"\n{ca_line}',
    )


def test_client_key_of_another_certificate_is_refused(
    config_dir: ConfigDir, tmp_path: Path
) -> None:
    pki = make_pki(tmp_path / "pki")
    cert, _ = pki.client("wing4b-01")
    _, other_key = pki.client("someone-else")
    path = _tls_drop_in(config_dir, cert, other_key, pki.ca_cert)
    assert config_dir.errors() == [
        f"{path}: mqtt.key_file: {other_key} does not belong to the certificate in {cert}; "
        "name the key the certificate was issued for"
    ]


def test_ca_file_without_a_certificate_is_refused(config_dir: ConfigDir, tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki")
    cert, key = pki.client("wing4b-01")
    path = _tls_drop_in(config_dir, cert, key, ca=pki.ca_key.with_name("ca.key.copy"))
    pki.ca_key.with_name("ca.key.copy").write_text("not a certificate\n")
    assert config_dir.errors() == [
        f"{path}: mqtt.ca_file: {pki.ca_key.with_name('ca.key.copy')} holds no PEM "
        "certificate; name the CA certificate file (-----BEGIN CERTIFICATE-----)"
    ]


def test_expired_client_certificate_is_a_warning(config_dir: ConfigDir, tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path, days_ago_expired=3)
    path = _tls_drop_in(config_dir, cert, key)
    warnings = config_dir.load().warnings
    expired = (datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=3)).date()
    assert warnings == (
        f"{path}: mqtt.cert_file: {cert} expired on {expired:%Y-%m-%d} (if this box's clock "
        "is right); the broker will refuse it: install a renewed certificate",
    )


def _self_signed(directory: Path, days_ago_expired: int) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "expired")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - datetime.timedelta(days=30))
        .not_valid_after(now - datetime.timedelta(days=days_ago_expired))
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / "expired.pem", directory / "expired.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path


def test_capture_filter_that_libpcap_rejects_is_an_error(config_dir: ConfigDir) -> None:
    path = config_dir.drop_in("10.toml", '[capture]\nbpf_filter = "not hots 10.1.2.3"\n')
    assert config_dir.errors() == [
        f'{path}: capture.bpf_filter: "not hots 10.1.2.3" is not a valid capture filter '
        "(libpcap: can't parse filter expression: syntax error); use tcpdump syntax, e.g. "
        '"not host 10.1.2.3"'
    ]


def test_capture_filter_in_tcpdump_syntax_is_accepted(config_dir: ConfigDir) -> None:
    config_dir.drop_in("10.toml", '[capture]\nbpf_filter = "not host 10.1.2.3 and not port 22"\n')
    assert config_dir.load().capture.bpf_filter == "not host 10.1.2.3 and not port 22"


# ---- all at once --------------------------------------------------------------------


def test_every_error_is_reported_at_once_grouped_by_file(config_dir: ConfigDir) -> None:
    config_dir.key.chmod(0o640)
    main = _with(config_dir, '["lo"]', '["lo", "nosuch9"]')
    _with(config_dir, 'site = "st-anne"', 'site = 7\nsite_name = "x"')
    first = config_dir.drop_in("10.toml", "[flows]\nmax_flows = 5\n[batch]\nwindow_s = true\n")
    second = config_dir.drop_in("20.toml", '[spool]\non_full = "panic"\n[mqtt\n')
    errors = config_dir.errors()
    assert [line.split(": ")[:2] for line in errors] == [
        [str(main), "sensor.site"],
        [str(main), "sensor.site_name"],
        [str(main), "signing.key"],
        [str(main), "capture.interfaces"],
        [str(first), "flows.max_flows"],
        [str(first), "batch.window_s"],
        [str(second), "is not valid TOML"],
    ]


def test_secret_the_service_user_cannot_read_says_chown(config_dir: ConfigDir) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to hand the key to another user")
    from agent.config.host import check_service_user_access
    from agent.config.problems import Problems
    from agent.config.values import Setting

    # `nobody` stands in for the service user iomt-agent (which this machine lacks).
    settings = {("signing", "key"): Setting(config_dir.key, config_dir.main)}
    problems = Problems()
    check_service_user_access(settings, problems, "nobody")
    owner = config_dir.key.owner()
    assert [str(problem) for problem in problems.errors] == [
        f"{config_dir.main}: signing.key: {config_dir.key} is owned by {owner} with mode 0600, "
        f"so the service user nobody cannot read it; run chown nobody: {config_dir.key}"
    ]
    os.chown(config_dir.key, pwd.getpwnam("nobody").pw_uid, -1)
    problems = Problems()
    check_service_user_access(settings, problems, "nobody")
    assert problems.errors == []


def test_site_and_wing_with_capitals_are_refused_with_the_lower_case_fix(
    config_dir: ConfigDir,
) -> None:
    _with(config_dir, 'site = "st-anne"', 'site = "St-Anne"')
    path = _with(config_dir, 'wing = "4b"', 'wing = "4B"')
    assert config_dir.errors() == [
        f'{path}: sensor.site: "St-Anne" has capital letters; topic levels are case-sensitive, '
        'so it would not match the other sensors of the site: write "st-anne"',
        f'{path}: sensor.wing: "4B" has capital letters; topic levels are case-sensitive, '
        'so it would not match the other sensors of the wing: write "4b"',
    ]
