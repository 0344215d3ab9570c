"""`wxhook serve`: run the callback server, in this process or in workers sharing one port."""

from __future__ import annotations

import argparse
import asyncio
import logging
import multiprocessing
import os
import signal
import tempfile
from importlib.metadata import version
from types import FrameType

from ..config import Config, ConfigError
from ..logs import setup_logging
from ..stores import StoreUnavailable
from .configfile import add_config_option, load, store_summary

log = logging.getLogger("wxhook.cli")


class ListenError(Exception):
    """A listener could not be opened (the port is taken, the address is not this host's)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `wxhook serve`."""
    add_config_option(parser)
    parser.add_argument("--host", help="override server.host")
    parser.add_argument("--port", type=int, help="override server.port")
    parser.add_argument("--workers", type=int, help="override server.workers (SO_REUSEPORT)")
    parser.set_defaults(func=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the callback server."""
    config = load(args)
    if config.server.workers > 1:
        return serve_workers(config)
    serve_in_this_process(config)
    return 0


def probe_store(config: Config) -> None:
    """Say at start whether the store answers, naming the nodes tried; serve either way (a
    push is handled without dedup until the store answers)."""
    if config.store.topology == "memory":
        return
    from ..stores import open_store

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


def serve_in_this_process(config: Config) -> None:
    """One server until SIGTERM: the whole server, or one worker of several."""
    from ..loop import use_uvloop
    from ..server import create_app, serve

    setup_logging(config.log)
    try:
        uvloop = use_uvloop(config.server.event_loop)
    except RuntimeError as exc:  # "uvloop" asked for, not installed
        raise ConfigError(f"server.event_loop: {exc}") from None
    probe_store(config)
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


def serve_workers(config: Config) -> int:
    """server.workers processes on one port (SO_REUSEPORT); SIGTERM and SIGINT go to each."""
    metrics_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    owned = None
    if not metrics_dir:
        # The workers' metrics are merged from files in one directory the ops listener reads.
        owned = tempfile.TemporaryDirectory(prefix="wxhook-metrics-")
        metrics_dir = owned.name
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    setup_logging(config.log)
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(target=serve_in_this_process, args=(config,), name=f"wxhook-worker-{i}")
        for i in range(config.server.workers)
    ]
    for worker in workers:
        worker.start()
    log.info("started %d workers: %s", len(workers), ", ".join(str(w.pid) for w in workers))

    def forward(signum: int, frame: FrameType | None) -> None:
        for worker in workers:
            if worker.is_alive() and worker.pid is not None:
                os.kill(worker.pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    code = 0
    from prometheus_client import multiprocess

    for worker in workers:
        worker.join()
        if worker.pid is not None:
            multiprocess.mark_process_dead(worker.pid, metrics_dir)  # type: ignore[no-untyped-call]
        code = code or (worker.exitcode or 0)
    if owned is not None:
        owned.cleanup()
    return code
