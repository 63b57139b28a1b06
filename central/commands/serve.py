"""`iomt-central serve -c FILE`: the ingest loop in a thread, the risk loop in another
(central.risk.service, as `ingest` runs it: processes take turns), and the web page and
JSON API (central.web.create_app) under uvicorn on [web] listen, in one process.

Either part failing stops both: a server without ingest would show a silently stale
inventory, and an ingest without its page is what `ingest` is for.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from typing import Any

from agent.errors import AgentError
from central.commands.common import add_config_argument, load, open_database, utc_now
from central.commands.ingest import add_ingest_arguments, make_ingest

log = logging.getLogger("iomt-central.serve")


def register(parser: argparse.ArgumentParser) -> None:
    add_config_argument(parser)
    add_ingest_arguments(parser)
    parser.add_argument(
        "--no-ingest",
        action="store_true",
        help="serve the page and API only (another process ingests into the same database)",
    )


def web_app(config: Any, engine: Any) -> Any:
    """central.web.create_app(config, engine, clock), or None while it does not exist."""
    try:
        from central.web import create_app  # type: ignore[attr-defined]
    except ImportError:
        return None
    return create_app(config, engine, utc_now)


def run(args: argparse.Namespace) -> int:
    config = load(args)
    engine = open_database(config)
    ingest = None if args.no_ingest else make_ingest(args, config, engine)
    failure: list[BaseException] = []
    app = web_app(config, engine)
    server = _server(config, app) if app is not None else None
    from central.risk.service import RiskService  # h-risk: findings, scores, alerts

    risk = RiskService(config, engine)
    risk.start()

    def run_ingest() -> None:
        try:
            assert ingest is not None
            ingest.run()
        except BaseException as exc:  # reported by the main thread, which stops the server
            failure.append(exc)
        finally:
            if server is not None:
                server.should_exit = True

    def on_sigterm(*_: Any) -> None:
        # uvicorn handles SIGTERM while it runs and raises it again once it has shut
        # down; this handler then makes that a clean exit 0 (systemd's stop, not a crash).
        if ingest is not None:
            ingest.stop()
        if server is not None:
            server.should_exit = True

    signal.signal(signal.SIGTERM, on_sigterm)
    thread = None
    if ingest is not None:
        thread = threading.Thread(target=run_ingest, name="ingest", daemon=True)
        thread.start()
    if server is None:
        log.warning("the web application (central.web) is not installed: serving ingest only")
        if thread is not None:
            thread.join()
    else:
        host, port = config.web.listen
        scheme = "https" if getattr(config.web, "tls_cert", None) else "http"
        log.info("serving %s://%s:%d/", scheme, host, port)
        server.run()
        if ingest is not None:
            ingest.stop()
    if thread is not None:
        thread.join(timeout=30)
    risk.stop()
    if failure:
        if isinstance(failure[0], AgentError):
            raise failure[0]
        raise AgentError(f"ingest stopped: {failure[0]}")
    return 0


def _server(config: Any, app: Any) -> Any:
    # central/web's server: [web] listen, HTTPS from tls_cert/tls_key, the socket's own
    # client addresses (the proxy header is trusted only from [web] trusted_proxies).
    from central.web.server import build_server

    return build_server(app, config)
