"""`wxhook check-config`: validate the config and import every plugin, as `serve` would."""

from __future__ import annotations

import argparse

from .configfile import add_config_option, load, store_summary


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `wxhook check-config`."""
    add_config_option(parser)
    parser.set_defaults(func=cmd_check_config)


def cmd_check_config(args: argparse.Namespace) -> int:
    """Validate the config and import every plugin, as `serve` would."""
    from ..plugins import load_plugins

    config = load(args)
    router = load_plugins(config.plugins.modules)
    handlers = sum(1 for _ in router.handlers())
    print(
        f"{config.source}: ok — {len(config.accounts)} account(s), "
        f"{len(config.plugins.modules)} plugin module(s), {handlers} handler(s), "
        f"store {store_summary(config.store)}"
    )
    return 0
