"""The local web console at /console on the ops listener ([console] enabled = true): send any
push type to this server as WeChat would, watch every push it answers or refuses, and replay
failure records.

live.py keeps the last pushes (in memory only), access.py decides who may use the page,
masking.py what it may show, sending.py builds the pushes with wxhook.sender, views.py serves
it all with the static files in static/.
"""

from __future__ import annotations

import logging

from aiohttp import web

from ..config import Config
from ..dispatcher import Dispatcher
from ..stores import Store
from .access import refusal
from .live import LiveFeed
from .masking import is_loopback
from .views import ConsoleViews

log = logging.getLogger("wxhook.console")


def console_feed(config: Config) -> LiveFeed | None:
    """The live feed when the console is on and may be served; None otherwise (then no push
    builds anything for it)."""
    if refusal(config):
        return None
    return LiveFeed(config.console.history, show_contents=is_loopback(config.ops.host))


def add_console(
    ops: web.Application,
    config: Config,
    store: Store,
    dispatcher: Dispatcher,
    feed: LiveFeed | None,
) -> None:
    """The console's routes on the ops application; when it may not be served (see
    access.refusal), /console answers 403 with the reason, which is also logged."""
    if not config.console.enabled:
        return
    why = refusal(config)
    if why or feed is None:
        log.warning("console not served: %s", why or "no live feed")

        async def refused(request: web.Request) -> web.Response:
            return web.Response(status=403, text=f"console refused: {why}\n")

        ops.router.add_route("*", "/console{tail:.*}", refused)
        return
    ops.router.add_routes(ConsoleViews(config, store, dispatcher, feed).routes())

    async def close_streams(app: web.Application) -> None:
        feed.close()  # open event streams end, so the listener stops without waiting on them

    ops.on_shutdown.append(close_streams)
    where = f"http://{config.ops.host}:{config.ops.port}/console"
    log.info("console at %s%s", where, "" if is_loopback(config.ops.host) else " (token required)")


__all__ = ["LiveFeed", "add_console", "console_feed"]
