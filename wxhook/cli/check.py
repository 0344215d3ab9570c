"""`wxhook check-config`: validate the config and import every plugin, as `serve` would; with
--live, also write to the store and read it back, and run the plugins' startup and shutdown
hooks, so that what would fail at the first push fails here."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from ..config import Config
from ..router import Router, State
from .configfile import add_config_option, load, store_summary


class LiveCheckFailed(Exception):
    """--live found a part that does not work (the message says which)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `wxhook check-config`."""
    add_config_option(parser)
    parser.add_argument(
        "--live",
        action="store_true",
        help="also write to the store and read it back, and run the plugins' startup and "
        "shutdown hooks (exit 1 if either fails)",
    )
    parser.set_defaults(func=cmd_check_config)


def cmd_check_config(args: argparse.Namespace) -> int:
    """Validate the config and import every plugin, as `serve` would."""
    from ..plugins import load_plugins

    config = load(args)
    router = load_plugins(config.plugins.modules)
    handlers = sum(1 for _ in router.handlers())
    if args.live:
        try:
            asyncio.run(live_check(config, router))
        except LiveCheckFailed as exc:
            print(f"wxhook: {config.source}: {exc}", file=sys.stderr)
            return 1
    print(
        f"{config.source}: ok{' (live)' if args.live else ''} — {len(config.accounts)} "
        f"account(s), {len(config.plugins.modules)} plugin module(s), {handlers} handler(s), "
        f"store {store_summary(config.store)}"
    )
    return 0


async def live_check(config: Config, router: Router) -> None:
    """The store takes a write and returns it; every startup hook, then every shutdown hook,
    runs without raising."""
    from ..stores import StoreUnavailable, open_store

    store = open_store(config.store)
    key = f"wxhook:check-config:{os.urandom(8).hex()}"
    try:
        # A write, not only a ping: a read-only replica or a user without write rights answers
        # PING but would lose every dedup claim.
        async with asyncio.timeout(store.bound + 1.0):
            await store.values.set(key, b"ok", ttl=30.0)
            if await store.values.get(key) != b"ok":
                raise LiveCheckFailed(
                    f"store {store_summary(config.store)} did not return what was written"
                )
    except StoreUnavailable as exc:
        raise LiveCheckFailed(f"store unreachable: {exc}") from None
    except TimeoutError:
        raise LiveCheckFailed(
            f"store unreachable: no answer in time, tried {store_summary(config.store)}"
        ) from None
    finally:
        await store.close()
    state = State(config=config)
    for kind in ("startup", "shutdown"):
        for hook in router.hooks(kind):
            try:
                await hook(state)
            except Exception as exc:
                name = getattr(hook, "__qualname__", repr(hook))
                module = getattr(hook, "__module__", "?")
                raise LiveCheckFailed(
                    f"plugin {kind} hook {module}.{name} raised {type(exc).__name__}: {exc}"
                ) from None
