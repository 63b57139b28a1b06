"""`iomt-central user add|remove|list`: the admin's tool for the web users file.

    iomt-central user add alice --role editor -c /etc/iomt-central/central.toml
    iomt-central user add bob --role viewer --users-file /etc/iomt-central/users
    iomt-central user add carol --role editor --no-password     # reverse-proxy sign-in only
    iomt-central user remove bob -c /etc/iomt-central/central.toml
    iomt-central user list -c /etc/iomt-central/central.toml

The password is asked twice on the terminal, or read from one line of standard input with
`--password-stdin` (for scripts). It is stored as a salted scrypt hash, never in clear.
Changes apply to the running service at its next request; no restart.
"""

from __future__ import annotations

import argparse
import getpass
import sys
import tomllib
from pathlib import Path

from agent.errors import AgentError
from central.web.auth.users import ROLES, UsersFileError, UserStore, remove_user, set_user

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
MIN_PASSWORD_CHARS = 10


class UserCommandError(AgentError):
    """A user command that cannot be carried out; the CLI prints it as one line."""

    def __init__(self, message: str, exit_code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def register(parser: argparse.ArgumentParser) -> None:
    """Add the `user` subcommand's arguments to `parser`."""
    parser.add_argument("action", choices=("add", "remove", "list"))
    parser.add_argument("name", nargs="?", help="the user name (add, remove)")
    parser.add_argument("--role", choices=ROLES, default="viewer", help="add: the role (viewer)")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("-c", "--config", type=Path, help="central.toml naming [web] users_file")
    where.add_argument("--users-file", type=Path, help="the users file itself")
    secret = parser.add_mutually_exclusive_group()
    secret.add_argument(
        "--password-stdin",
        action="store_true",
        help="add: read the password from one line of standard input",
    )
    secret.add_argument(
        "--no-password",
        action="store_true",
        help="add: no password sign-in (the reverse proxy's header only)",
    )


def run(args: argparse.Namespace) -> int:
    """Carry out one `user` action; returns the exit code (raises UserCommandError, also
    for a users file that cannot be read, parsed or written)."""
    path = _users_file(args)
    try:
        return _act(args, path)
    except UsersFileError as error:
        raise UserCommandError(str(error)) from None
    except OSError as error:
        raise UserCommandError(f"{path}: {error.strerror}", EXIT_FAILURE) from None


def _act(args: argparse.Namespace, path: Path) -> int:
    if args.action == "list":
        for user in UserStore(path).all():
            login = "password" if user.password_hash.startswith("scrypt$") else "proxy only"
            print(f"{user.name}\t{user.role}\t{login}")
        return EXIT_OK
    if not args.name:
        raise UserCommandError(f"user {args.action}: a user name is required")
    if args.action == "remove":
        if not remove_user(path, args.name):
            raise UserCommandError(f"no user {args.name!r} in {path}", EXIT_FAILURE)
        print(f"removed {args.name} from {path}")
        return EXIT_OK
    password = None if args.no_password else _password(args.password_stdin)
    new = set_user(path, args.name, args.role, password)
    print(f"{'added' if new else 'updated'} {args.name} ({args.role}) in {path}")
    return EXIT_OK


def _users_file(args: argparse.Namespace) -> Path:
    if args.users_file is not None:
        return Path(args.users_file)
    try:
        with open(args.config, "rb") as handle:
            document = tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise UserCommandError(f"{args.config}: {error}") from None
    # Only this key is read (not the whole configuration), so an admin can add the first
    # user before the rest of central.toml is complete; relative paths as the loader has them.
    users_file = document.get("web", {}).get("users_file")
    if not users_file:
        raise UserCommandError(f"{args.config}: web.users_file is not set")
    path = Path(users_file)
    return path if path.is_absolute() else Path(args.config).parent / path


def _password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("password: ")
        if getpass.getpass("again: ") != password:
            raise UserCommandError("the two passwords differ")
    if len(password) < MIN_PASSWORD_CHARS:
        raise UserCommandError(f"the password needs at least {MIN_PASSWORD_CHARS} characters")
    return password


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry (python -m central.web.usercli); `iomt-central user` is the same."""
    parser = argparse.ArgumentParser(prog="iomt-central user", description=__doc__.splitlines()[0])
    register(parser)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except UserCommandError as error:
        print(f"iomt-central user: error: {error}", file=sys.stderr)
        return error.exit_code


if __name__ == "__main__":
    sys.exit(main())
