"""Where the installed agent looks for things by default (kept light: every command imports it)."""

from pathlib import Path

DEFAULT_CONFIG_DIR = Path("/etc/iomt-agent")
