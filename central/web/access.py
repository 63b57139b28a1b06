"""Who is asking, resolved once per request, and the guards routes put in front of them.

Three ways in, tried in this order:
1. `Authorization: Bearer <token>` matching the `[web] token_file`: a script, acting as an
   editor under the name `api-token`.
2. The reverse proxy's header (`[web] proxy_user_header`), only when configured and only
   from a `[web] trusted_proxies` address: the named user's role comes from the users file,
   and a name the file does not list is a viewer.
3. The session cookie set by the login form.
Anyone else is anonymous: pages redirect to the login form, the API answers 401.
"""

from __future__ import annotations

import hmac
import ipaddress
from dataclasses import dataclass

from fastapi import HTTPException, Request

from central.web.auth.sessions import SessionSigner
from central.web.auth.users import UserStore
from central.web.settings import WebSettings

SESSION_COOKIE = "iomt_session"
LOGIN_NONCE_COOKIE = "iomt_login"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
TOKEN_USER = "api-token"


@dataclass(frozen=True, slots=True)
class Principal:
    name: str
    role: str  # "viewer" or "editor"
    via: str  # "token", "proxy" or "session"
    session_id: str | None = None

    @property
    def can_edit(self) -> bool:
        return self.role == "editor"

    @property
    def csrf_binding(self) -> str | None:
        """What this principal's CSRF token is bound to; None when a write cannot be forged
        (a bearer token is never sent by a browser on its own)."""
        if self.via == "session":
            return self.session_id
        if self.via == "proxy":
            return f"proxy:{self.name}"  # the proxy's own cookie could be ridden cross-site
        return None


class NotSignedIn(Exception):
    """Raised by page guards; the app turns it into a redirect to the login form."""

    def __init__(self, next_url: str) -> None:
        self.next_url = next_url


def identify(request: Request) -> Principal | None:
    """The principal behind `request`, or None (anonymous)."""
    state = request.app.state
    settings: WebSettings = state.settings
    users: UserStore = state.users
    authorization = request.headers.get("authorization", "")
    if authorization.lower().startswith("bearer "):
        expected = settings.api_token()
        offered = authorization[7:].strip()
        if expected and hmac.compare_digest(offered.encode(), expected.encode()):
            return Principal(TOKEN_USER, "editor", "token")
        return None  # a wrong token is refused outright, never downgraded to the cookie
    if settings.proxy_user_header and _from_trusted_proxy(request, settings):
        name = request.headers.get(settings.proxy_user_header, "").strip()
        if name:
            user = users.get(name)
            return Principal(name, user.role if user else "viewer", "proxy")
    signer: SessionSigner = state.signer
    session = signer.read(request.cookies.get(SESSION_COOKIE), state.clock())
    if session is None or session.session_id in state.signed_out:
        return None
    user = users.get(session.user)
    if user is None:
        return None
    return Principal(user.name, user.role, "session", session.session_id)


def _from_trusted_proxy(request: Request, settings: WebSettings) -> bool:
    if request.client is None:
        return False
    try:
        address = ipaddress.ip_address(request.client.host)
    except ValueError:
        return False
    return any(address in network for network in settings.trusted_proxies)


def page_viewer(request: Request) -> Principal:
    """Guard for pages: any signed-in user; the anonymous go to the login form."""
    principal = identify(request)
    if principal is None:
        raise NotSignedIn(
            str(request.url.path) + (f"?{request.url.query}" if request.url.query else "")
        )
    return principal


def api_viewer(request: Request) -> Principal:
    """Guard for API reads: any signed-in user or the token; otherwise 401."""
    principal = identify(request)
    if principal is None:
        raise HTTPException(
            status_code=401,
            detail="sign in, or send Authorization: Bearer <token from [web] token_file>",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return principal


def api_editor(request: Request) -> Principal:
    """Guard for API writes: the token, or an editor's session with its CSRF header
    (a browser's session alone must not be enough for a write another site could forge)."""
    principal = api_viewer(request)
    if not principal.can_edit:
        raise HTTPException(
            status_code=403, detail=f"{principal.name} is a viewer; writes need an editor"
        )
    binding = principal.csrf_binding
    if binding is not None:
        signer: SessionSigner = request.app.state.signer
        if not signer.csrf_ok(binding, request.headers.get(CSRF_HEADER)):
            raise HTTPException(status_code=403, detail="missing or wrong X-CSRF-Token header")
    return principal


def check_form_csrf(request: Request, principal: Principal, token: str | None) -> None:
    """Refuse a form post whose CSRF field was not rendered for this session (403)."""
    binding = principal.csrf_binding
    if binding is None:
        return
    signer: SessionSigner = request.app.state.signer
    if not signer.csrf_ok(binding, token):
        raise HTTPException(status_code=403, detail="the form has expired; reload the page")


def csrf_token_for(request: Request, principal: Principal | None) -> str:
    signer: SessionSigner = request.app.state.signer
    if principal is None or principal.csrf_binding is None:
        return ""
    return signer.csrf_token(principal.csrf_binding)
