"""`iomt-agent` command line: parses arguments, runs one command, maps errors to exit codes.

Each subcommand lives in `agent/commands/<name>.py` with two functions:
`register(parser)` adds its arguments, `run(args) -> int` does the work. Heavy imports
belong inside `run`, so `iomt-agent --help` and every command start fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from agent import __version__
from agent.errors import AgentError

# (command, module, one-line help), in the order `--help` lists them.
COMMANDS = [
    ("run", "agent.commands.run", "the daemon: capture the configured interfaces, ship summaries"),
    ("replay", "agent.commands.replay", "the full pipeline over a capture file, then exit"),
    ("flows", "agent.commands.flows", "summarize a capture file and print its flows"),
    ("check-config", "agent.commands.check_config", "validate the configuration, print a summary"),
    ("keygen", "agent.commands.keygen", "write a new Ed25519 signing key pair, print its kid"),
    ("verify", "agent.commands.verify", "verify and decode saved messages, print JSON lines"),
    ("consume", "agent.commands.consume", "subscribe, verify, dedupe, decode, print JSON lines"),
]

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        # argparse prints the whole usage block; a technician needs the one line.
        program = self.prog.split()[0]  # a subcommand's prog is "iomt-agent run"
        self.exit(EXIT_USAGE, f"{program}: error: {message} (see --help)\n")


def build_parser(
    prog: str = "iomt-agent",
    description: str = "Edge sensor for hospital networks.",
    commands: list[tuple[str, str, str]] = COMMANDS,
) -> argparse.ArgumentParser:
    """A parser with one subcommand per `commands` row (command, module, help); each row's
    module gives `register(parser)` and `run(args)`. iomt-central builds its own from the
    same pieces."""
    parser = _Parser(prog=prog, description=description)
    parser.add_argument("--version", action="version", version=f"{prog} {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name, module_name, help_text in commands:
        module = importlib.import_module(module_name)
        command_parser = sub.add_parser(name, help=help_text, description=help_text)
        module.register(command_parser)
        command_parser.set_defaults(_run=module.run)
    return parser


def run_command(prog: str, args: argparse.Namespace) -> int:
    """Run the parsed command; returns the exit code.

    An AgentError becomes one line on stderr and its exit code (2 for usage), unless
    --debug asks for the traceback.
    """
    try:
        return int(args._run(args))
    except AgentError as exc:
        if args.debug:
            raise
        print(f"{prog} {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `iomt-agent flows x.pcap | head` is normal use, not a failure.
        sys.stderr.close()
        return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    """Run one command from argv (None: sys.argv); returns the exit code. Bad arguments
    exit 2 from the parser."""
    args = build_parser().parse_args(argv)
    return run_command("iomt-agent", args)
