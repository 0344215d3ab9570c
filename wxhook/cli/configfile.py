"""What every command takes from the config file: its path, the overrides given on the command
line, the account asked for, and the store described without credentials."""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import replace
from urllib.parse import urlsplit, urlunsplit

from ..config import AccountConfig, Config, ConfigError, StoreConfig, load_config

DEFAULT_CONFIG = "config.toml"


def add_config_option(parser: argparse.ArgumentParser) -> None:
    """--config PATH, and no server overrides unless the command adds them."""
    parser.add_argument(
        "--config",
        metavar="PATH",
        help=f"TOML config (default: $WXHOOK_CONFIG or ./{DEFAULT_CONFIG})",
    )
    parser.set_defaults(host=None, port=None, workers=None)


def config_path(given: str | None) -> str:
    """--config, else $WXHOOK_CONFIG, else ./config.toml."""
    return given or os.environ.get("WXHOOK_CONFIG") or DEFAULT_CONFIG


def load(args: argparse.Namespace) -> Config:
    """The validated config with --host, --port and --workers applied."""
    # Plugins are imported by module path; the working directory may hold them. Appended, so a
    # stray file there cannot shadow an installed package.
    if os.getcwd() not in sys.path:
        sys.path.append(os.getcwd())
    config = load_config(config_path(args.config))
    server = config.server
    overrides = {
        k: v
        for k, v in (("host", args.host), ("port", args.port), ("workers", args.workers))
        if v is not None
    }
    if overrides:
        config = replace(config, server=replace(server, **overrides))
    return config


def pick_account(config: Config, name: str | None) -> AccountConfig:
    """The account called `name`, or the first one when no name is given."""
    if not name:
        return config.accounts[0]
    accounts = {a.name: a for a in config.accounts}
    if name not in accounts:
        raise ConfigError(f"--account {name!r}: no such account ({', '.join(accounts)})")
    return accounts[name]


def redacted(url: str) -> str:
    """The store URL without credentials, for logs."""
    if url.startswith("memory://"):
        return url
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    query = "&".join(
        p for p in parts.query.split("&") if p and not p.lower().startswith("password=")
    )
    return urlunsplit((parts.scheme, host, parts.path, query, ""))


def store_summary(store: StoreConfig) -> str:
    """The store and its topology, without credentials, for logs."""
    if store.topology == "sentinel":
        return f"sentinels {', '.join(store.sentinels)} (service {store.sentinel_service!r})"
    if store.topology == "cluster":
        return f"cluster via {redacted(store.url)}"
    return redacted(store.url)
