"""A capture of plain-HTTP keep-alive flows, for the cost of the handshake readers
(issue 14: every HTTP message in a flow's first 4 KiB is read for Basic authentication).

    .venv/bin/python -m bench.http_keepalive        # writes bench/out/http-keepalive.pcap

3,000 flows of 11 frames: a GET, a 200 with a 4,200-byte body in three segments, a second
GET (read: it starts in the client's first 4 KiB), a second 200 (not read: past 4 KiB).
"""

from __future__ import annotations

from pathlib import Path

from tests.support import medical as m
from tests.support import riskproto as r

OUT = Path(__file__).resolve().parent / "out" / "http-keepalive.pcap"


def main() -> None:
    cap = m.CaptureBuilder()
    client = m.Host("00:1c:42:00:00:11", "10.4.2.11")
    server = m.Host("00:50:56:00:00:42", "10.9.0.42")
    body = b"x" * 1400
    for i in range(3000):
        exchange = [
            ("c", r.http_get(b"/status")),
            ("s", r.http_200(body)),
            ("s", body),
            ("s", body),
            ("c", r.http_get(b"/next")),
            ("s", r.http_200(b"ok")),
        ]
        cap.tcp_session(client, server, 20000 + i, 80, exchange)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    cap.write(OUT)
    print(f"wrote {OUT}: {len(cap.frames)} frames")


if __name__ == "__main__":
    main()
