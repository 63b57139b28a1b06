"""The users file: one account per line, `name:role:hash`, managed by the admin.

    # iomt-central users (iomt-central user add NAME --role editor)
    alice:editor:scrypt$32768$8$1$...$...
    bob:viewer:scrypt$32768$8$1$...$...
    carol:editor:-        # no password: may only arrive through the reverse proxy's header

The file is read again whenever it changes on disk, so removing a line or lowering a role
takes effect on the next request, sessions already open included.
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from central.web.auth.passwords import hash_password, verify_password

ROLES = ("viewer", "editor")
NO_PASSWORD = "-"
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")


class UsersFileError(ValueError):
    """The users file has a line that cannot be read; the message names file and line."""


@dataclass(frozen=True, slots=True)
class User:
    name: str
    role: str  # "viewer" or "editor"
    password_hash: str

    @property
    def can_edit(self) -> bool:
        return self.role == "editor"


def valid_name(name: str) -> bool:
    return _NAME_RE.fullmatch(name) is not None


def parse_users(text: str, path: Path) -> dict[str, User]:
    """Every account in `text` by name; raises UsersFileError naming the first bad line."""
    users: dict[str, User] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()  # base64 and names hold no '#'

        if not line:
            continue
        fields = line.split(":", 2)
        if len(fields) != 3:
            raise UsersFileError(f"{path}:{number}: expected name:role:hash")
        name, role, password_hash = (f.strip() for f in fields)
        if not valid_name(name):
            raise UsersFileError(f"{path}:{number}: bad user name {name!r}")
        if role not in ROLES:
            raise UsersFileError(f"{path}:{number}: role must be viewer or editor, not {role!r}")
        users[name] = User(name, role, password_hash)
    return users


class UserStore:
    """The accounts of one users file (none when `path` is None), re-read when it changes."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._stamp: tuple[int, int] | None = None
        self._users: dict[str, User] = {}

    def get(self, name: str) -> User | None:
        return self._current().get(name)

    def all(self) -> list[User]:
        return sorted(self._current().values(), key=lambda user: user.name)

    def authenticate(self, name: str, password: str) -> User | None:
        """The user when name and password match; None otherwise (same answer either way)."""
        user = self.get(name)
        if user is None:
            # Spend the same time as a real check, so a guesser cannot tell names apart.
            verify_password(password, _DUMMY_HASH)
            return None
        return user if verify_password(password, user.password_hash) else None

    def _current(self) -> dict[str, User]:
        if self.path is None:
            return {}
        try:
            status = self.path.stat()
        except FileNotFoundError:
            self._stamp, self._users = None, {}
            return self._users
        stamp = (status.st_mtime_ns, status.st_size)
        if stamp != self._stamp:
            self._users = parse_users(self.path.read_text(encoding="utf-8"), self.path)
            self._stamp = stamp
        return self._users


_DUMMY_HASH = hash_password("not a real password")


def set_user(path: Path, name: str, role: str, password: str | None) -> bool:
    """Add `name` or replace its role and password (None: no password login); returns True
    when the user was new. Writes the file atomically with mode 0600."""
    if not valid_name(name):
        raise UsersFileError(f"bad user name {name!r}: letters, digits, . _ @ - (max 64)")
    if role not in ROLES:
        raise UsersFileError(f"role must be viewer or editor, not {role!r}")
    password_hash = hash_password(password) if password is not None else NO_PASSWORD
    lines = _read_lines(path)
    new_line = f"{name}:{role}:{password_hash}"
    replaced = False
    for index, line in enumerate(lines):
        if _line_user(line) == name:
            lines[index] = new_line
            replaced = True
    if not replaced:
        lines.append(new_line)
    _write_lines(path, lines)
    return not replaced


def remove_user(path: Path, name: str) -> bool:
    """Remove `name`; returns False when there was no such user."""
    lines = _read_lines(path)
    kept = [line for line in lines if _line_user(line) != name]
    if len(kept) == len(lines):
        return False
    _write_lines(path, kept)
    return True


def _line_user(line: str) -> str | None:
    if line.lstrip().startswith("#") or ":" not in line:
        return None
    return line.split(":", 1)[0].strip()


def _read_lines(path: Path) -> list[str]:
    if not path.exists():
        return ["# iomt-central users: name:role:hash (iomt-central user add NAME --role ROLE)"]
    return path.read_text(encoding="utf-8").splitlines()


def _write_lines(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(handle, 0o600)
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write("\n".join(lines) + "\n")
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
