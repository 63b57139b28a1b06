"""Golden captures: TCP conversations and the conn_state / history Zeek would give them.

Each test writes a small capture, runs it through the C engine and the reference
(the `summarize` fixture), and compares with flows written out by hand from
docs/flow-semantics.md. IPv4 TCP without options: 40 IP bytes + payload per segment.
"""

from __future__ import annotations

from pathlib import Path

from agent.flowrecord import FlowRecord
from tests.support.pcapgen import T0_US, at, ether, tcp, write_pcap
from tests.support.summarizers import (
    BOTH_SUMMARIZERS,
    assert_counters,
    assert_record,
    only_record,
)

pytestmark = BOTH_SUMMARIZERS

A, B = "10.1.0.1", "10.1.0.2"
CLIENT, SERVER = (A, 40000), (B, 104)  # DICOM's port, as a PACS would see it


def c2s(flags: str, payload: bytes = b"") -> bytes:
    return ether(tcp(A, B, 40000, 104, flags, payload))


def s2c(flags: str, payload: bytes = b"") -> bytes:
    return ether(tcp(B, A, 104, 40000, flags, payload))


def one_flow(tmp_path: Path, summarize, packets: list[bytes], step_s: float = 0.1) -> FlowRecord:
    frames = [at(i * step_s, packet) for i, packet in enumerate(packets)]
    summary = summarize(write_pcap(tmp_path / "tcp.pcap", frames))
    assert_counters(summary, packets_in_flows=len(packets), flows_created=1)
    return only_record(summary)


HANDSHAKE = [c2s("S"), s2c("SA"), c2s("A")]


def test_full_conversation_is_sf_with_zeek_history(tmp_path, summarize):
    record = one_flow(
        tmp_path,
        summarize,
        [
            *HANDSHAKE,
            c2s("PA", b"hello"),
            s2c("PA", b"world!"),
            c2s("FA"),
            s2c("FA"),
            c2s("A"),
        ],
    )
    assert_record(
        record,
        ts_us=T0_US,
        duration_us=700_000,
        proto=6,
        orig_addr=A,
        orig_port=40000,
        resp_addr=B,
        resp_port=104,
        vlan=None,
        inner_vlan=None,
        orig_pkts=5,
        orig_ip_bytes=5 * 40 + 5,
        orig_bytes=5,
        resp_pkts=3,
        resp_ip_bytes=3 * 40 + 6,
        resp_bytes=6,
        orig_tcp_flags=0x1B,  # FIN SYN PSH ACK
        resp_tcp_flags=0x1B,
        conn_state="SF",
        history="ShADdFf",
        end_reason="forced",
    )


def test_unanswered_syns_are_s0(tmp_path, summarize):
    record = one_flow(tmp_path, summarize, [c2s("S"), c2s("S"), c2s("S")], step_s=1.0)
    assert_record(
        record, conn_state="S0", history="S", orig_pkts=3, resp_pkts=0, duration_us=2_000_000
    )


def test_syn_answered_by_rst_is_rej(tmp_path, summarize):
    record = one_flow(tmp_path, summarize, [c2s("S"), s2c("RA")])
    assert_record(record, conn_state="REJ", history="Sr", orig_pkts=1, resp_pkts=1)


def test_originator_abort_after_handshake_is_rsto(tmp_path, summarize):
    record = one_flow(tmp_path, summarize, [*HANDSHAKE, c2s("R")])
    assert_record(record, conn_state="RSTO", history="ShAR")


def test_responder_abort_after_handshake_is_rstr(tmp_path, summarize):
    record = one_flow(tmp_path, summarize, [*HANDSHAKE, s2c("RA")])
    assert_record(record, conn_state="RSTR", history="ShAr")


def test_established_without_close_is_s1(tmp_path, summarize):
    record = one_flow(tmp_path, summarize, [*HANDSHAKE, c2s("PA", b"x" * 100), s2c("A")])
    assert_record(
        record, conn_state="S1", history="ShADa", orig_bytes=100, orig_ip_bytes=3 * 40 + 100
    )


def test_syn_then_fin_without_answer_is_sh(tmp_path, summarize):
    record = one_flow(tmp_path, summarize, [c2s("S"), c2s("F")])
    assert_record(record, conn_state="SH", history="SF")


def test_midstream_pickup_is_oth(tmp_path, summarize):
    record = one_flow(tmp_path, summarize, [c2s("PA", b"abc"), s2c("A"), c2s("PA", b"de")])
    assert_record(
        record,
        conn_state="OTH",
        history="Da",
        orig_addr=A,
        orig_port=40000,
        orig_pkts=2,
        orig_bytes=5,
    )


def test_syn_then_own_rst_is_rstos0(tmp_path, summarize):
    record = one_flow(tmp_path, summarize, [c2s("S"), c2s("R")])
    assert_record(record, conn_state="RSTOS0", history="SR")


def test_syn_ack_seen_first_flips_the_originator(tmp_path, summarize):
    # The capture starts at the server's SYN-ACK: the client is still the originator.
    record = one_flow(tmp_path, summarize, [s2c("SA"), c2s("A"), c2s("PA", b"q")])
    assert_record(
        record,
        orig_addr=A,
        orig_port=40000,
        resp_addr=B,
        resp_port=104,
        orig_pkts=2,
        resp_pkts=1,
        history="^hAD",
        conn_state="OTH",
    )


def test_responder_reset_of_a_partial_connection_is_rstrh(tmp_path, summarize):
    record = one_flow(tmp_path, summarize, [c2s("PA", b"data"), s2c("R")])
    assert_record(record, conn_state="RSTRH", history="Dr")


def test_responder_fin_of_a_partial_connection_is_shr(tmp_path, summarize):
    record = one_flow(tmp_path, summarize, [c2s("A"), s2c("FA")])
    assert_record(record, conn_state="SHR", history="Af")


def test_half_closes_after_handshake_are_s2_and_s3(tmp_path, summarize):
    s2 = one_flow(tmp_path, summarize, [*HANDSHAKE, c2s("FA")])
    assert_record(s2, conn_state="S2", history="ShAF")
    s3 = one_flow(tmp_path, summarize, [*HANDSHAKE, s2c("FA")])
    assert_record(s3, conn_state="S3", history="ShAf")


def test_resets_both_ways_without_payload_are_rej(tmp_path, summarize):
    record = one_flow(tmp_path, summarize, [c2s("R"), s2c("R")])
    assert_record(record, conn_state="REJ", history="Rr")


def test_syn_with_fin_records_q_and_closes(tmp_path, summarize):
    record = one_flow(tmp_path, summarize, [c2s("SF")])
    assert_record(record, conn_state="SH", history="SQF", orig_tcp_flags=0x03)


def test_rst_after_both_fins_leaves_sf(tmp_path, summarize):
    # CLOSED is final for an endpoint: the trailing RST shows in history only.
    record = one_flow(tmp_path, summarize, [*HANDSHAKE, c2s("FA"), s2c("FA"), c2s("R")])
    assert_record(record, conn_state="SF", history="ShAFfR")


def test_flagless_segment_changes_no_state(tmp_path, summarize):
    # Neither ACK nor data: the endpoint stays SYN_SENT, so the flow is still S0.
    record = one_flow(tmp_path, summarize, [c2s("S"), c2s("")])
    assert_record(record, conn_state="S0", history="S", orig_pkts=2)


def test_retransmitted_data_adds_each_letter_once(tmp_path, summarize):
    packets = [*HANDSHAKE, *[c2s("PA", b"z" * 10) for _ in range(5)], s2c("A")]
    record = one_flow(tmp_path, summarize, packets)
    assert_record(record, history="ShADa", orig_bytes=50, orig_pkts=7, resp_pkts=2)


def test_syn_ack_with_rst_seen_first_is_flipped_and_rstrh(tmp_path, summarize):
    record = one_flow(tmp_path, summarize, [s2c("SAR")])
    assert_record(record, orig_addr=A, resp_addr=B, history="^hqr", conn_state="RSTRH", resp_pkts=1)


def test_resets_both_ways_after_data_are_rstr(tmp_path, summarize):
    packets = [*HANDSHAKE, c2s("PA", b"x"), c2s("R"), s2c("R")]
    record = one_flow(tmp_path, summarize, packets)
    assert_record(record, conn_state="RSTR", history="ShADRr")


def test_community_id_of_the_published_tcp_vector(tmp_path, summarize):
    frames = [
        at(0.0, ether(tcp("1.2.3.4", "5.6.7.8", 1122, 3344, "S"))),
        at(0.1, ether(tcp("5.6.7.8", "1.2.3.4", 3344, 1122, "SA"))),
    ]
    record = only_record(summarize(write_pcap(tmp_path / "cid.pcap", frames)))
    assert record.to_json(bytes(16))["community_id"] == "1:wCb3OG7yAFWelaUydu0D+125CLM="
