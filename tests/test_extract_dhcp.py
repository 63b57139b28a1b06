"""DHCP is read per message and attributed to its chaddr, whatever flow it lands in
(issue 12): every client's DISCOVER/REQUEST goes 0.0.0.0:68 -> 255.255.255.255:67, so
they all share one flow, and each server's ACKs to the broadcast address share another."""

from __future__ import annotations

from tests.support import medical as m
from tests.support.devicerun import run_devices

ANYONE = m.Host("ff:ff:ff:ff:ff:ff", "255.255.255.255")
SERVER = m.Host("00:50:56:00:00:01", "10.4.0.1")


def _client(i: int) -> m.Host:
    return m.Host(f"00:09:fb:00:01:{i:02x}", f"10.4.2.{100 + i}")


def test_ten_clients_in_one_broadcast_flow_each_keep_their_fingerprints(tmp_path):
    cap = m.CaptureBuilder()
    clients = [_client(i) for i in range(10)]
    for i, client in enumerate(clients):
        discover = m.dhcp_discover(
            client.mac,
            f"MON-{i}".encode(),
            f"Philips IntelliVue MX{i}00".encode(),
            bytes([1, 3, 6, 15, 12 + i]),
            bytes([1]) + m.mac_bytes(client.mac),
        )
        cap.udp(m.Host(client.mac, "0.0.0.0"), ANYONE, 68, 67, discover)
        cap.udp(SERVER, ANYONE, 67, 68, m.dhcp_ack(client.mac, client.ip))
    run = run_devices(cap.write(tmp_path / "broadcast_dhcp.pcap"))
    assert len([f for f in run.flows if f.service == "dhcp"]) == 2  # one flow each way
    for i, client in enumerate(clients):
        seen = run.of(client.mac)
        assert seen["dhcp_vendor_class"] == [f"Philips IntelliVue MX{i}00".encode()]
        assert seen["dhcp_parameter_list"] == [f"1,3,6,15,{12 + i}".encode()]
        assert seen["dhcp_assigned_address"] == [client.ip.encode()]
        assert bytes(map(int, client.ip.split("."))) in run.device(client.mac).ipv4
    # Nothing of a client was given to the flow's first sender or to the server.
    assert "dhcp_vendor_class" not in run.of(SERVER.mac)


def test_a_relayed_message_is_attributed_to_its_chaddr_not_the_relay(tmp_path):
    relay = m.Host("00:00:5e:00:01:01", "10.4.0.254")
    client = _client(1)
    cap = m.CaptureBuilder()
    discover = m.dhcp_discover(client.mac, b"PUMP-1", b"BBraun Space", bytes([1, 3]), b"\x01x")
    cap.udp(relay, SERVER, 67, 67, discover)
    cap.udp(relay, SERVER, 67, 67, m.dhcp_discover(_client(2).mac, b"P2", b"Alaris", b"\x01", b""))
    run = run_devices(cap.write(tmp_path / "relayed.pcap"))
    assert run.of(client.mac)["dhcp_vendor_class"] == [b"BBraun Space"]
    assert run.of(_client(2).mac)["dhcp_vendor_class"] == [b"Alaris"]
    assert "dhcp_vendor_class" not in run.of(relay.mac)
