"""Configuration: one typed schema (schema.py), found and read by load.py."""

from exporter.config.load import Config, load_config, with_overrides
from exporter.config.options import Options
from exporter.config.schema import FORMATS, ConfigError, Defaults, Publication

__all__ = [
    "FORMATS",
    "Config",
    "ConfigError",
    "Defaults",
    "Options",
    "Publication",
    "load_config",
    "with_overrides",
]
