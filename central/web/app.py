"""The application factory: settings, user store, session signer, routes, static files."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from central.web import api, login, pages
from central.web.access import NotSignedIn
from central.web.auth.sessions import SessionSigner
from central.web.auth.users import UserStore
from central.web.backend import Backend
from central.web.settings import web_settings

HERE = Path(__file__).parent
Clock = Callable[[], datetime]


def _wall_clock() -> datetime:
    return datetime.now(UTC)


def create_app(config: Any, database: Any, clock: Clock | None = None) -> FastAPI:
    """The web application over `database` (the central inventory), with the `[web]`
    settings of `config` (or a WebSettings); `clock` gives "now" (aware UTC) for sessions,
    "since" windows and silent-sensor checks."""
    settings = web_settings(config)
    app = FastAPI(
        title="iomt-central",
        summary="The inventory of a hospital's networked devices, as its sensors see them.",
        version=_version(),
        docs_url="/api/docs",
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.config = config
    app.state.clock = clock or _wall_clock
    app.state.users = UserStore(settings.users_file)
    app.state.signed_out = set()  # session ids signed out before their cookie expired
    app.state.signer = SessionSigner(settings.session_secret(), settings.session_lifetime)
    app.state.backend = Backend(database, config, app.state.clock)
    app.state.templates = _templates()
    app.state.templates.env.globals["risk_band"] = app.state.backend.risk_band

    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.include_router(login.router)
    app.include_router(pages.router)
    app.include_router(api.router)

    @app.exception_handler(NotSignedIn)
    async def _to_login(request: Request, exc: NotSignedIn) -> Response:
        return RedirectResponse(f"/login?next={quote(exc.next_url, safe='')}", status_code=303)

    @app.middleware("http")
    async def _security_headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        # Everything is served from here (no CDN), so the policy can be this tight.
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
            "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        )
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        if settings.tls:
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        return response

    return app


def _templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    env = templates.env
    env.filters["when"] = _when
    env.filters["when_short"] = lambda value: _when(value).replace(" UTC", "")
    env.filters["ago"] = _ago
    env.filters["size"] = _size
    env.filters["label"] = lambda text: (text or "").replace("_", " ")
    return templates


def _when(value: Any) -> str:
    """A time as `2026-12-05 14:03 UTC` (the API keeps full ISO 8601)."""
    if value is None or value == "":
        return "—"
    moment = (
        datetime.fromisoformat(value.replace("Z", "+00:00")) if isinstance(value, str) else value
    )
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _ago(seconds: Any) -> str:
    if seconds is None:
        return "never"
    seconds = float(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f} {unit} ago"
    return f"{seconds:.0f} s ago"


def _size(value: Any) -> str:
    """Bytes as `0 B`, `12.5 KiB`, `1.0 MiB` (the API keeps the exact count)."""
    if value is None:
        return "—"
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"  # pragma: no cover


def _version() -> str:
    try:
        from agent import __version__

        return __version__
    except ImportError:  # pragma: no cover - the agent package ships alongside
        return "0"
