"""`iomt-central` command line: parses arguments, runs one command, maps errors to exit
codes as `iomt-agent` does (0 ok, 1 runtime failure, 2 usage or configuration).

Each command lives in central/commands/<name>.py with `register(parser)` and
`run(args) -> int`; heavy imports (SQLAlchemy, FastAPI) stay inside `run`.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from agent import __version__
from agent.errors import AgentError

COMMANDS = [
    ("check-config", "central.commands.check_config", "validate central.toml, print a summary"),
    ("serve", "central.commands.serve", "ingest from the broker and serve the page and the API"),
    ("ingest", "central.commands.ingest", "ingest from the broker only (several may share)"),
    ("export", "central.commands.export", "print the inventory as csv, json or FHIR R4"),
    ("user", "central.web.usercli", "manage who may use the web page: user add|remove|list"),
]

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"iomt-central: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="iomt-central", description="Central inventory of hospital devices.")
    parser.add_argument("--version", action="version", version=f"iomt-central {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name, module_name, help_text in COMMANDS:
        module = importlib.import_module(module_name)
        command_parser = sub.add_parser(name, help=help_text, description=help_text)
        module.register(command_parser)
        command_parser.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.INFO,
        format="iomt-central %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        return int(args._run(args))
    except AgentError as exc:
        if args.debug:
            raise
        print(f"iomt-central {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        sys.stderr.close()
        return EXIT_OK
