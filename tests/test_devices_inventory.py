"""agent/devices.py: device records for the wire, OUI vendors, hostname hashing, JA4."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.devices import (
    HASH_PREFIX,
    OWN_SECRET_NAME,
    DeviceInventory,
    HostnameHasher,
    NamePrivacy,
    OuiRegistry,
    ja4_from_raw,
)
from agent.engine import DeviceEvent, DeviceState
from agent.errors import UsageError
from agent.wire import BatchInfo, SensorIdentity, decode_payload, encode_devices

CDDL = Path(__file__).resolve().parent.parent / "docs" / "summary.cddl"
MAC = bytes.fromhex("001a5c000038")
IDENTITY = SensorIdentity("wing4b-01", "st-mary", "4b", bytes(16))
BATCH = BatchInfo(3, 1_000, 2_000)


def _state(mac: bytes = MAC, **kw) -> DeviceState:
    values = dict(
        mac=mac,
        first_seen_us=1_700_000_000_000_000,
        last_seen_us=1_700_000_001_000_000,
        pkts_sent=10,
        bytes_sent=1000,
        pkts_received=8,
        bytes_received=900,
        ipv4=(bytes([10, 4, 2, 38]),),
        ipv6=(),
        vlans=(40,),
        services=((6, 104),),
        peers_estimate=3,
        protocols=["dicom"],
        hl7_messages=0,
        is_new=True,
    )
    values.update(kw)
    return DeviceState(**values)


def _event(kind: str, value: bytes, mac: bytes = MAC) -> DeviceEvent:
    return DeviceEvent(mac, 1_700_000_000_000_000, kind, value)


def test_new_then_update_then_nothing_when_nothing_changed():
    inventory = DeviceInventory(16, oui=OuiRegistry(Path("/nonexistent")))
    first = inventory.absorb([_event("dicom_ae_title", b"CT_4B_01")], [_state()])
    assert [d["change"] for d in first] == ["new"]
    assert first[0]["fingerprints"] == {"dicom_ae_title": ["CT_4B_01"]}
    assert first[0]["services"] == ["tcp/104"] and first[0]["ipv4"] == ["10.4.2.38"]
    assert inventory.absorb([_event("dicom_ae_title", b"CT_4B_01")], []) == []  # known value
    second = inventory.absorb([_event("dicom_modality", b"CT")], [])
    assert [d["change"] for d in second] == ["update"]
    assert second[0]["fingerprints"]["dicom_modality"] == ["CT"]


def test_only_allowlisted_kinds_are_kept_and_ja4_replaces_its_inputs():
    inventory = DeviceInventory(16, oui=OuiRegistry(Path("/nonexistent")))
    raw = b"t13d|6832|1301,1302|0000,0010,000a|0403"
    out = inventory.absorb([_event("tls_ja4_raw", raw), _event("pid_segment", b"DOE^JANE")], [])
    fingerprints = out[0]["fingerprints"]
    assert set(fingerprints) == {"tls_ja4"}
    assert fingerprints["tls_ja4"] == [ja4_from_raw(raw.decode())]


def test_control_characters_are_removed_and_values_bounded():
    inventory = DeviceInventory(16, oui=OuiRegistry(Path("/nonexistent")))
    out = inventory.absorb([_event("http_user_agent", b"Agent\x00\x1b[31m/1" + b"x" * 900)], [])
    value = out[0]["fingerprints"]["http_user_agent"][0]
    assert value.startswith("Agent[31m/1") and len(value) == 256


def test_hostnames_are_hashed_with_the_site_secret(tmp_path):
    secret = tmp_path / "hostname.secret"
    secret.write_bytes(b"0123456789abcdef0123")
    hasher = HostnameHasher.from_file(secret)
    inventory = DeviceInventory(16, hasher=hasher, oui=OuiRegistry(Path("/nonexistent")))
    out = inventory.absorb([_event("dhcp_hostname", b"ICU4-JSMITH-PC")], [])
    shipped = out[0]["fingerprints"]["dhcp_hostname"][0]
    assert shipped.startswith(HASH_PREFIX) and "JSMITH" not in shipped
    assert shipped == hasher("icu4-jsmith-pc")  # case-insensitive: same host, same hash
    other = HostnameHasher(b"another-site-secret!")
    assert other("ICU4-JSMITH-PC") != shipped


def test_a_short_or_missing_secret_is_a_usage_error(tmp_path):
    short = tmp_path / "short.secret"
    short.write_bytes(b"tiny")
    with pytest.raises(UsageError, match="at least 16 bytes"):
        HostnameHasher.from_file(short)
    with pytest.raises(UsageError, match="cannot read"):
        HostnameHasher.from_file(tmp_path / "missing.secret")


def test_oui_vendor_from_the_ieee_registry(tmp_path):
    registry = tmp_path / "oui.txt"
    registry.write_text(
        "00-1A-5C   (hex)\t\tCareFusion Example\n001A5C     (base 16)\t\tCareFusion Example\n"
    )
    oui = OuiRegistry(registry)
    assert oui.vendor(MAC) == "CareFusion Example"
    assert oui.vendor(bytes.fromhex("021a5c000038")) is None  # locally administered
    assert OuiRegistry(tmp_path / "absent.txt").vendor(MAC) is None


def test_oui_lookup_never_matches_across_two_registered_prefixes(tmp_path):
    registry = tmp_path / "oui.txt"
    registry.write_text("00A8B0     (base 16)\t\tFirst\nC0D0E0     (base 16)\t\tSecond\n")
    oui = OuiRegistry(registry)
    assert oui.vendor(bytes.fromhex("c0d0e0000001")) == "Second"
    assert oui.vendor(bytes.fromhex("00a8b0000001")) == "First"
    # Packed, the two read 00a8b0c0d0e0: neither straddling triple is a registered prefix.
    assert oui.vendor(bytes.fromhex("a8b0c0000001")) is None
    assert oui.vendor(bytes.fromhex("b0c0d0000001")) is None


@pytest.mark.skipif(not Path("/usr/share/ieee-data/oui.txt").exists(), reason="no ieee-data")
def test_the_system_registry_knows_a_real_vendor():
    assert OuiRegistry().vendor(bytes.fromhex("00005e000101")) == "ICANN, IANA Department"


def test_inventory_memory_is_bounded():
    inventory = DeviceInventory(3, oui=OuiRegistry(Path("/nonexistent")))
    for i in range(5):
        inventory.absorb([_event("dicom_ae_title", b"AE", mac=bytes([0, 0, 0, 0, 0, i]))], [])
    assert len(inventory) == 3 and inventory.evicted == 2


def test_snapshot_lists_every_device_and_all_maps_meet_the_cddl():
    pycddl = pytest.importorskip("pycddl", reason="pycddl (test extra) is not installed")
    schema = pycddl.Schema(CDDL.read_text())
    inventory = DeviceInventory(16, oui=OuiRegistry(Path("/nonexistent")))
    inventory.absorb([_event("hl7_version", b"2.5.1")], [_state(hl7_messages=4)])
    snapshot = inventory.snapshot(
        [_state(), _state(mac=bytes(5) + b"\x01", ipv6=(bytes(15) + b"\x01",))]
    )
    assert [d["change"] for d in snapshot] == ["snapshot", "snapshot"]
    payload = encode_devices(snapshot, IDENTITY, BATCH)
    schema.validate_cbor(payload)
    decoded = decode_payload(payload)
    assert decoded.devices[1]["fingerprints"] == {"hl7_version": ["2.5.1"]}
    bad = dict(snapshot[0], vlans=[5000])
    with pytest.raises(pycddl.ValidationError):
        schema.validate_cbor(encode_devices([bad], IDENTITY, BATCH))


def test_ja4_alpn_that_is_not_alphanumeric_uses_hex_digits():
    assert ja4_from_raw("t12i|0a2f|c02b||")[:10] == "t12i0100" + "02"[0] + "f"
    assert ja4_from_raw("t12i||c02b||")[:10] == "t12i010000"  # no ALPN: "00"
    assert ja4_from_raw("t12i||||").endswith("_000000000000_000000000000")
    assert ja4_from_raw("garbage") is None


def _shipped(inventory: DeviceInventory, kind: str, value: bytes) -> list[str] | None:
    out = inventory.absorb([_event(kind, value)], [])
    return out[0]["fingerprints"].get(kind) if out else None


def test_names_are_hashed_by_default_and_classification_fields_stay_clear():
    inventory = DeviceInventory(16, oui=OuiRegistry(Path("/nonexistent")))
    for kind in ("dhcp_hostname", "dhcp_client_id", "lldp_system_name", "cdp_device_id"):
        shipped = _shipped(inventory, kind, b"ICU4-JSMITH-PC")
        assert shipped is not None and shipped[0].startswith(HASH_PREFIX), kind
        assert "JSMITH" not in shipped[0].upper()
    for kind, value in (
        ("dhcp_vendor_class", b"CareFusion Alaris"),
        ("lldp_system_description", b"Philips IntelliVue MX800"),
        ("cdp_platform", b"cisco WS-C2960"),
        ("tls_sni", b"ehr.stmary.example"),
        ("http_user_agent", b"Alaris/9.19"),
    ):
        assert _shipped(inventory, kind, value) == [value.decode()], kind


def test_sni_and_user_agent_can_be_hashed_or_dropped_and_hostnames_kept_clear():
    hasher = HostnameHasher(b"0123456789abcdef0123")
    privacy = NamePrivacy(hostnames="clear", tls_sni="hash", http_user_agent="drop")
    inventory = DeviceInventory(16, hasher, OuiRegistry(Path("/nonexistent")), privacy)
    assert _shipped(inventory, "dhcp_hostname", b"PUMP-17") == ["PUMP-17"]
    assert _shipped(inventory, "tls_sni", b"ehr.stmary.example") == [hasher("ehr.stmary.example")]
    assert _shipped(inventory, "http_user_agent", b"Alaris/9.19") is None


def test_a_sensor_without_a_site_secret_makes_its_own_once_and_says_so(tmp_path, caplog):
    first, source = HostnameHasher.for_sensor(None, tmp_path)
    own = tmp_path / OWN_SECRET_NAME
    assert source == "own" and own.exists()
    assert own.stat().st_mode & 0o777 == 0o600
    assert "no site secret" in caplog.text
    again, _ = HostnameHasher.for_sensor(None, tmp_path)
    assert again("PUMP-17") == first("PUMP-17"), "the same secret across restarts"
    site_file = tmp_path / "site.secret"
    site_file.write_bytes(b"a-site-secret-of-some-length")
    site, source = HostnameHasher.for_sensor(site_file, tmp_path)
    assert source == "site" and site("PUMP-17") != first("PUMP-17")
