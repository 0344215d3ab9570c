"""The console's routes on the ops listener: the page and its static files, the Send panel's
calls, the live feed (server-sent events), and the failure records with their replay."""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Awaitable, Callable
from importlib.resources import files
from typing import Any

from aiohttp import web

from ..config import Config
from ..dispatch.rerun import replay_record
from ..dispatcher import Dispatcher
from ..stores import Store, StoreUnavailable
from .access import COOKIE, HEADER, check, host_of
from .live import LiveFeed, view
from .masking import mask_record
from .sending import ConsoleSender, type_list

log = logging.getLogger("wxhook.console")

STATIC = {
    "index.html": "text/html",
    "app.js": "text/javascript",
    "app.css": "text/css",
}
# A quiet stream is kept open with a comment line this often (proxies close idle ones).
KEEPALIVE = 15.0
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _json(data: Any, status: int = 200) -> web.Response:
    text = json.dumps(data, ensure_ascii=False, default=str)
    return web.json_response(text=text, status=status, headers={"Cache-Control": "no-store"})


class ConsoleViews:
    """The views, sharing the running server's config, store, dispatcher and live feed."""

    def __init__(
        self, config: Config, store: Store, dispatcher: Dispatcher, feed: LiveFeed
    ) -> None:
        self.config = config
        self.store = store
        self.dispatcher = dispatcher
        self.feed = feed
        self.sender = ConsoleSender(config, feed)
        self._owner = os.urandom(8).hex()

    def routes(self) -> list[web.RouteDef]:
        """Every console route, each behind the access check."""
        g = self.guarded
        return [
            web.get("/console", g(self.page), allow_head=False),
            web.get("/console/", g(self.page), allow_head=False),
            web.get("/console/static/{name}", g(self.static), allow_head=False),
            web.get("/console/api/info", g(self.info), allow_head=False),
            web.post("/console/api/send", g(self.send)),
            web.post("/console/api/retry", g(self.retry)),
            web.post("/console/api/verify", g(self.verify)),
            web.get("/console/api/live", g(self.live), allow_head=False),
            web.get("/console/api/live/{id}", g(self.live_one), allow_head=False),
            web.get("/console/api/events", g(self.events), allow_head=False),
            web.get("/console/api/failures", g(self.failures), allow_head=False),
            web.post("/console/api/failures/{id}/replay", g(self.replay)),
        ]

    def guarded(self, handler: Handler) -> Handler:
        """`handler` behind the token check; POSTs only as JSON (a form of another site
        cannot send one without a CORS preflight, which the console never grants)."""

        async def view(request: web.Request) -> web.StreamResponse:
            verdict = check(
                self.config,
                host=host_of(request.headers),
                header=request.headers.get(HEADER),
                query=request.query.get("token"),
                cookie=request.cookies.get(COOKIE),
            )
            if verdict.status:
                return web.Response(status=verdict.status, text=verdict.why + "\n")
            if request.method == "POST" and request.content_type != "application/json":
                return web.Response(status=415, text="the console's calls are JSON\n")
            if verdict.set_cookie:
                # The token leaves the address bar; the cookie carries it, out of scripts' reach.
                response = web.Response(status=303, headers={"Location": request.path})
                response.set_cookie(
                    COOKIE,
                    self.config.console.token,
                    path="/console",
                    httponly=True,
                    samesite="Strict",
                )
                return response
            return await handler(request)

        return view

    async def _body(self, request: web.Request) -> dict[str, Any]:
        try:
            data = await request.json()
        except ValueError:
            raise web.HTTPBadRequest(text="the body is not JSON\n") from None
        if not isinstance(data, dict):
            raise web.HTTPBadRequest(text="the body must be a JSON object\n")
        return data

    # The page -------------------------------------------------------------------------------

    async def page(self, request: web.Request) -> web.Response:
        return self._file("index.html")

    async def static(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in STATIC:
            raise web.HTTPNotFound()
        return self._file(name)

    @staticmethod
    def _file(name: str) -> web.Response:
        body = files("wxhook.console").joinpath("static", name).read_bytes()
        return web.Response(
            body=body,
            content_type=STATIC[name],
            charset="utf-8",
            headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"},
        )

    async def info(self, request: web.Request) -> web.Response:
        return _json(
            {
                "accounts": self.sender.accounts(),
                "types": type_list(),
                "history": self.config.console.history,
                "show_contents": self.feed.show_contents,
            }
        )

    # Send -----------------------------------------------------------------------------------

    async def send(self, request: web.Request) -> web.Response:
        data = await self._body(request)
        fields = data.get("fields") or {}
        if not isinstance(fields, dict):
            return _json({"error": "fields must be an object"}, 400)
        try:
            out = await self.sender.send(
                str(data.get("account", "")),
                str(data.get("type", "")),
                {str(k): str(v) for k, v in fields.items()},
                str(data.get("mode", "")),
            )
        except (LookupError, ValueError) as exc:
            return _json({"error": str(exc).strip("'\"")}, 400)
        return _json(out)

    async def retry(self, request: web.Request) -> web.Response:
        data = await self._body(request)
        try:
            return _json(await self.sender.retry(int(data.get("id", 0))))
        except (LookupError, ValueError) as exc:
            return _json({"error": str(exc).strip("'\"")}, 404)

    async def verify(self, request: web.Request) -> web.Response:
        data = await self._body(request)
        try:
            return _json(await self.sender.verify(str(data.get("account", ""))))
        except LookupError as exc:
            return _json({"error": str(exc).strip("'\"")}, 400)

    # Live -----------------------------------------------------------------------------------

    async def live(self, request: web.Request) -> web.Response:
        return _json({"entries": self.feed.entries()[::-1]})

    async def live_one(self, request: web.Request) -> web.Response:
        try:
            entry = self.feed.get(int(request.match_info["id"]))
        except ValueError:
            entry = None
        if entry is None:
            return _json({"error": "no longer kept"}, 404)
        return _json(entry)

    async def events(self, request: web.Request) -> web.StreamResponse:
        """Server-sent events: each push kept, oldest first, then each one as it comes."""
        queue = self.feed.follow()
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-store",
                "X-Accel-Buffering": "no",
            }
        )
        try:
            await response.prepare(request)
            for entry in self.feed.entries():
                await response.write(_event(entry))
            while True:
                try:
                    async with asyncio.timeout(KEEPALIVE):
                        item = await queue.get()
                except TimeoutError:
                    await response.write(b": keepalive\n\n")
                    continue
                if item is None:  # shutdown, or the page fell behind: it reconnects
                    break
                await response.write(_event(view(item)))
        except ConnectionError:
            pass  # the page went away
        finally:
            self.feed.unfollow(queue)
        return response

    # Failures -------------------------------------------------------------------------------

    async def failures(self, request: web.Request) -> web.Response:
        show = self.feed.show_contents
        try:
            rows = await self.store.failures.recent(100)
        except StoreUnavailable as exc:
            return _json({"error": f"store unavailable: {exc}", "records": []}, 503)
        return _json({"records": [mask_record(r, show=show) for r in rows]})

    async def replay(self, request: web.Request) -> web.Response:
        """What `wxhook failures replay ID` does, in this server."""
        failure_id = request.match_info["id"]
        try:
            record = await self.store.failures.get(failure_id)
            if record is None:
                return _json({"result": "missing", "line": f"missing {failure_id}"}, 404)
            done = await replay_record(
                self.store,
                self.dispatcher,
                record,
                resend_unknown=False,
                owner=self._owner,
                lock_ttl=self.config.dispatch.background_timeout + 30,
            )
        except StoreUnavailable as exc:
            return _json({"result": "failed", "line": f"store unavailable: {exc}"}, 503)
        log.info("console: %s", done.line)
        return _json({"result": done.result, "line": done.line, "handlers": list(done.handlers)})


def _event(entry: dict[str, Any]) -> bytes:
    data = json.dumps(entry, ensure_ascii=False, default=str)
    return f"id: {entry['id']}\ndata: {data}\n\n".encode()
