"""Reading the TOML file into the settings: every key checked against its section's fields and
typed as its default, the accounts' secrets and deployment settings taken from the environment,
then the whole validated."""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Mapping
from dataclasses import fields
from datetime import datetime
from pathlib import Path
from typing import Any

from .environment import SECRET_FIELDS, account_secrets, apply_environment
from .errors import ConfigError
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
from .validation import validate

SECTIONS = {
    "server": ServerConfig,
    "ops": OpsConfig,
    "dispatch": DispatchConfig,
    "store": StoreConfig,
    "security": SecurityConfig,
    "api": ApiConfig,
    "plugins": PluginsConfig,
    "log": LogConfig,
    "metrics": MetricsConfig,
    "console": ConsoleConfig,
}
# Settings that moved, and where to: named in the error instead of "not a setting".
MOVED_SETTINGS = {"server.max_timestamp_skew": "security.timestamp_tolerance"}
# Settings that are gone, and why: named in the error instead of "not a setting".
REMOVED_SETTINGS = {
    "server.http": "aiohttp is the only HTTP server now; delete the line",
}


def suggestion(key: str, known: list[str]) -> str:
    """The closest known key, or all of them: for an error about an unknown one."""
    close = difflib.get_close_matches(key, known, n=1)
    return f"did you mean {close[0]!r}?" if close else f"known keys: {', '.join(known)}"


def typed_value(where: str, value: Any, default: Any) -> Any:
    """`value` as the type of the setting's default (an int is a float where one is expected)."""
    expected = type(default)
    if expected is tuple:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            example = '["10.0.0.5:26379"]' if where.endswith("sentinels") else '["myplugins.menu"]'
            raise ConfigError(f"{where} must be a list of strings, e.g. {example}")
        return tuple(value)
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
        raise ConfigError(f"{where} must be {expected.__name__}, got {value!r}")
    return value


def parse_section(name: str, cls: type, data: Any) -> Any:
    """One [section] table into its dataclass; unknown, moved and removed keys are errors."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"[{name}] must be a table")
    known = {f.name: f for f in fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if f"{name}.{key}" in MOVED_SETTINGS:
            raise ConfigError(f"{name}.{key} has moved: write {MOVED_SETTINGS[name + '.' + key]}")
        if f"{name}.{key}" in REMOVED_SETTINGS:
            raise ConfigError(f"{name}.{key} was removed: {REMOVED_SETTINGS[name + '.' + key]}")
        if key not in known:
            raise ConfigError(f"{name}.{key} is not a setting: {suggestion(key, list(known))}")
        kwargs[key] = typed_value(f"{name}.{key}", value, getattr(cls(), key))
    return cls(**kwargs)


def parse_account(index: int, data: Any, env: Mapping[str, str]) -> AccountConfig:
    """One [[accounts]] table, with the secrets the environment sets for it."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"accounts[{index}] must be a table ([[accounts]])")
    known = [f.name for f in fields(AccountConfig)]
    for key in data:
        if key not in known:
            raise ConfigError(f"accounts[{index}].{key} is not a setting: {suggestion(key, known)}")
    for key in ("name", "path"):
        if not isinstance(data.get(key), str) or not data[key]:
            example = {"name": '"main"', "path": '"/wechat"'}[key]
            raise ConfigError(f"accounts[{index}].{key} is missing: add {key} = {example}")
    values = dict(data)
    for key in ("token", "app_id", "encoding_aes_key", "mode", "original_id", *SECRET_FIELDS):
        if not isinstance(values.get(key, ""), str):
            raise ConfigError(f"accounts[{index}].{key} must be a string")
    for key in ("require_encryption", "late_replies"):
        if not isinstance(values.get(key, False), bool):
            raise ConfigError(f"accounts[{index}].{key} must be true or false")
    if "previous_valid_until" in values:
        values["previous_valid_until"] = epoch_seconds(
            f"accounts[{index}].previous_valid_until", values["previous_valid_until"]
        )
    values |= account_secrets(values["name"], env)
    return AccountConfig(**values)


def epoch_seconds(where: str, value: Any) -> float:
    """A TOML date-time (or ISO 8601 string) with a UTC offset, as epoch seconds; "" is unset."""
    if value == "":
        return 0.0
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            value = None
    if not isinstance(value, datetime):
        raise ConfigError(f"{where} must be a date-time, e.g. 2026-12-01T00:00:00+08:00")
    if value.tzinfo is None:
        raise ConfigError(f"{where} needs a UTC offset, e.g. {value.isoformat()}+08:00")
    return value.timestamp()


def parse_config(
    data: Mapping[str, Any], *, env: Mapping[str, str] | None = None, source: str = "<dict>"
) -> Config:
    """Build and validate a Config from parsed TOML and the environment."""
    env = os.environ if env is None else env
    known = [*SECTIONS, "accounts"]
    kwargs: dict[str, Any] = {"source": source}
    for key, value in data.items():
        if key == "accounts":
            if not isinstance(value, list):
                raise ConfigError("accounts must be an array of tables: write [[accounts]]")
            kwargs["accounts"] = tuple(parse_account(i, a, env) for i, a in enumerate(value))
        elif key in SECTIONS:
            kwargs[key] = parse_section(key, SECTIONS[key], value)
        else:
            raise ConfigError(f"[{key}] is not a section: {suggestion(key, known)}")
    config = apply_environment(Config(**kwargs), env)
    validate(config)
    return config


def load_config(path: str | os.PathLike[str], *, env: Mapping[str, str] | None = None) -> Config:
    """Read a TOML file and validate it; every problem is one ConfigError line."""
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{p}: no such file (copy config.example.toml to start)") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: not valid TOML: {exc}") from None
    try:
        return parse_config(data, env=env, source=str(p))
    except ConfigError as exc:
        raise ConfigError(f"{p}: {exc}") from None
