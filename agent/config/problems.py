"""Configuration problems: collected all at once, each one line naming file and key."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from agent.errors import UsageError


@dataclass(frozen=True, slots=True)
class Problem:
    """One finding. `key` is "section.key" (or "[section]"), None for the file as a whole."""

    path: Path
    key: str | None
    message: str

    def __str__(self) -> str:
        if self.key is None:
            return f"{self.path}: {self.message}"
        return f"{self.path}: {self.key}: {self.message}"


@dataclass
class Problems:
    """Errors stop the agent from starting; warnings are shown by check-config and logged."""

    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)

    def error(self, path: Path, key: str | None, message: str) -> None:
        self.errors.append(Problem(path, key, message))

    def warning(self, path: Path, key: str | None, message: str) -> None:
        self.warnings.append(Problem(path, key, message))


class ConfigError(UsageError):
    """The configuration is invalid (exit 2). `errors` and `warnings` hold one line each."""

    def __init__(self, errors: list[str], warnings: list[str]) -> None:
        self.errors = errors
        self.warnings = warnings
        super().__init__("\n".join(errors))
