"""The web side of iomt-central: pages, the JSON API, and who may use them.

`create_app(config, database, clock)` builds the FastAPI application that `serve` runs;
`server.build_server` wraps it in uvicorn with the configured listen address and TLS.
"""

from central.web.app import create_app

__all__ = ["create_app"]
