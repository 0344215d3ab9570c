"""`wxhook serve`: the callback listener and the ops listener, until SIGTERM or SIGINT, then
a graceful stop; what aiohttp logs about traffic that is not valid HTTP, counted and gated."""

from __future__ import annotations

import asyncio
import logging
import signal

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from ..config import Config
from ..logs import client_errors
from ..metrics import Metrics
from .app import METRICS, create_app, create_ops_app

log = logging.getLogger("wxhook.server")


class ClientErrorFilter(logging.Filter):
    """On aiohttp's server logger: a request that is not valid HTTP is the client's error,
    written as one WARNING line without traceback through the flood gate, and counted;
    anything else (a bug of ours) passes as logged, at the level the root logger lets through.

    aiohttp logs traffic that is not HTTP at all (TLS on the plain port, an invalid method
    on a first request) at DEBUG, so the logger is opened to DEBUG while this filter is on
    (`install`): those are counted too."""

    def __init__(self, metrics: Metrics) -> None:
        super().__init__()
        self.metrics = metrics
        self._logger = logging.getLogger("aiohttp.server")
        self._level = self._logger.level

    def install(self) -> None:
        """Put the filter on aiohttp's server logger."""
        self._level = self._logger.level
        self._logger.setLevel(logging.DEBUG)
        self._logger.addFilter(self)

    def remove(self) -> None:
        """Take it off again, with the logger's level as it was."""
        self._logger.removeFilter(self)
        self._logger.setLevel(self._level)

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if not isinstance(exc, HttpProcessingError):
            return record.levelno >= logging.getLogger().getEffectiveLevel()
        kind = type(exc).__name__
        self.metrics.child(self.metrics.http_errors, kind).inc()
        if not client_errors.allow(f"http:{kind}"):
            return False
        lines = exc.message.splitlines() if isinstance(exc.message, str) else []
        detail = lines[0][:200] if lines else kind
        record.msg, record.args = "malformed HTTP request refused: %s: %s", (kind, detail)
        record.exc_info, record.exc_text = None, None
        record.levelno, record.levelname = logging.WARNING, logging.getLevelName(logging.WARNING)
        return True


async def serve(config: Config, *, app: web.Application | None = None) -> None:
    """Run `wxhook serve` until SIGTERM or SIGINT: the callback listener on server.host/port,
    the ops listener on ops.host/port, then a graceful stop (requests in flight answered,
    background handlers drained within server.shutdown_grace)."""
    app = create_app(config) if app is None else app
    guard = ClientErrorFilter(app[METRICS])
    guard.install()
    # Requests in flight end by the dispatch deadline; the rest of shutdown_grace is for
    # background handlers (drained in the app's cleanup).
    runner = web.AppRunner(
        app,
        handle_signals=False,
        access_log=None,
        keepalive_timeout=config.server.keepalive_timeout,
        shutdown_timeout=config.dispatch.deadline + 0.5,
    )
    ops_runner: web.AppRunner | None = None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    # Each worker binds the same ports with SO_REUSEPORT; the kernel spreads connections.
    reuse_port = config.server.workers > 1
    try:
        await runner.setup()
        await web.TCPSite(
            runner, config.server.host, config.server.port, reuse_port=reuse_port
        ).start()
        if config.ops.port:
            ops_runner = web.AppRunner(
                create_ops_app(app), handle_signals=False, access_log=None, shutdown_timeout=1.0
            )
            await ops_runner.setup()
            await web.TCPSite(
                ops_runner, config.ops.host, config.ops.port, reuse_port=reuse_port
            ).start()
        await stop.wait()
        log.info("stopping: answering the requests in flight, then draining background work")
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
        await runner.cleanup()  # the callback listener first: readiness stays up meanwhile
        if ops_runner is not None:
            await ops_runner.cleanup()
        guard.remove()
