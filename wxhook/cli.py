"""The `wxhook` command: serve, check-config, failures (list, replay), simulate, version."""

from __future__ import annotations

import argparse
import asyncio
import logging
import multiprocessing
import os
import signal
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import replace
from importlib.metadata import version
from pathlib import Path
from types import FrameType
from urllib.parse import urlsplit, urlunsplit

from .config import Config, ConfigError, StoreConfig, load_config
from .logs import setup_logging
from .stores import StoreUnavailable

log = logging.getLogger("wxhook.cli")
DEFAULT_CONFIG = "config.toml"


def _config_path(given: str | None) -> str:
    return given or os.environ.get("WXHOOK_CONFIG") or DEFAULT_CONFIG


def _load(args: argparse.Namespace) -> Config:
    # Plugins are imported by module path; the working directory may hold them. Appended, so a
    # stray file there cannot shadow an installed package.
    if os.getcwd() not in sys.path:
        sys.path.append(os.getcwd())
    config = load_config(_config_path(args.config))
    server = config.server
    overrides = {
        k: v
        for k, v in (("host", args.host), ("port", args.port), ("workers", args.workers))
        if v is not None
    }
    if overrides:
        config = replace(config, server=replace(server, **overrides))
    return config


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


def _probe_store(config: Config) -> None:
    """Say at start whether the store answers, naming the nodes tried; serve either way (a
    push is handled without dedup until the store answers)."""
    if config.store.topology == "memory":
        return
    from .stores import open_store

    async def probe() -> None:
        store = open_store(config.store)
        try:
            async with asyncio.timeout(store.bound + 1.0):
                await store.ping()
        finally:
            await store.close()

    try:
        asyncio.run(probe())
    except StoreUnavailable as exc:  # its message names the nodes tried
        log.warning("store unreachable at start, serving without dedup until it answers: %s", exc)
    except TimeoutError:
        log.warning(
            "store unreachable at start, serving without dedup until it answers: no answer "
            "in time, tried %s",
            store_summary(config.store),
        )


def _serve_one(config: Config) -> None:
    from .loop import use_uvloop
    from .server import create_app, serve

    setup_logging(config.log)
    try:
        uvloop = use_uvloop(config.server.event_loop)
    except RuntimeError as exc:  # "uvloop" asked for, not installed
        raise ConfigError(f"server.event_loop: {exc}") from None
    _probe_store(config)
    app = create_app(config)
    accounts = ", ".join(f"{a.name} ({a.mode}) at {a.path}" for a in config.accounts)
    ops = f"{config.ops.host}:{config.ops.port}" if config.ops.port else "off"
    log.info(
        "wxhook %s serving %s on %s:%d (ops listener %s), store %s, event loop %s",
        version("wxhook"),
        accounts,
        config.server.host,
        config.server.port,
        ops,
        store_summary(config.store),
        "uvloop" if uvloop else "asyncio",
    )
    try:
        asyncio.run(serve(config, app=app))
    except OSError as exc:  # a port taken, an address not on this host
        raise ListenError(f"cannot listen: {exc}") from None


class ListenError(Exception):
    """A listener could not be opened (the port is taken, the address is not this host's)."""


def _serve_workers(config: Config) -> int:
    mp_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    owned = None
    if not mp_dir:
        owned = tempfile.TemporaryDirectory(prefix="wxhook-metrics-")
        mp_dir = owned.name
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = mp_dir
    setup_logging(config.log)
    ctx = multiprocessing.get_context("spawn")
    procs = [
        ctx.Process(target=_serve_one, args=(config,), name=f"wxhook-worker-{i}")
        for i in range(config.server.workers)
    ]
    for p in procs:
        p.start()
    log.info("started %d workers: %s", len(procs), ", ".join(str(p.pid) for p in procs))

    def forward(signum: int, frame: FrameType | None) -> None:
        for p in procs:
            if p.is_alive() and p.pid is not None:
                os.kill(p.pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    code = 0
    from prometheus_client import multiprocess

    for p in procs:
        p.join()
        if p.pid is not None:
            multiprocess.mark_process_dead(p.pid, mp_dir)  # type: ignore[no-untyped-call]
        code = code or (p.exitcode or 0)
    if owned is not None:
        owned.cleanup()
    return code


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the callback server."""
    config = _load(args)
    if config.server.workers > 1:
        return _serve_workers(config)
    _serve_one(config)
    return 0


def cmd_check_config(args: argparse.Namespace) -> int:
    """Validate the config and import every plugin, as `serve` would."""
    from .plugins import load_plugins

    config = _load(args)
    router = load_plugins(config.plugins.modules)
    handlers = sum(1 for _ in router.handlers())
    print(
        f"{config.source}: ok — {len(config.accounts)} account(s), "
        f"{len(config.plugins.modules)} plugin module(s), {handlers} handler(s), "
        f"store {store_summary(config.store)}"
    )
    return 0


def cmd_failures(args: argparse.Namespace) -> int:
    """List failure records, or replay them through the handlers and remove those that pass."""
    config = _load(args)
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

    from .stores import open_store

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
    from .api import WeChatAPI
    from .dispatcher import Dispatcher
    from .metrics import Metrics
    from .plugins import load_plugins
    from .router import State
    from .stores import open_store

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
            failure_id = record["id"]
            # Two operators replaying at once must not run one record twice.
            lock = f"replay:{failure_id}"
            if not await store.values.lock(lock, owner, config.dispatch.background_timeout + 30):
                print(f"skipped {failure_id}: another replay of it is running")
                continue
            try:
                if await store.failures.get(failure_id) is None:
                    print(f"skipped {failure_id}: replayed by someone else meanwhile")
                    continue
                result = await dispatcher.replay(record, resend_unknown=resend_unknown)
                handlers = ",".join(result.handlers) or "(none matched)"
                if not result.ok:
                    print(f"failed {failure_id} {handlers}: {result.error}; record kept")
                    code = code or 1
                else:
                    try:
                        removed = await store.failures.remove(failure_id)
                    except StoreUnavailable as exc:
                        print(
                            f"ok {failure_id} {handlers}: handled, but the record could not be "
                            f"removed ({exc}): remove it before replaying again"
                        )
                        code = code or 1
                        continue
                    gone = "record removed" if removed else "the record was already gone"
                    print(f"ok {failure_id} {handlers}: handled, {gone}")
            finally:
                await store.values.unlock(lock, owner)
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


def cmd_simulate(args: argparse.Namespace) -> int:
    """Send WeChat's request for a push to a running server and print what came back."""
    import json
    import time
    import urllib.error
    import urllib.request
    from urllib.parse import urlencode

    from . import simulator

    config = _load(args)
    accounts = {a.name: a for a in config.accounts}
    account = accounts.get(args.account) if args.account else config.accounts[0]
    if account is None:
        raise ConfigError(f"--account {args.account!r}: no such account ({', '.join(accounts)})")
    keys = account.keys()
    base = args.url or f"http://127.0.0.1:{config.server.port}"
    if not base.startswith(("http://", "https://")):
        raise ConfigError(f"--url {base!r} must start with http:// or https://")
    data: bytes | None = None
    if args.kind == "verify":
        query = simulator.verification(keys, args.value or None)
    else:
        if args.kind == "text":
            doc = simulator.message(
                "text", user=args.user, Content=args.value, MsgId=str(time.time_ns())
            )
        elif args.kind == "event":
            fields = {"EventKey": args.key} if args.key is not None else {}
            doc = simulator.event(args.value, user=args.user, **fields)
        else:
            doc = Path(args.value).read_bytes()
        query, data = simulator.push(keys, doc)
    url = f"{base}{account.path}?{urlencode(query)}"
    request = urllib.request.Request(url, data=data)  # noqa: S310 - http(s) checked above
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - the user's URL
            status, body = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, body = exc.code, exc.read()
    if status != 200 or args.kind == "verify":
        print(f"{status} {body.decode('utf-8', 'replace').strip()}")
        return 0 if status == 200 else 1
    reply = simulator.open_reply(keys, body)
    print(f"{status} " + (json.dumps(reply, ensure_ascii=False) if reply else "(empty: no reply)"))
    return 0


def cmd_send(args: argparse.Namespace) -> int:
    """Send one push of any type to a running server, as WeChat would; print the answer."""
    from . import catalogue, sender
    from .core import AccountKeys, ProtocolError

    if args.list:
        print(sender.listing())
        return 0
    try:
        settings: dict[str, str] = {}
        path = host = ""
        port = 0
        if args.config or (args.token is None and args.url is None):
            config = _load(args)
            accounts = {a.name: a for a in config.accounts}
            account = accounts.get(args.account) if args.account else config.accounts[0]
            if account is None:
                raise ConfigError(
                    f"--account {args.account!r}: no such account ({', '.join(accounts)})"
                )
            settings = {"token": account.token, "app_id": account.app_id}
            settings |= {"encoding_aes_key": account.encoding_aes_key, "mode": account.mode}
            settings["original_id"] = account.original_id  # pushes addressed to the account
            host, port, path = config.server.host, config.server.port, account.path
        given = (("token", args.token), ("app_id", args.app_id), ("encoding_aes_key", args.aes_key))
        settings |= {k: v for k, v in given if v is not None}
        mode = (
            args.mode
            or settings.get("mode")
            or ("safe" if settings.get("encoding_aes_key") else "plain")
        )
        keys = AccountKeys.create(
            token=settings.get("token", ""),
            app_id=settings.get("app_id", ""),
            encoding_aes_key=settings.get("encoding_aes_key", ""),
            mode=mode,  # type: ignore[arg-type]
            original_id=settings.get("original_id", ""),
        )
        url = sender.callback_url(args.url, host=host, port=port, path=path)
        if (args.type is None) == (args.file is None):
            raise ValueError("give a push TYPE (see --list) or --file PATH")
        push = sender.build(
            keys,
            url,
            args.type,
            document=sender.read_document(args.file) if args.file else None,
            user=args.user or catalogue.DEFAULT_USER,
            fields=sender.parse_fields(args.field),
        )
        retry = args.retry or args.retry_delays is not None
        delays = sender.parse_delays(args.retry_delays or "5,10") if retry else ()
    except (LookupError, ValueError, ProtocolError) as exc:
        print(f"wxhook send: {exc}", file=sys.stderr)
        return 2
    if args.show_request:
        print(push.full_url())
        print(push.document.decode("utf-8", "replace"))
    try:
        sender.run(push, retry_delays=delays, wait=args.wait, timeout=args.timeout)
    except sender.SendError as exc:
        print(f"wxhook send: {exc}", file=sys.stderr)
        return 1
    return 0


def cmd_reference(args: argparse.Namespace) -> int:
    """Write (or check) the message and event reference generated from the registry."""
    from . import reference

    return reference.run(args)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (kept separate so the README's command list can be checked)."""
    parser = argparse.ArgumentParser(
        prog="wxhook", description="Callback server for WeChat Official Accounts."
    )
    parser.add_argument("--version", action="version", version=f"wxhook {version('wxhook')}")
    sub = parser.add_subparsers(dest="command", required=True)

    def with_config(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--config",
            metavar="PATH",
            help=f"TOML config (default: $WXHOOK_CONFIG or ./{DEFAULT_CONFIG})",
        )
        p.set_defaults(host=None, port=None, workers=None)

    serve = sub.add_parser("serve", help="run the callback server")
    with_config(serve)
    serve.add_argument("--host", help="override server.host")
    serve.add_argument("--port", type=int, help="override server.port")
    serve.add_argument("--workers", type=int, help="override server.workers (SO_REUSEPORT)")
    serve.set_defaults(func=cmd_serve)

    check = sub.add_parser("check-config", help="validate the config and plugins, then exit")
    with_config(check)
    check.set_defaults(func=cmd_check_config)

    failures = sub.add_parser(
        "failures", help="list failure records, or replay them through the handlers"
    )
    with_config(failures)
    failures.add_argument(
        "action", nargs="?", choices=["list", "replay"], default="list", help="default: list"
    )
    failures.add_argument("ids", nargs="*", metavar="ID", help="record ids to replay")
    failures.add_argument("--all", action="store_true", help="replay every record")
    failures.add_argument(
        "--resend-unknown",
        action="store_true",
        help="replay: also resend late replies whose first send may have reached the user",
    )
    failures.add_argument("--limit", type=int, default=20, help="list: how many (newest first)")
    failures.add_argument("--traceback", action="store_true", help="list: include tracebacks")
    failures.set_defaults(func=cmd_failures)

    simulate = sub.add_parser(
        "simulate", help="send a signed (and per the mode encrypted) push to a running server"
    )
    with_config(simulate)
    simulate.add_argument("--account", help="account name (default: the first)")
    simulate.add_argument("--url", help="base URL (default: http://127.0.0.1:<server.port>)")
    simulate.add_argument("--user", default="oSIMULATED_USER", help="the sender's OpenID")
    simulate.add_argument("--key", help="EventKey of an event")
    simulate.add_argument("kind", choices=["verify", "text", "event", "file"])
    simulate.add_argument(
        "value", nargs="?", default="", help="the text, the event name, or an XML file's path"
    )
    simulate.set_defaults(func=cmd_simulate)
    send = sub.add_parser(
        "send",
        help="send a push of any type (signed, encrypted per the mode) to a running server",
        description="Play WeChat: build a realistic push of TYPE, sign it (and encrypt it in "
        "compatible and safe mode), POST it, print the status, the time taken and the reply, "
        "decrypted. The account comes from --config (the server's file) or from --url/--token.",
    )
    send.add_argument(
        "type", nargs="?", metavar="TYPE", help="e.g. text, subscribe, CLICK, subscribe_scan"
    )
    send.add_argument("--list", action="store_true", help="list every TYPE and exit")
    with_config(send)
    send.add_argument("--account", help="account name in the config (default: the first)")
    send.add_argument(
        "--url", help="callback URL (default: from server.host/port and the account's path)"
    )
    send.add_argument("--token", help="the account's Token (overrides the config)")
    send.add_argument("--app-id", dest="app_id", help="the AppID (overrides the config)")
    send.add_argument("--aes-key", dest="aes_key", help="the EncodingAESKey (overrides the config)")
    send.add_argument(
        "--mode",
        choices=["plain", "compatible", "safe"],
        help="default: the account's, else safe with --aes-key, else plain",
    )
    send.add_argument(
        "--field",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="set an XML element (A/B for nested ones); repeatable",
    )
    send.add_argument(
        "--from",
        dest="user",
        default=None,
        metavar="OPENID",
        help="the sender's OpenID (FromUserName; default: an example OpenID)",
    )
    send.add_argument("--file", metavar="PATH", help="send this XML document instead of a TYPE")
    send.add_argument(
        "--retry",
        action="store_true",
        help="send the same request again after 5 s and 10 s, as WeChat retries",
    )
    send.add_argument(
        "--retry-delays",
        default=None,
        metavar="S,S",
        help="seconds before each retry (default 5,10); implies --retry",
    )
    send.add_argument(
        "--wait",
        type=float,
        default=0.0,
        metavar="S",
        help="keep trying to connect for S seconds (a server starting up)",
    )
    send.add_argument(
        "--timeout",
        type=float,
        default=10.0,
        metavar="S",
        help="seconds to wait for an answer (default 10)",
    )
    send.add_argument(
        "--show-request",
        action="store_true",
        help="print the signed URL and the plaintext push first",
    )
    send.set_defaults(func=cmd_send)
    ref = sub.add_parser(
        "reference", help="generate the message and event reference (docs/reference.md)"
    )
    from .reference import add_arguments

    add_arguments(ref)
    ref.set_defaults(func=cmd_reference)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `wxhook` console script and `python -m wxhook`."""
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except ConfigError as exc:
        print(f"wxhook: config error: {exc}", file=sys.stderr)
        return 2
    except StoreUnavailable as exc:
        print(f"wxhook: the store is unreachable: {exc}", file=sys.stderr)
        return 1
    except ListenError as exc:
        print(f"wxhook: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
