"""`wxhook failures`: list failure records, or replay them through the handlers."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys

from ..config import Config
from .configfile import add_config_option, load

log = logging.getLogger("wxhook.cli")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `wxhook failures`."""
    add_config_option(parser)
    parser.add_argument(
        "action", nargs="?", choices=["list", "replay"], default="list", help="default: list"
    )
    parser.add_argument("ids", nargs="*", metavar="ID", help="record ids to replay")
    parser.add_argument("--all", action="store_true", help="replay every record")
    parser.add_argument(
        "--resend-unknown",
        action="store_true",
        help="replay: also resend late replies whose first send may have reached the user",
    )
    parser.add_argument("--limit", type=int, default=20, help="list: how many (newest first)")
    parser.add_argument("--traceback", action="store_true", help="list: include tracebacks")
    parser.set_defaults(func=cmd_failures)


def cmd_failures(args: argparse.Namespace) -> int:
    """List failure records, or replay them through the handlers and remove those that pass."""
    config = load(args)
    if config.store.topology == "memory":
        print(
            "wxhook: store.url is memory://: failure records live inside the running server "
            "process (an in-memory ring), where this command cannot reach them; use a Redis "
            "store (store.url or WXHOOK_STORE_URL) to list and replay them",
            file=sys.stderr,
        )
        return 2
    if args.action == "list":
        if args.ids or args.all:
            print("wxhook: failures list takes no ids; did you mean replay?", file=sys.stderr)
            return 2
        return asyncio.run(_list_failures(config, args.limit, args.traceback))
    if bool(args.ids) == args.all:
        print("wxhook: failures replay needs record ids, or --all", file=sys.stderr)
        return 2
    return asyncio.run(_replay_failures(config, args.ids, args.all, args.resend_unknown))


async def _list_failures(config: Config, limit: int, traceback: bool) -> int:
    import json

    from ..stores import open_store

    store = open_store(config.store)
    try:
        rows = await store.failures.recent(limit)
    finally:
        await store.close()
    for row in rows:
        if not traceback:
            row.pop("traceback", None)
        print(json.dumps(row, ensure_ascii=False))
    return 0


async def _replay_failures(
    config: Config, ids: list[str], every: bool, resend_unknown: bool
) -> int:
    from ..api import WeChatAPI
    from ..dispatch.rerun import replay_record
    from ..dispatcher import Dispatcher
    from ..metrics import Metrics
    from ..plugins import load_plugins
    from ..router import State
    from ..stores import open_store

    router = load_plugins(config.plugins.modules)
    store = open_store(config.store)
    state = State(config=config)
    metrics = Metrics()
    # Late replies that did not go out are sent again through the API.
    api = WeChatAPI.for_accounts(config.api, store.values, config.accounts, metrics=metrics)
    dispatcher = Dispatcher(
        router,
        store,
        metrics=metrics,
        background_timeout=config.dispatch.background_timeout,
        state=state,
        api=api,
        late_replies=frozenset(a.name for a in config.accounts if a.late_replies),
    )
    code = 0
    try:
        for hook in router.hooks("startup"):
            await hook(state)
        if every:
            records = await store.failures.recent(config.store.failures_max)
        else:
            records = []
            for failure_id in ids:
                record = await store.failures.get(failure_id)
                if record is None:
                    print(f"missing {failure_id}: no such failure record")
                    code = 2
                else:
                    records.append(record)
        owner = os.urandom(8).hex()
        for record in reversed(records) if every else records:  # oldest first
            done = await replay_record(
                store,
                dispatcher,
                record,
                resend_unknown=resend_unknown,
                owner=owner,
                lock_ttl=config.dispatch.background_timeout + 30,
            )
            print(done.line)
            if done.result in ("failed", "unremoved"):
                code = code or 1
    finally:
        for hook in router.hooks("shutdown"):
            try:
                await hook(state)
            except Exception:
                log.exception("a shutdown hook failed")
        if api is not None:
            await api.close()
        await store.close()
    return code
