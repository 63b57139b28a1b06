"""Which files make up a configuration, and reading them as TOML.

`/etc/iomt-agent/agent.toml` is read first, then `agent.d/*.toml` beside it in sorted
order, each overriding the keys it sets. Reading never raises: every file that cannot be
read or parsed becomes one problem line naming it.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.config.problems import Problems
from agent.paths import DEFAULT_CONFIG_DIR

MAIN_FILE_NAME = "agent.toml"
DROP_IN_DIR_NAME = "agent.d"


@dataclass
class SourceFiles:
    """The main file, the drop-in directory, and the TOML tables read from each file."""

    main: Path
    drop_in_dir: Path
    tables: list[tuple[Path, dict[str, Any]]] = field(default_factory=list)
    attempted: list[Path] = field(default_factory=list)  # every file tried, in order

    @property
    def paths(self) -> tuple[Path, ...]:
        return tuple(path for path, _ in self.tables)


def locate(location: str | Path | None) -> tuple[Path, Path]:
    """(main file, drop-in directory) for `-c LOCATION`.

    A directory means DIR/agent.toml and DIR/agent.d; a file means that file and the
    agent.d directory beside it; None means /etc/iomt-agent.
    """
    path = Path(location) if location is not None else DEFAULT_CONFIG_DIR
    # A path that does not exist is a directory unless it names a .toml file, so the
    # error names the agent.toml that is missing.
    if path.is_dir() or (not path.exists() and path.suffix != ".toml"):
        return path / MAIN_FILE_NAME, path / DROP_IN_DIR_NAME
    return path, path.parent / DROP_IN_DIR_NAME


def drop_in_files(drop_in_dir: Path, problems: Problems) -> list[Path]:
    """The *.toml files of agent.d in sorted order; other visible files are warned about."""
    try:
        entries = sorted(drop_in_dir.iterdir(), key=lambda p: p.name)
    except FileNotFoundError:
        return []
    except OSError as exc:
        problems.error(drop_in_dir, None, f"cannot list the directory: {exc.strerror}")
        return []
    files = []
    for entry in entries:
        if entry.name.startswith(".") or entry.name.endswith("~"):
            continue  # editor and package-manager leftovers
        if entry.suffix == ".toml":
            files.append(entry)
        elif entry.is_file():
            problems.warning(
                entry, None, "ignored: only files ending in .toml are read from agent.d"
            )
    return files


def read_toml(path: Path, problems: Problems) -> dict[str, Any] | None:
    """The file's TOML document, or None after recording why it could not be had."""
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        problems.error(
            path,
            None,
            "does not exist; give -c the configuration directory (e.g. /etc/iomt-agent) "
            "or its agent.toml",
        )
        return None
    except IsADirectoryError:
        problems.error(path, None, "is a directory; name a .toml file or its directory")
        return None
    except PermissionError:
        problems.error(
            path, None, "cannot be read (permission denied); run as root or chmod 640 it"
        )
        return None
    except OSError as exc:
        problems.error(path, None, f"cannot be read: {exc.strerror}")
        return None
    except UnicodeDecodeError as exc:
        problems.error(path, None, f"is not UTF-8 text (byte {exc.start}); save it as UTF-8")
        return None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # tomllib's message ends "(at line N, column M)": the technician needs exactly that.
        problems.error(path, None, f"is not valid TOML: {exc}; fix the syntax there")
        return None


def read_sources(location: str | Path | None, problems: Problems) -> SourceFiles:
    """Read the main file and every drop-in; unreadable ones are recorded in `problems`."""
    main, drop_in_dir = locate(location)
    sources = SourceFiles(main=main, drop_in_dir=drop_in_dir)
    for path in [main, *drop_in_files(drop_in_dir, problems)]:
        sources.attempted.append(path)
        document = read_toml(path, problems)
        if document is not None:
            sources.tables.append((path, document))
    return sources
