"""Read central.toml and check all of it at once: every problem, one line each, naming
the file and the key (with a did-you-mean for near-miss names)."""

from __future__ import annotations

import difflib
import tomllib
from pathlib import Path
from typing import Any

from agent.config.problems import ConfigError, Problems
from central.config.check import check_value
from central.config.schema import BY_SECTION, OPTIONS, SECTIONS, STRUCTURED_SECTIONS

DEFAULT_CONFIG = Path("/etc/iomt-central/central.toml")


class Section:
    """One section's checked values as attributes: config.mqtt.url."""

    def __init__(self, values: dict[str, Any]) -> None:
        self._values = dict(values)

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(name) from None

    def as_dict(self) -> dict[str, Any]:
        return dict(self._values)


class CentralConfig:
    """Every section of central.toml (defaults filled in): config.database.url,
    config.web.listen (a (host, port) pair), config.classification.rules (paths) ..."""

    def __init__(
        self, path: Path, values: dict[str, dict[str, Any]], containment: Any = None
    ) -> None:
        self.path = path
        self.sections = {name: Section(table) for name, table in values.items()}
        # [zones] and [policy] as one central.policy.rules.Policy (h-risk).
        self.containment = containment

    def __getattr__(self, name: str) -> Any:
        try:
            return self.sections[name]
        except KeyError:
            raise AttributeError(name) from None


def load_config(location: str | Path | None = None) -> CentralConfig:
    """Read and check `location` (a file, or None for /etc/iomt-central/central.toml).

    Raises ConfigError (exit 2) with every problem found: unreadable file, bad TOML,
    unknown sections and keys (with a did-you-mean), wrong types and ranges, files
    that must exist and do not.
    """
    path = Path(location) if location is not None else DEFAULT_CONFIG
    problems = Problems()
    try:
        document = tomllib.loads(path.read_text())
    except OSError as exc:
        raise ConfigError(
            [f"{path}: cannot read the configuration: {exc.strerror or exc}"], []
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{path}: not valid TOML: {exc}"], []) from None
    values: dict[str, dict[str, Any]] = {section: {} for section in SECTIONS}
    base = path.parent
    for section, table in document.items():
        if section in STRUCTURED_SECTIONS:
            continue
        if section not in BY_SECTION:
            problems.error(path, f"[{section}]", _unknown_section(section, table))
            continue
        if not isinstance(table, dict):
            problems.error(path, section, f"must be a section [{section}], not a value")
            continue
        for name, raw in table.items():
            option = BY_SECTION[section].get(name)
            if option is None:
                problems.error(path, f"{section}.{name}", _unknown_key(section, name))
                continue
            value, problem = check_value(option, raw, base)
            if problem:
                problems.error(path, option.dotted, problem)
            else:
                values[section][name] = value
    for option in OPTIONS:
        if option.name not in values[option.section]:
            value, problem = check_value(option, option.default, base)
            assert problem is None, f"default of {option.dotted}: {problem}"
            values[option.section][option.name] = value
    _check_files(path, values, problems)
    from central.policy.config import parse_containment
    from central.risk.settings import check_risk_sections

    containment = parse_containment(document, path, problems)
    check_risk_sections(path, values, problems)
    if problems.errors:
        raise ConfigError([str(p) for p in problems.errors], [str(p) for p in problems.warnings])
    return CentralConfig(path, values, containment)


def _check_files(path: Path, values: dict[str, dict[str, Any]], problems: Problems) -> None:
    mqtt = values["mqtt"]
    for key in ("ca_file", "cert_file", "key_file", "password_file"):
        if mqtt[key] is not None and not mqtt[key].is_file():
            problems.error(path, f"mqtt.{key}", f"{mqtt[key]} does not exist or is not a file")
    if (mqtt["cert_file"] is None) != (mqtt["key_file"] is None):
        problems.error(path, "mqtt.cert_file", "set cert_file and key_file together (mutual TLS)")
    if mqtt["password_file"] is not None and not mqtt["username"]:
        problems.error(path, "mqtt.username", "password_file is set, so a username is needed too")
    from central.web.settings import check_web_section

    check_web_section(path, values["web"], problems)
    trust = values["trust"]["dir"]
    if trust is None or not trust.is_dir():
        problems.error(path, "trust.dir", f"{trust} is not a directory of sensors' public keys")
    rule_files = values["classification"]["rules"]
    missing = [rules for rules in rule_files if not rules.is_file()]
    for rules in missing:
        problems.error(path, "classification.rules", f"{rules} does not exist")
    if not missing:
        from central.classify.ruleset import RulesError, load_ruleset

        try:
            load_ruleset(rule_files)
        except RulesError as exc:
            for line in exc.problems:
                problems.error(path, "classification.rules", line)


def _unknown_section(name: str, value: Any) -> str:
    close = difflib.get_close_matches(name, [*SECTIONS, *STRUCTURED_SECTIONS], n=1)
    if close:
        return f"unknown section; did you mean [{close[0]}]?"
    return f"unknown section; the sections are [{'], ['.join(SECTIONS)}]"


def _unknown_key(section: str, name: str) -> str:
    known = list(BY_SECTION[section])
    close = difflib.get_close_matches(name, known, n=1)
    if close:
        return f"unknown key; did you mean {section}.{close[0]}?"
    elsewhere = [s for s in SECTIONS if name in BY_SECTION[s]]
    if elsewhere:
        return f"unknown key in [{section}]; {name} belongs under [{elsewhere[0]}]"
    return f"unknown key; the keys of [{section}] are: {', '.join(known)}"
