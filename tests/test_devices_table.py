"""The engine's device table: learning, services, peers, VLANs, fixed memory, eviction."""

from __future__ import annotations

import pytest

from agent.engine import Engine, EngineSettings
from agent.errors import UsageError
from tests.support import medical as m
from tests.support.devicerun import run_devices

PUMP = m.Host("00:1a:5c:00:00:38", "10.4.2.38")
SERVER = m.Host("00:50:56:00:00:42", "10.9.0.42")


def test_counts_traffic_both_ways_and_records_first_and_last_seen(tmp_path):
    cap = m.CaptureBuilder()
    cap.tcp_session(PUMP, SERVER, 50000, 2575, [("c", b"x" * 10), ("s", b"y" * 5)])
    run = run_devices(cap.write(tmp_path / "count.pcap"))
    pump, server = run.device(PUMP.mac), run.device(SERVER.mac)
    assert (pump.pkts_sent, server.pkts_sent) == (4, 3)
    assert pump.pkts_received == server.pkts_sent  # every frame to it is counted
    assert pump.bytes_sent == sum(
        len(f.data) for f in cap.frames if f.data[6:12] == m.mac_bytes(PUMP.mac)
    )
    assert pump.first_seen_us == cap.frames[0].ts_us
    assert pump.last_seen_us == cap.frames[-2].ts_us  # its FIN; the server sent the last
    assert pump.ipv4 == (bytes([10, 4, 2, 38]),)


def test_a_service_is_a_port_the_device_answered_on(tmp_path):
    cap = m.CaptureBuilder()
    cap.tcp_session(PUMP, SERVER, 50000, 443, [])
    cap.udp(PUMP, SERVER, 50001, 514, b"syslog line")  # no answer: not a service
    cap.udp(PUMP, SERVER, 50002, 161, b"get")
    cap.udp(SERVER, PUMP, 161, 50002, b"response")
    cap.tcp_packet(PUMP, SERVER, 50003, 23, m.SYN)
    cap.tcp_packet(SERVER, PUMP, 23, 50003, 0x14)  # RST+ACK: refused, not a service
    run = run_devices(cap.write(tmp_path / "services.pcap"))
    assert sorted(run.device(SERVER.mac).services) == [(6, 443), (17, 161)]
    assert run.device(PUMP.mac).services == ()


def test_peer_count_is_estimated_in_fixed_memory(tmp_path):
    cap = m.CaptureBuilder()
    for i in range(200):
        peer = m.Host(SERVER.mac, f"10.9.{i // 250}.{i % 250 + 1}")
        cap.udp(PUMP, peer, 40000, 53, b"\x00\x01\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00")
    run = run_devices(cap.write(tmp_path / "peers.pcap"))
    assert 170 <= run.device(PUMP.mac).peers_estimate <= 230  # HyperLogLog, 64 registers


def test_vlans_of_a_device_are_kept(tmp_path):
    cap = m.CaptureBuilder()
    cap.tcp_session(PUMP, SERVER, 50000, 80, [], vlan=40)
    cap.tcp_session(PUMP, SERVER, 50001, 80, [], vlan=41)
    run = run_devices(cap.write(tmp_path / "vlans.pcap"))
    assert run.device(PUMP.mac).vlans == (40, 41)


def test_a_router_mac_keeps_a_bounded_number_of_addresses(tmp_path):
    cap = m.CaptureBuilder()
    for i in range(20):  # remote hosts, all behind the router's MAC
        cap.udp(m.Host(m.ROUTER_MAC, f"172.16.0.{i + 1}"), PUMP, 53, 40000 + i, b"x" * 12)
    run = run_devices(cap.write(tmp_path / "router.pcap"))
    assert len(run.device(m.ROUTER_MAC).ipv4) == 4
    assert run.counters["addresses_overflow"] == 16


def test_a_full_table_evicts_the_device_heard_from_least_recently(tmp_path):
    cap = m.CaptureBuilder()
    macs = [f"00:1a:5c:00:01:{i:02x}" for i in range(6)]
    for i, mac in enumerate(macs):
        cap.udp(m.Host(mac, f"10.4.2.{i + 1}"), SERVER, 40000, 9, b"x")
    run = run_devices(cap.write(tmp_path / "evict.pcap"), max_devices=4)
    # The server never sends, so it is never created: the 4 newest pumps stay.
    assert set(run.devices) == {m.mac_bytes(mac) for mac in macs[2:]}
    assert run.counters["devices_evicted"] == 2
    assert run.counters["devices_created"] == 6


def test_changed_only_reports_new_and_changed_devices_once(tmp_path):
    cap = m.CaptureBuilder()
    cap.udp(PUMP, SERVER, 40000, 9, b"x")
    path = cap.write(tmp_path / "first.pcap")
    with Engine(EngineSettings(max_devices=16)) as engine:
        engine.open_file(path)
        while not engine.exhausted:
            engine.poll()
        first = engine.devices(changed_only=True)
        assert [d.mac for d in first] == [m.mac_bytes(PUMP.mac)] and first[0].is_new
        assert engine.devices(changed_only=True) == []  # marks cleared
        assert len(engine.devices()) == 1  # but the device stays


def test_max_devices_zero_switches_devices_and_labels_off(tmp_path):
    cap = m.CaptureBuilder()
    cap.tcp_session(PUMP, SERVER, 50000, 443, [("c", m.tls_client_hello("a.example"))])
    path = cap.write(tmp_path / "off.pcap")
    with Engine(EngineSettings(max_devices=0)) as engine:
        engine.collect_device_events()
        engine.open_file(path)
        flows = []
        while not engine.exhausted:
            flows += engine.poll()
        flows += engine.flush()
        assert [f.service for f in flows] == [None]
        assert engine.devices() == [] and engine.take_device_events() == []
        assert engine.device_counters() == {}


def test_max_devices_out_of_range_is_a_usage_error():
    with pytest.raises(UsageError, match="max_devices"):
        EngineSettings(max_devices=-1)


def test_flow_slot_stays_within_its_memory_budget():
    with Engine() as engine:
        assert engine.bytes_per_slot <= 160
