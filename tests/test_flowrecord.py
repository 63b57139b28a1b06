"""The flow record's JSON form: the contract's fields, uids, Community IDs."""

from __future__ import annotations

import re

from agent.flowrecord import FlowRecord, community_id, flow_uid

CONTRACT_FIELDS = [
    "ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "proto", "duration",
    "orig_pkts", "orig_ip_bytes", "resp_pkts", "resp_ip_bytes", "orig_bytes", "resp_bytes",
    "conn_state", "history", "community_id", "end_reason",
]  # fmt: skip


def record(**changes) -> FlowRecord:
    fields = dict(
        serial=7, ts_us=1_700_000_000_250_000, duration_us=1_500_000, proto=6,
        orig_addr=bytes([10, 0, 0, 1]), orig_port=40000, resp_addr=bytes([10, 0, 0, 2]),
        resp_port=104, vlan=None, inner_vlan=None, orig_pkts=10, orig_ip_bytes=1000,
        orig_bytes=500, resp_pkts=8, resp_ip_bytes=800, resp_bytes=300, orig_tcp_flags=0x1B,
        resp_tcp_flags=0x1B, conn_state="SF", history="ShADadFf", end_reason="end",
    )  # fmt: skip
    fields.update(changes)
    return FlowRecord(**fields)


def test_json_has_exactly_the_contract_fields_when_untagged_and_unlabelled():
    out = record().to_json(b"\x01" * 16)
    assert list(out) == CONTRACT_FIELDS
    assert out["ts"] == 1_700_000_000.25 and out["duration"] == 1.5
    assert out["proto"] == "tcp" and out["id.resp_h"] == "10.0.0.2"


def test_service_and_vlans_appear_only_when_known():
    out = record(service="dicom", vlan=30, inner_vlan=7).to_json(b"\x01" * 16)
    assert out["service"] == "dicom" and out["vlan"] == 30 and out["inner_vlan"] == 7
    assert list(out).index("service") == list(out).index("proto") + 1


def test_unknown_protocols_print_as_numbers_and_ipv6_as_text():
    out = record(proto=47, orig_addr=bytes(15) + b"\x01", resp_addr=bytes(15) + b"\x02")
    json = out.to_json(b"\x02" * 16)
    assert json["proto"] == 47 and json["id.orig_h"] == "::1"


def test_uid_is_zeek_shaped_stable_per_flow_and_salted_by_boot():
    boot_a, boot_b = b"a" * 16, b"b" * 16
    uid = flow_uid(boot_a, 41)
    assert re.fullmatch(r"C[0-9A-Za-z]{17}", uid)
    assert flow_uid(boot_a, 41) == uid
    assert flow_uid(boot_a, 42) != uid
    assert flow_uid(boot_b, 41) != uid
    assert len({flow_uid(boot_a, serial) for serial in range(5000)}) == 5000


def test_community_id_matches_the_specs_published_tcp_vector():
    # community-id-spec baseline: 128.232.110.120:34855 -> 66.35.250.204:80, TCP, seed 0.
    cid = community_id(6, bytes([128, 232, 110, 120]), 34855, bytes([66, 35, 250, 204]), 80)
    assert cid == "1:LQU9qZlK+B5F3KDmev6m5PMibrg="
    # Direction does not matter for a two-way protocol.
    assert cid == community_id(6, bytes([66, 35, 250, 204]), 80, bytes([128, 232, 110, 120]), 34855)
