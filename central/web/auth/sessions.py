"""Signed session cookies and the CSRF tokens bound to them.

A session is `<payload>.<mac>`: the payload (user name, session id, expiry) in URL-safe
base64 JSON, the mac an HMAC-SHA256 of it under a server secret. Nothing else is stored:
the user's role is looked up in the users file on every request, so a role change or a
removed account applies at once. The CSRF token of a session is an HMAC of its id, so a
form post proves it was rendered for this session by this server.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class Session:
    user: str
    session_id: str
    expires: datetime


class SessionSigner:
    """Issues and checks session cookies under one secret (random per process when the
    configuration names no secret file: sessions then end when the service restarts)."""

    def __init__(self, secret: bytes, lifetime: timedelta) -> None:
        if len(secret) < 16:
            raise ValueError("session secret must be at least 16 bytes")
        self._secret = secret
        self.lifetime = lifetime

    def issue(self, user: str, now: datetime) -> tuple[str, Session]:
        """A new cookie value for `user`, valid from `now` for the configured lifetime."""
        session = Session(user, secrets.token_urlsafe(16), now + self.lifetime)
        body = json.dumps(
            {"u": session.user, "s": session.session_id, "e": int(session.expires.timestamp())},
            separators=(",", ":"),
        ).encode()
        payload = base64.urlsafe_b64encode(body).decode().rstrip("=")
        return f"{payload}.{self._mac(payload)}", session

    def read(self, cookie: str | None, now: datetime) -> Session | None:
        """The session in `cookie` when its signature holds and it has not expired."""
        if not cookie or "." not in cookie:
            return None
        payload, mac = cookie.rsplit(".", 1)
        if not hmac.compare_digest(mac, self._mac(payload)):
            return None
        try:
            body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
            expires = datetime.fromtimestamp(int(body["e"]), tz=now.tzinfo)
            session = Session(str(body["u"]), str(body["s"]), expires)
        except (ValueError, KeyError, TypeError):
            return None
        return session if now < session.expires else None

    def csrf_token(self, binding: str) -> str:
        """The CSRF token for a session id (or for a pre-login nonce)."""
        return self._mac("csrf:" + binding)

    def csrf_ok(self, binding: str, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(self.csrf_token(binding), token or "")

    def _mac(self, text: str) -> str:
        digest = hmac.new(self._secret, text.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")
