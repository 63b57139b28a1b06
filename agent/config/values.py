"""From TOML documents to checked values: unknown keys, types and ranges, file by file.

Every file is checked on its own, so a typo in agent.toml is reported even when a drop-in
overrides that key. The checked values are then merged per key (later files win) and each
remembers the file that set it, so later checks can name that file.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.config.problems import Problems
from agent.config.schema import BY_SECTION, NOT_CONFIGURABLE, SECTIONS, check_value


@dataclass(frozen=True, slots=True)
class Setting:
    """A checked value and the file that set it."""

    value: Any
    path: Path


Settings = dict[tuple[str, str], Setting]


def _did_you_mean(word: str, candidates: list[str]) -> str | None:
    matches = difflib.get_close_matches(word, candidates, n=1, cutoff=0.6)
    return matches[0] if matches else None


def _sections_holding(name: str) -> list[str]:
    return [section for section in SECTIONS if name in BY_SECTION[section]]


def _unknown_key(section: str, name: str) -> str:
    reason = NOT_CONFIGURABLE.get((section, name))
    if reason:
        return f"not a setting: {reason}"
    known = list(BY_SECTION[section])
    close = _did_you_mean(name, known)
    if close:
        return f"unknown key; did you mean {section}.{close}?"
    elsewhere = _sections_holding(name)
    if elsewhere:
        return f"unknown key in [{section}]; {name} belongs under [{elsewhere[0]}]"
    return f"unknown key; the keys of [{section}] are: {', '.join(known)}"


def _unknown_top_level(name: str, value: Any) -> str:
    if not isinstance(value, dict):
        sections = _sections_holding(name)
        if sections:
            return f"is outside any section; put it under [{sections[0]}]"
        return f"is outside any section; every key belongs under one of [{'], ['.join(SECTIONS)}]"
    close = _did_you_mean(name, list(SECTIONS))
    if close:
        return f"unknown section; did you mean [{close}]?"
    return f"unknown section; the sections are [{'], ['.join(SECTIONS)}]"


def check_document(path: Path, document: dict[str, Any], problems: Problems) -> Settings:
    """Check one file's keys and values; returns the valid ones, records the rest."""
    settings: Settings = {}
    for section, table in document.items():
        if section in BY_SECTION and not isinstance(table, dict):
            shape = f"[[{section}]] (a list of tables)" if isinstance(table, list) else "a value"
            problems.error(
                path, f"[{section}]", f"is {shape}, not a section; write [{section}] once"
            )
            continue
        if section not in BY_SECTION:
            key = section if not isinstance(table, dict) else f"[{section}]"
            problems.error(path, key, _unknown_top_level(section, table))
            continue
        for name, raw in table.items():
            option = BY_SECTION[section].get(name)
            if option is None:
                problems.error(path, f"{section}.{name}", _unknown_key(section, name))
                continue
            value, problem = check_value(option, raw, path.parent)
            if problem:
                problems.error(path, option.dotted, problem)
            else:
                settings[(section, name)] = Setting(value, path)
    return settings


def merge(documents: list[tuple[Path, dict[str, Any]]], problems: Problems) -> Settings:
    """Check every document, then merge key by key in order: later files override earlier."""
    merged: Settings = {}
    for path, document in documents:
        merged.update(check_document(path, document, problems))
    return merged
