"""The web server `serve` runs: uvicorn on `[web] listen`, HTTPS when `[web] tls_cert` and
`tls_key` are set (TLS 1.2 at least, Python's default ciphers)."""

from __future__ import annotations

import ssl
from typing import Any

import uvicorn

from central.web.settings import WebSettings, web_settings


def uvicorn_config(
    app: Any, config: Any, host: str | None = None, port: int | None = None
) -> uvicorn.Config:
    """A uvicorn Config for `app` with the `[web]` settings of `config` (or a WebSettings);
    `host`/`port` override `listen` (tests use a free port)."""
    settings: WebSettings = web_settings(config)
    listen_host, listen_port = settings.host_port
    tls: dict[str, Any] = {}
    if settings.tls:
        tls = {
            "ssl_certfile": str(settings.tls_cert),
            "ssl_keyfile": str(settings.tls_key),
            "ssl_version": ssl.PROTOCOL_TLS_SERVER,
        }
    return uvicorn.Config(
        app,
        host=host or listen_host,
        port=listen_port if port is None else port,
        log_level="warning",
        proxy_headers=False,  # client addresses stay the socket's: trusted_proxies decides
        server_header=False,
        **tls,
    )


def build_server(app: Any, config: Any) -> uvicorn.Server:
    """The uvicorn Server for `app` (call `.run()`, or `await .serve()` beside ingest)."""
    return uvicorn.Server(uvicorn_config(app, config))
