"""`iomt-central export -c FILE --format csv|json|fhir [--site S] [--wing W]` to stdout.

mud and nftables (h-risk) plug in through central/export/<format>.py modules with
`export(connection, where, args, out)`.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from agent.errors import UsageError
from central.commands.common import add_config_argument, load, open_database

FORMATS = ("csv", "json", "fhir", "mud", "nftables", "acl")


def register(parser: argparse.ArgumentParser) -> None:
    add_config_argument(parser)
    parser.add_argument("--format", required=True, choices=FORMATS)
    parser.add_argument("--site", metavar="S", help="only devices of site S")
    parser.add_argument("--wing", metavar="W", help="only devices seen in wing W")
    parser.add_argument("--category", metavar="C", help="only devices of category C")
    parser.add_argument("--out", metavar="DIR", help="write files into DIR (mud)")


def run(args: argparse.Namespace) -> int:
    from central.inventory.queries import DeviceFilter

    config = load(args)
    try:
        module = importlib.import_module(f"central.export.{args.format}")
    except ImportError:
        raise UsageError(f"export format {args.format} is not installed in this version") from None
    engine = open_database(config)
    where = DeviceFilter(site=args.site, wing=args.wing, category=args.category)
    with engine.connect() as connection:
        module.export(connection, where, args, sys.stdout)
    return 0
