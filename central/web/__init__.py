"""The web side of iomt-central: pages, the JSON API, and who may use them.

`create_app(config, database, clock)` builds the FastAPI application that `serve` runs;
`server.build_server` wraps it in uvicorn with the configured listen address and TLS.
FastAPI is imported on the first call only, so `iomt-central user ...` and `--help`
start without it.
"""

from __future__ import annotations

from typing import Any


def create_app(config: Any, database: Any, clock: Any = None) -> Any:
    """See central.web.app.create_app."""
    from central.web.app import create_app as build

    return build(config, database, clock)


__all__ = ["create_app"]
