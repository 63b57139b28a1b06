"""Sign in and out: the login form, its post, the session cookie."""

from __future__ import annotations

import secrets
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from central.web.access import (
    LOGIN_NONCE_COOKIE,
    SESSION_COOKIE,
    check_form_csrf,
    page_viewer,
)
from central.web.auth.sessions import SessionSigner
from central.web.auth.users import UserStore

router = APIRouter(include_in_schema=False)


def secure_cookies(request: Request) -> bool:
    """Cookies carry Secure whenever the browser reached us over HTTPS (directly, or the
    configured TLS) so a session never travels in clear text."""
    return bool(request.app.state.settings.tls or request.url.scheme == "https")


def _safe_next(target: str | None) -> str:
    # Only a path on this site: an open redirect would make the login page a phishing aid.
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/", error: str = "") -> Response:
    signer: SessionSigner = request.app.state.signer
    nonce = secrets.token_urlsafe(16)
    response = request.app.state.templates.TemplateResponse(
        request,
        "login.html",
        {
            "next": _safe_next(next),
            "error": error,
            "csrf": signer.csrf_token(f"login:{nonce}"),
            "principal": None,
            "proxy_header": request.app.state.settings.proxy_user_header,
        },
        status_code=401 if error else 200,
    )
    response.set_cookie(
        LOGIN_NONCE_COOKIE,
        nonce,
        max_age=900,
        httponly=True,
        samesite="strict",
        secure=secure_cookies(request),
        path="/login",
    )
    return response


@router.post("/login")
def login(
    request: Request,
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
    csrf_token: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    signer: SessionSigner = request.app.state.signer
    users: UserStore = request.app.state.users
    nonce = request.cookies.get(LOGIN_NONCE_COOKIE, "")
    if not nonce or not signer.csrf_ok(f"login:{nonce}", csrf_token):
        raise HTTPException(403, detail="the login form has expired; reload the page")
    backend = request.app.state.backend
    user = users.authenticate(username.strip(), password)
    if user is None:
        backend.audit(username.strip()[:128] or "-", "login.failed", None, {"via": "password"})
        target = quote(_safe_next(next), safe="")
        return RedirectResponse(f"/login?error=1&next={target}", status_code=303)
    cookie, _session = signer.issue(user.name, request.app.state.clock())
    backend.audit(user.name, "login", None, {"via": "password", "role": user.role})
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        cookie,
        max_age=int(signer.lifetime.total_seconds()),
        httponly=True,
        samesite="strict",
        secure=secure_cookies(request),
        path="/",
    )
    response.delete_cookie(LOGIN_NONCE_COOKIE, path="/login")
    return response


@router.post("/logout")
def logout(request: Request, csrf_token: Annotated[str, Form()] = "") -> Response:
    principal = page_viewer(request)
    check_form_csrf(request, principal, csrf_token)
    if principal.session_id is not None:
        # The cookie stays valid until it expires; remembering its id ends it here, so
        # a copy of it (another tab, a stolen one) is refused too. Kept in memory: a
        # restart forgets it, which with a random secret (the default) ends it anyway.
        request.app.state.signed_out.add(principal.session_id)
        request.app.state.backend.audit(principal.name, "logout", None, {})
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
