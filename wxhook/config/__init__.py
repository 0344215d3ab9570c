"""Configuration: one TOML file, secrets from the environment, validated once at start.

sections.py holds the settings (one dataclass per TOML section), parsing.py reads the file into
them, environment.py applies what the environment sets, validation.py checks the rules.
"""

from __future__ import annotations

from .environment import DEMO_TOKEN, SECRET_FIELDS, env_name
from .errors import ConfigError
from .parsing import load_config, parse_config
from .sections import (
    AccountConfig,
    ApiConfig,
    Config,
    ConsoleConfig,
    DispatchConfig,
    LogConfig,
    MetricsConfig,
    OpsConfig,
    PluginsConfig,
    SecurityConfig,
    ServerConfig,
    StoreConfig,
)

__all__ = [
    "DEMO_TOKEN",
    "SECRET_FIELDS",
    "AccountConfig",
    "ApiConfig",
    "Config",
    "ConfigError",
    "ConsoleConfig",
    "DispatchConfig",
    "LogConfig",
    "MetricsConfig",
    "OpsConfig",
    "PluginsConfig",
    "SecurityConfig",
    "ServerConfig",
    "StoreConfig",
    "env_name",
    "load_config",
    "parse_config",
]
