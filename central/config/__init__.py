"""central.toml: one strict schema (schema.py), every error at once (loader.py)."""

from central.config.loader import CentralConfig, load_config

__all__ = ["CentralConfig", "load_config"]
