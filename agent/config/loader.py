"""Load a configuration: read the files, check everything, report all problems at once."""

from __future__ import annotations

import os
from pathlib import Path

from agent.config import host, rules, tls
from agent.config.model import AgentConfig, build
from agent.config.problems import ConfigError, Problems
from agent.config.schema import OPTIONS, check_value, format_value
from agent.config.sources import DEFAULT_CONFIG_DIR, SourceFiles, read_sources
from agent.config.values import Setting, Settings, merge


def _fill_defaults(settings: Settings, sources: SourceFiles, problems: Problems) -> None:
    """Add every unset key's default (attributed to the main file); report missing ones."""
    keys_with_errors = {problem.key for problem in problems.errors}
    for option in OPTIONS:
        key = (option.section, option.name)
        if key in settings:
            continue
        if option.required:
            # A main file that could not be read is already one error; its keys are not
            # missing, they are unread.
            reported = {option.dotted, f"[{option.section}]"} & keys_with_errors
            if not reported and sources.main in sources.paths:
                problems.error(
                    sources.main,
                    option.dotted,
                    f"required key is missing; add a line such as {option.name} = "
                    f"{format_value(option, option.default)} under [{option.section}]",
                )
            continue
        value, problem = check_value(option, option.default, sources.main.parent)
        assert problem is None, f"default of {option.dotted} fails its own check: {problem}"
        settings[key] = Setting(value, sources.main)


def load_config(
    location: str | Path | None = None, *, check_interfaces: bool = True
) -> AgentConfig:
    """Read, merge and validate the configuration at `location`.

    `location` is the `-c` argument: a directory (DIR/agent.toml, then DIR/agent.d/*.toml),
    a file (that file, then agent.d/ beside it), or None for /etc/iomt-agent.
    `check_interfaces=False` skips the check that capture interfaces exist (`replay`).

    Returns the AgentConfig (its `warnings` hold the non-fatal findings).
    Raises ConfigError (exit 2) listing every problem found, one line each naming the
    file and the key.
    """
    problems = Problems()
    sources = read_sources(location, problems)
    settings = merge(sources.tables, problems)
    _fill_defaults(settings, sources, problems)
    rules.check_broker(settings, problems)
    rules.check_placeholders(settings, problems)
    rules.check_topic_case(settings, problems)
    rules.check_optional_interfaces(settings, problems)
    host.check_files(settings, problems)
    tls.check_tls_files(settings, problems)
    host.check_bpf_filter(settings, problems)
    if check_interfaces:
        host.check_interfaces(settings, problems)
    service_config = sources.main.parent == DEFAULT_CONFIG_DIR
    host.check_spool(settings, problems, service_config)
    if service_config and os.geteuid() == 0:
        # Root reads everything; the service runs as its own user and does not.
        host.check_service_user_access(settings, problems, host.SERVICE_USER)

    # Grouped by file, in reading order, so a technician fixes one file at a time.
    order = {path: index for index, path in enumerate(sources.attempted)}
    by_file = sorted(problems.errors, key=lambda problem: order.get(problem.path, len(order)))
    warnings = [str(problem) for problem in problems.warnings]
    if by_file:
        raise ConfigError([str(problem) for problem in by_file], warnings)
    values = {key: setting.value for key, setting in settings.items()}
    return build(values, sources.paths, tuple(warnings))
