"""Password hashing with scrypt (hashlib, backed by OpenSSL): no extra dependency to keep current.

A stored hash reads `scrypt$<n>$<r>$<p>$<salt base64>$<hash base64>`, so its cost can be
raised later without breaking the hashes already in a users file.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

# n=2**15, r=8, p=1 uses 32 MiB and ~60 ms here: slow for a guesser, fine for a login.
_N, _R, _P = 2**15, 8, 1
_MAXMEM = 64 * 1024 * 1024
_SALT_BYTES, _HASH_BYTES = 16, 32


def hash_password(password: str) -> str:
    """A new salted scrypt hash of `password`, in the users file's format."""
    salt = secrets.token_bytes(_SALT_BYTES)
    digest = _scrypt(password, salt, _N, _R, _P)
    return f"scrypt${_N}${_R}${_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    """True when `password` matches `stored`; False for a wrong password or a hash that is
    not in the scrypt format (such as "-", an account that may not log in with a password)."""
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != "scrypt":
        return False
    try:
        n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt = base64.b64decode(parts[4], validate=True)
        expected = base64.b64decode(parts[5], validate=True)
        digest = _scrypt(password, salt, n, r, p)
    except (ValueError, MemoryError):
        return False
    return hmac.compare_digest(digest, expected)


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode(), salt=salt, n=n, r=r, p=p, maxmem=_MAXMEM, dklen=_HASH_BYTES
    )


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")
