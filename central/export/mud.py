"""`export --format mud`: RFC 8520 MUD files from the learned baseline.

`--category C` prints that category's file; without it, `--out DIR` writes one
`<category>.json` per category found and prints each path. Every file passes the
structure check (central.policy.mud_schema) before it is written.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import Connection

from agent.errors import UsageError
from central.inventory.queries import DeviceFilter
from central.policy.mud import categories_in, mud_for_category
from central.policy.mud_schema import mud_problems
from central.policy.rules import Policy


def export(
    connection: Connection, where: DeviceFilter, args: argparse.Namespace, out: TextIO
) -> None:
    from central.config import load_config
    from central.policy.store import baseline_for

    config = load_config(args.config)
    policy = config.containment or Policy()
    entries = baseline_for(connection, policy, config.risk.baseline_days, where.site)
    found = categories_in(entries)
    now = datetime.now(UTC).replace(microsecond=0)
    if where.category is not None:
        if where.category not in found:
            raise UsageError(
                f"no baseline for category {where.category!r}; categories with traffic: "
                f"{', '.join(found) or 'none (nothing ingested yet)'}"
            )
        _write(mud_for_category(where.category, entries, now, policy.mud_url_base, where.site), out)
        return
    if not args.out:
        raise UsageError("--format mud needs --category C (one file to stdout) or --out DIR")
    directory = Path(args.out)
    directory.mkdir(parents=True, exist_ok=True)
    for category in found:
        path = directory / f"{category}.json"
        with path.open("w") as handle:
            _write(
                mud_for_category(category, entries, now, policy.mud_url_base, where.site), handle
            )
        out.write(f"{path}\n")


def _write(document: dict[str, Any], out: TextIO) -> None:
    problems = mud_problems(document)
    if problems:  # a bug here, never the user's input: refuse to emit an invalid file
        raise RuntimeError("generated MUD file fails its check: " + "; ".join(problems))
    json.dump(document, out, indent=2)
    out.write("\n")
