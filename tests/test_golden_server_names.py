"""Golden captures: a flow carries its server's name when the sensor saw one.

A unicast DNS answer names the addresses of its A/AAAA records with the question's name;
a TLS ClientHello's SNI and an HTTP request's Host name the address they were sent to.
When a flow record is made, the name last seen for its responder's address is attached
(native/server_names.h). The reference summarizer does no payload extraction (like
`service`), so these are engine-only; tests/test_differential.py leaves the field out.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

from scapy.layers.dns import DNS, DNSQR, DNSRR

from agent.engine import Engine, EngineSettings
from tests.support import pcapgen
from tests.support.medical import tls_client_hello
from tests.support.pcapgen import at, ether, tcp, udp

PUMP, RESOLVER = "10.4.10.10", "10.0.0.53"
PACS, UPDATES, EMR, UNNAMED = "10.20.0.20", "10.30.0.30", "10.40.0.40", "10.50.0.50"
PUMP_MAC, ROUTER_MAC = "00:1a:5c:00:00:38", "00:00:0c:9f:f0:01"


def up(packet) -> bytes:
    return ether(packet, src=PUMP_MAC, dst=ROUTER_MAC)


def down(packet) -> bytes:
    return ether(packet, src=ROUTER_MAC, dst=PUMP_MAC)


def dns_answer(name: str, *addresses: str, qid: int = 7) -> bytes:
    answers = None
    for addr in addresses:
        rr = DNSRR(rrname=name, type="A", ttl=60, rdata=addr)
        answers = rr if answers is None else answers / rr
    return bytes(
        DNS(id=qid, qr=1, rd=1, ra=1, qd=DNSQR(qname=name), an=answers, ancount=len(addresses))
    )


def handshake(t: float, server: str, port: int, sport: int, payload: bytes) -> list:
    return [
        at(t, up(tcp(PUMP, server, sport, port, "S"))),
        at(t + 0.01, down(tcp(server, PUMP, port, sport, "SA"))),
        at(t + 0.02, up(tcp(PUMP, server, sport, port, "A"))),
        at(t + 0.03, up(tcp(PUMP, server, sport, port, "PA", payload))),
    ]


def engine_records(path, **settings):
    records = []
    with Engine(EngineSettings(**settings)) as engine:
        engine.open_file(str(path))
        while not engine.exhausted:
            records.extend(engine.poll())
        records.extend(engine.flush())
        counters = dataclasses.asdict(engine.counters())
    return records, counters


def by_responder(records) -> dict[str, str | None]:
    return {".".join(map(str, r.resp_addr)) + f":{r.resp_port}": r.server_name for r in records}


def named_capture(tmp_path):
    query = bytes(DNS(id=7, rd=1, qd=DNSQR(qname="PACS.Example.org")))
    frames = [
        at(0.0, up(udp(PUMP, RESOLVER, 40000, 53, query))),
        at(0.01, down(udp(RESOLVER, PUMP, 53, 40000, dns_answer("PACS.Example.org", PACS)))),
        at(0.1, up(tcp(PUMP, PACS, 51000, 104, "S"))),
        at(0.11, down(tcp(PACS, PUMP, 104, 51000, "SA"))),
        *handshake(0.2, UPDATES, 443, 51001, tls_client_hello("Updates.Vendor.example")),
        *handshake(0.3, EMR, 80, 51002, b"GET / HTTP/1.1\r\nHost: emr.example:8080\r\n\r\n"),
        at(0.4, up(udp(PUMP, UNNAMED, 5000, 514, b"log"))),
    ]
    return pcapgen.write_pcap(tmp_path / "named.pcap", frames)


def test_flows_carry_the_name_of_a_dns_answer_an_sni_or_a_host(tmp_path):
    records, _ = engine_records(named_capture(tmp_path))
    assert by_responder(records) == {
        f"{RESOLVER}:53": None,  # the resolver itself was never named
        f"{PACS}:104": "pacs.example.org",  # the DNS answer, lower case
        f"{UPDATES}:443": "updates.vendor.example",  # the SNI
        f"{EMR}:80": "emr.example",  # the Host, without its port
        f"{UNNAMED}:514": None,  # an address never named has none
    }


def test_without_extraction_no_flow_has_a_name(tmp_path):
    records, _ = engine_records(named_capture(tmp_path), max_devices=0)
    assert [r.server_name for r in records] == [None] * len(records)


def test_a_full_name_table_forgets_the_oldest_names_and_counts_them(tmp_path):
    # max_flows 8 makes an 8-entry name table; ten addresses named in one answer: the
    # first two give their places to the last two.
    addresses = [f"10.60.0.{i}" for i in range(1, 11)]
    frames = [
        at(0.0, down(udp(RESOLVER, PUMP, 53, 40000, dns_answer("pool.example", *addresses)))),
    ]
    frames += [
        at(0.1 + i * 0.01, up(udp(PUMP, addr, 5000, 514, b"x"))) for i, addr in enumerate(addresses)
    ]
    records, counters = engine_records(
        pcapgen.write_pcap(tmp_path / "full.pcap", frames), max_flows=8
    )
    names = by_responder(records)
    assert [names[f"{a}:514"] for a in addresses] == [None, None] + ["pool.example"] * 8
    assert counters["server_names_replaced"] == 2


def test_flows_json_names_the_server_only_when_known(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "agent", "flows", "--json", str(named_capture(tmp_path))],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rows = {f"{j['id.resp_h']}:{j['id.resp_p']}": j for j in map(json.loads, out.splitlines())}
    assert rows[f"{UPDATES}:443"]["server_name"] == "updates.vendor.example"
    assert "server_name" not in rows[f"{UNNAMED}:514"]
