"""The product's exceptions. Each maps to one exit code and one clear stderr line."""


class AgentError(Exception):
    """A failure a user can act on. `exit_code` follows the CLI contract."""

    exit_code = 1


class UsageError(AgentError):
    """Bad arguments, bad input files, bad configuration: exit 2."""

    exit_code = 2


class CaptureError(AgentError):
    """A capture could not be opened or read (runtime failure unless raised as usage)."""

    exit_code = 1
